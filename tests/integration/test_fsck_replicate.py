"""Corruption is found and repaired: checksums recorded at freeze time, ``fsck``,
incremental ``replicate`` and ``fsck --repair-from`` — on a local folder and on S3
(moto), with random byte flips and deletions of chunk and metadata objects."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import pluma
from pluma.cli import cli
from pluma.integrity import fsck, gc, load_manifests, replicate
from pluma.integrity.checksums import CHECKSUM_BRANCH, compute_manifest, snapshot_objects
from pluma.integrity.objects import ObjectStore, sha256
from tests.conftest import fill_cad, make_bucket, make_program, s3_options

QUICK_GATE = "phase: {phase}\napprovals: [{{role: chief_engineer}}]\n"


def pressure(seed: int = 0, n: int = 64) -> xr.Dataset:
    """A field big enough for real chunk objects (8 chunks of ~4 KB; Icechunk inlines < 512 B)."""
    values = np.random.default_rng(seed).normal(size=(n, n))
    return xr.Dataset({"cp": (("x", "y"), values)}).chunk({"x": 16, "y": 32})


def build(ws: pluma.Workspace) -> None:
    """AMPEL360 frozen twice (CAD, CAE), then worked on; ITAR program X57 frozen once in its enclave."""
    make_program(ws)
    ana, raj, pam = (ws.as_user(u).program("AMPEL360") for u in ("ana", "raj", "pam"))
    fill_cad(ana.context)
    ana.context.put_dataset("pressure", pressure())
    raj.gate().approve(role="chief_engineer")
    raj.advance(message="CAD")
    pam.set_gate("CAE", QUICK_GATE.format(phase="CAE"), reason="test")
    ds = pressure().load()
    ds["cp"][:16, :32] += 1.0  # one chunk changes
    ana.context.put_dataset("pressure", ds)
    ana.context.set_params(mtow=79000.0)
    raj.gate().approve(role="chief_engineer")
    raj.advance(message="CAE")
    ana.context.set_params(mtow=80000.0)  # the working context moves on
    ws.add_user("kim", itar_cleared=True)
    make_program(ws, "X57", classification="ITAR", members={"ana": ["engineer"], "raj": ["chief_engineer"],
                                                             "kim": ["program_manager"]})
    ws.set_user("ana", itar_cleared=True)
    ws.set_user("raj", itar_cleared=True)
    x_ana, x_raj = ws.as_user("ana").program("X57"), ws.as_user("raj").program("X57")
    fill_cad(x_ana.context)
    x_ana.context.put_dataset("pressure", pressure(seed=7))
    x_raj.gate().approve(role="chief_engineer")
    x_raj.advance(message="CAD")


def frozen_objects(ws: pluma.Workspace) -> dict[str, str]:
    """Every storage object a frozen context needs -> its kind, found independently of fsck:
    metadata objects from Icechunk, chunk objects by matching their bytes to the frozen keys."""
    from pluma.memory import Enclave

    store = ObjectStore.for_root(ws.root)
    out: dict[str, str] = {}
    for name in store.enclaves():
        enclave = Enclave(ws.root, name)
        key_hashes = set()
        for tag in enclave.tags("frozen/"):
            for obj in snapshot_objects(enclave.repo, enclave.lookup_tag(tag)):
                out[f"enclaves/{name}/{obj}"] = obj.split("/")[0]
            key_hashes |= {h for h, _ in load_manifests(enclave)[tag]["keys"].values()}
        for obj in store.enclave_objects(name):
            if obj.startswith("chunks/") and sha256(store.get(f"enclaves/{name}/{obj}")) in key_hashes:
                out[f"enclaves/{name}/{obj}"] = "chunks"
    return out


def damaged_key_hashes(ws, report) -> set[str]:
    """Recorded sha256 of every damaged chunk key of a report."""
    from pluma.memory import Enclave

    out = set()
    for d in report.damage:
        if d.expected:  # the sha256 recorded at freeze time for the damaged key
            out.add(d.expected)
        if d.kind == "chunk" and d.key and d.ref:
            manifest = load_manifests(Enclave(ws.root, d.enclave)).get(d.ref, {})
            if d.key in manifest.get("keys", {}):
                out.add(manifest["keys"][d.key][0])
    return out


def corrupt(store: ObjectStore, key: str, rng: random.Random) -> str:
    if rng.random() < 0.4:
        store.delete(key)
        return "delete"
    data = bytearray(store.get(key))
    for _ in range(rng.randint(1, 3)):
        data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    store.put(key, bytes(data))
    return "flip"


@pytest.fixture
def replica_uri(location, tmp_path, request):
    """(uri, options) of an empty replica on the same kind of storage as the workspace."""
    uri, options = location
    if options is None:
        return str(tmp_path / "replica"), None
    endpoint = options["endpoint_url"]
    return f"s3://{make_bucket(endpoint)}/replica", s3_options(endpoint)


def test_freeze_records_checksums_incrementally(local_ws):
    ws = local_ws()
    build(ws)
    enclave = ws.program("AMPEL360")._enclave
    manifests = load_manifests(enclave)
    cad, cae = (manifests[t] for t in enclave.tags("frozen/ampel360/"))
    assert cad["base"] is None and cae["base"] == cad["snapshot"]
    assert cae["hashed"] < len(cae["keys"])  # unchanged chunks were not read again
    full = compute_manifest(enclave, cae["tag"], cae["snapshot"])
    assert full["keys"] == cae["keys"] and full["objects"] == cae["objects"]
    assert any(k.startswith("data/pressure/cp/c/") for k in cae["keys"])
    x57 = ws.as_user("ana").program("X57")._enclave
    assert x57.name == "program-x57" and list(load_manifests(x57)) == x57.tags("frozen/")
    assert CHECKSUM_BRANCH not in {b for b in enclave.repo.list_branches() if b.startswith("programs/")}
    report = fsck(ws)
    assert report.ok, report.summary()
    assert (report.frozen_checked, report.recorded_late) == (3, [])
    assert report.keys_verified > 0 and report.objects_verified >= 3 * 3
    assert "clean" in report._repr_html_()


def test_random_corruption_is_detected_and_repaired(open_ws, replica_uri):
    ws = open_ws("admin")
    build(ws)
    uri, options = replica_uri
    first = replicate(ws, uri, storage_options=options)
    assert first.ok and first.copied > 0 and set(first.refs_updated) == {"default", "program-x57"}
    store = ObjectStore.for_root(ws.root)
    targets = frozen_objects(ws)
    assert {"chunks", "snapshots", "manifests", "transactions"} <= set(targets.values())
    originals = {k: store.get(k) for k in targets}
    rng = random.Random(20261129)
    injected = detected = repaired = direct = 0
    kinds = sorted(set(targets.values()))
    rounds = 4 if ws.root.is_local else 2  # S3 (moto) requests are slow: fewer rounds, same mix
    for round_ in range(rounds):
        # every round hits each kind of object at least once, plus random extra ones
        chosen = {rng.choice(sorted(k for k, v in targets.items() if v == kind)) for kind in kinds}
        chosen |= set(rng.sample(sorted(targets), 2))
        actions = {key: corrupt(store, key, rng) for key in sorted(chosen)}
        injected += len(actions)
        report = fsck(ws)
        assert not report.ok
        # detected: the object is named, or (a chunk hidden behind a damaged manifest or snapshot)
        # a damaged key is reported whose recorded bytes are exactly that object's
        named = set(report.damaged_objects) | {
            key for key in actions if targets[key] == "chunks" and sha256(originals[key]) in damaged_key_hashes(ws, report)}
        assert named >= set(actions), (round_, actions, report.summary())
        detected += len(set(actions) & named)
        direct += len(set(actions) & set(report.damaged_objects))
        fixed = fsck(ws, repair_from=uri, storage_options=options)
        assert fixed.ok, fixed.summary()
        assert set(fixed.repaired) >= set(actions)
        repaired += sum(store.try_get(key) == originals[key] for key in actions)
    assert injected == detected == repaired >= 6 * rounds
    print(f"\ncorruptions injected {injected}, detected {detected} ({direct} by object name, the rest as damaged keys "
          f"behind damaged metadata), repaired {repaired} ({ws.root.scheme})")
    # the workspace works as before
    assert ws.frozen("AMPEL360@CAD#1").dataset("pressure")["cp"].values[0, 0] == pressure()["cp"].values[0, 0]
    assert ws.as_user("ana").program("AMPEL360").context.params["mtow"] == 80000.0
    assert ws.as_user("ana").frozen("X57@CAD#1").params["span"] == pytest.approx(35.8)


def test_chunk_behind_a_snapshot_that_opens_garbled_is_found(local_ws, tmp_path):
    """A damaged snapshot can still decompress and open, with garbled node names (seen with random byte
    flips on S3): the recorded keys are then simply absent. The chunks behind them were never read, so
    a damaged one must still be looked for by its recorded bytes — and repaired."""
    import numcodecs

    from pluma.memory import Enclave

    ws = local_ws()
    build(ws)
    replica = str(tmp_path / "replica")
    replicate(ws, replica)
    store = ObjectStore.for_root(ws.root)
    enclave = Enclave(ws.root, "default")
    tag = enclave.tags("frozen/ampel360/")[0]
    snapshot = f"enclaves/default/snapshots/{enclave.lookup_tag(tag)}"
    raw = store.get(snapshot)
    start = raw.find(b"\x28\xb5\x2f\xfd")  # the zstd frame after Icechunk's header
    payload = bytes(numcodecs.Zstd().decode(raw[start:]))
    assert payload.count(b"/data/pressure") >= 1
    store.put(snapshot, raw[:start] + bytes(numcodecs.Zstd().encode(payload.replace(b"/data/", b"/dbta/"))))
    digest, _size = load_manifests(enclave)[tag]["keys"]["data/pressure/cp/c/0/0"]
    chunk = next(f"enclaves/default/{o}" for o in store.enclave_objects("default")
                 if o.startswith("chunks/") and sha256(store.get(f"enclaves/default/{o}")) == digest)
    original = store.get(chunk)
    store.put(chunk, original[:-1] + bytes([original[-1] ^ 0xFF]))
    report = fsck(ws)
    assert not report.ok and snapshot in report.damaged_objects
    hidden = [d for d in report.damage if d.kind == "chunk" and d.key == "data/pressure/cp/c/0/0"]
    assert hidden and hidden[0].expected == digest and "no chunk object holds the recorded bytes" in hidden[0].problem
    fixed = fsck(ws, repair_from=replica)
    assert fixed.ok, fixed.summary()
    assert store.get(chunk) == original and {snapshot, chunk} <= set(fixed.repaired)
    assert ws.frozen("AMPEL360@CAD#1").dataset("pressure")["cp"].values[0, 0] == pressure()["cp"].values[0, 0]


def test_damaged_refs_are_named_and_restored(local_ws, tmp_path):
    ws = local_ws()
    build(ws)
    replica = str(tmp_path / "replica")
    replicate(ws, replica)
    store = ObjectStore.for_root(ws.root)
    store.delete("enclaves/program-x57/repo")
    report = fsck(ws)
    assert not report.ok and "enclaves/program-x57/repo" in report.damaged_objects
    # replication refuses to spread a repository that does not open
    again = replicate(ws, replica)
    assert not again.ok and again.skipped[0]["object"] == "enclaves/program-x57/repo"
    fixed = fsck(ws, repair_from=replica)
    assert fixed.ok and "enclaves/program-x57/repo" in fixed.repaired
    assert ws.as_user("ana").frozen("X57@CAD#1").params["mtow"] == 78000.0


def test_replication_is_incremental_and_never_copies_damage(local_ws, tmp_path):
    ws = local_ws()
    build(ws)
    replica = str(tmp_path / "replica")
    first = replicate(ws, replica)
    assert replicate(ws, replica).copied == 0  # nothing new: nothing copied, refs unchanged
    # the replica is a workspace of its own
    copy = pluma.open(replica, user="admin", create=False)
    assert copy.frozen("AMPEL360@CAE#1").params["mtow"] == 79000.0
    ws.as_user("ana").program("AMPEL360").context.set_params(oew=43000.0)
    step = replicate(ws, replica)
    assert 0 < step.copied < first.copied / 4 and step.refs_updated == ["default"]
    # a chunk damaged at the source (same size) is never copied over the good replica copy
    store, rstore = ObjectStore.for_root(ws.root), ObjectStore.for_uri(replica)
    chunk = next(k for k in frozen_objects(ws) if "/chunks/" in k)
    good = store.get(chunk)
    store.put(chunk, bytes([good[0] ^ 0xFF]) + good[1:])
    checked = replicate(ws, replica, verify=True)
    assert [s["object"] for s in checked.skipped] == [chunk]
    assert rstore.get(chunk) == good
    # a new frozen context damaged before its first replication is not replicated
    raj = ws.as_user("raj").program("AMPEL360")
    ws.as_user("pam").program("AMPEL360").set_gate("CAI", QUICK_GATE.format(phase="CAI"), reason="test")
    raj.gate().approve(role="chief_engineer")
    frozen = raj.advance(message="CAI")
    snap = f"enclaves/default/snapshots/{frozen.id}"
    data = store.get(snap)
    store.put(snap, data[:-1] + bytes([data[-1] ^ 1]))
    later = replicate(ws, replica)
    assert snap in [s["object"] for s in later.skipped] and rstore.try_get(snap) is None
    with pytest.raises(pluma.InvalidInputError, match="workspace itself"):
        replicate(ws, str(ws.root.location))
    with pytest.raises(pluma.AccessDenied):
        replicate(ws.as_user("ana"), replica)


def test_freezes_from_before_checksums_are_recorded_by_fsck(local_ws):
    ws = local_ws()
    build(ws)
    for name in ("default", "program-x57"):
        ws._enclave(name).delete_branch(CHECKSUM_BRANCH)  # a workspace from before this feature
    report = fsck(ws)
    assert report.ok and sorted(report.recorded_late) == sorted(
        ws._enclave("default").tags("frozen/") + ws._enclave("program-x57").tags("frozen/"))
    assert all(m["late"] for m in load_manifests(ws._enclave("default")).values())
    assert fsck(ws).recorded_late == []


def test_cli_fsck_replicate_repair(local_ws, tmp_path):
    ws = local_ws()
    build(ws)
    home, replica = str(ws.root.location), str(tmp_path / "replica")
    run = CliRunner().invoke
    out = run(cli, ["--home", home, "--user", "admin", "replicate", "--to", replica, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["copied"] > 0
    out = run(cli, ["--home", home, "--user", "admin", "fsck"])
    assert out.exit_code == 0 and "clean" in out.output
    chunk = next(k for k in frozen_objects(ws) if "/chunks/" in k)
    ObjectStore.for_root(ws.root).delete(chunk)
    out = run(cli, ["--home", home, "--user", "admin", "fsck", "--json"])
    assert out.exit_code == 1
    body = json.loads(out.output)
    assert not body["ok"] and chunk in body["damaged_objects"]
    assert any(d["program"] == "AMPEL360" and d["key"].startswith("data/pressure/cp/c/") for d in body["damage"])
    out = run(cli, ["--home", home, "--user", "admin", "fsck", "--repair-from", replica])
    assert out.exit_code == 0, out.output
    assert chunk in out.output and "clean" in out.output
    out = run(cli, ["--home", home, "--user", "ana", "fsck"])
    assert out.exit_code == 3 and "admin" in out.output


def test_an_enclave_at_a_location_of_its_own(local_ws, tmp_path):
    ws = local_ws()
    vault = str(tmp_path / "vault")
    ws.add_user("carl", itar_cleared=True)
    ws.add_user("dora", itar_cleared=True)
    make_program(ws, "Kite", classification="ITAR", members={"carl": ["engineer"], "dora": ["chief_engineer"],
                                                             "pam": ["program_manager"]}, storage=vault)
    carl, dora = ws.as_user("carl").program("Kite"), ws.as_user("dora").program("Kite")
    fill_cad(carl.context)
    carl.context.put_dataset("pressure", pressure(seed=3))
    dora.gate().approve(role="chief_engineer")
    dora.advance(message="CAD")
    report = fsck(ws)
    assert report.ok and report.frozen_checked == 1 and "program-kite" in report.enclaves
    # the workspace's replica does not take the enclave's bytes; its own replica does
    home = replicate(ws, str(tmp_path / "replica"))
    assert "program-kite" not in home.enclaves and "storage location of its own" in home.skipped[0]["reason"]
    assert not any("program-kite" in k for k in ObjectStore.for_uri(str(tmp_path / "replica")).list(""))
    own = replicate(ws, str(tmp_path / "vault-replica"), enclaves=["program-kite"])
    assert own.ok and own.enclaves == ["program-kite"]
    store = ObjectStore.for_uri(vault)
    chunk = next(k for k in store.enclave_objects("program-kite") if k.startswith("chunks/"))
    store.delete(f"enclaves/program-kite/{chunk}")
    assert f"enclaves/program-kite/{chunk}" in fsck(ws).damaged_objects
    fixed = fsck(ws, repair_from=str(tmp_path / "vault-replica"), enclaves=["program-kite"])
    assert fixed.ok and fixed.repaired == [f"enclaves/program-kite/{chunk}"]
    assert gc(ws, "0s", grace="0s", apply=True).snapshots_expired > 0 and fsck(ws).ok
