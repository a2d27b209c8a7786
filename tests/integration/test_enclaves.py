"""ITAR enclaves: reading needs membership and clearance (admins included), ITAR data
never reaches a non-ITAR enclave — checked at the bytes level on local storage and on
S3 (moto) — and an ITAR enclave can live at a location (bucket) of its own.

The byte scan reads every stored object of a workspace and looks for marker values
in the raw bytes and inside every zstd frame (Icechunk compresses its snapshots,
manifests and transaction logs; Zarr compresses chunks), recursively. It is shown to
work by finding every marker in the ITAR enclave itself.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pluma
from pluma.context.diff import diff
from tests.conftest import CAD_PARAMS, fill_cad, make_bucket, make_program, s3_options

MARK_FLOAT = 1234.56789012345
MARK_TEXT = "ITAR-MARKER-7f3a"
MARK_ARTIFACT = b"ARTIFACT-MARKER-\xc0\xff\xee-5e1d"
MARKERS = {
    "float64 little-endian": struct.pack("<d", MARK_FLOAT),
    "float64 big-endian": struct.pack(">d", MARK_FLOAT),
    "float JSON repr": json.dumps(MARK_FLOAT).encode(),
    "text UTF-8": MARK_TEXT.encode(),
    "text UTF-16-LE": MARK_TEXT.encode("utf-16-le"),
    "text base64": base64.b64encode(MARK_TEXT.encode())[:16],
    "artifact bytes": MARK_ARTIFACT,
}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


# -- the byte scan -------------------------------------------------------------------------
def _zstd_frame_end(buf: bytes, start: int) -> int | None:
    """End offset of the zstd frame starting at ``start`` (parsed from its block headers)."""
    try:
        pos = start + 4
        fhd = buf[pos]
        pos += 1
        single, checksum, dict_flag, fcs_flag = fhd >> 5 & 1, fhd >> 2 & 1, fhd & 3, fhd >> 6
        pos += 0 if single else 1
        pos += (0, 1, 2, 4)[dict_flag]
        pos += (1 if single else 0, 2, 4, 8)[fcs_flag]
        while True:
            header = int.from_bytes(buf[pos:pos + 3], "little")
            pos += 3
            last, btype, size = header & 1, header >> 1 & 3, header >> 3
            if btype == 3:
                return None
            pos += 1 if btype == 1 else size
            if pos > len(buf):
                return None
            if last:
                return pos + (4 if checksum else 0)
    except IndexError:
        return None


def decoded_views(data: bytes, depth: int = 0) -> list[bytes]:
    """``data`` and the decompressed content of every zstd frame in it (recursively)."""
    from numcodecs import Zstd

    views = [data]
    if depth > 3:
        return views
    at = data.find(ZSTD_MAGIC)
    while at != -1:
        end = _zstd_frame_end(data, at)
        if end is not None:
            try:
                inner = bytes(Zstd().decode(data[at:end]))
            except Exception:  # a magic number by chance inside other bytes
                inner = None
            if inner:
                views.extend(decoded_views(inner, depth + 1))
        at = data.find(ZSTD_MAGIC, at + 1)
    return views


def markers_in(data: bytes) -> set[str]:
    views = decoded_views(data)
    return {name for name, marker in MARKERS.items() if any(marker in v for v in views)}


def stored_objects(uri: str, options: dict | None) -> dict[str, bytes]:
    """Every stored object under a workspace root (or enclave location): relative key -> bytes."""
    if not uri.startswith("s3://"):
        root = Path(uri)
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    import boto3

    bucket, _, prefix = uri[len("s3://"):].partition("/")
    s3 = boto3.client("s3", endpoint_url=options["endpoint_url"], region_name="us-east-1",
                      aws_access_key_id=options["access_key_id"], aws_secret_access_key=options["secret_access_key"])
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"][len(prefix):].lstrip("/")
            out[key] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return out


def scan(objects: dict[str, bytes]) -> dict[str, set[str]]:
    return {key: found for key, data in objects.items() if (found := markers_in(data))}


def in_enclave(key: str, enclave: str) -> bool:
    return key.startswith(f"enclaves/{enclave}/") or key == f"locks/{enclave}.lock"


# -- the scenario --------------------------------------------------------------------------
def _marker_field() -> xr.Dataset:
    values = np.full((64, 16), MARK_FLOAT)
    values[::7] = -MARK_FLOAT
    return xr.Dataset({"pressure": (("x", "case"), values, {"units": "Pa"})}, coords={"x": np.arange(64)})


def _populate(open_ws):
    admin = open_ws("admin")
    for name, cleared in (("carl", True), ("rita", True), ("pam", True), ("dana", True), ("ana", False)):
        admin.add_user(name, itar_cleared=cleared)
    admin.set_user("dana", admin=True)
    members = {"carl": ["engineer"], "rita": ["chief_engineer"], "pam": ["program_manager"],
               "dana": ["viewer"], "ana": ["engineer"]}
    hawk_by_admin = make_program(admin, "Hawk", classification="ITAR", members=members)
    make_program(admin, "Dove", classification="EAR99", members=members)

    carl = open_ws("carl").program("Hawk")
    open_ws("pam").program("Hawk").declare_params({
        "secret_margin": {"type": "float", "unit": "m", "description": "a marker value"},
        "secret_code": {"type": "str"},
    })
    fill_cad(carl.context)
    carl.context.set_params(secret_margin=MARK_FLOAT, secret_code=MARK_TEXT, message="markers")
    carl.context.put_dataset("marker_field", _marker_field())
    carl.context.attach("marker_sheet", MARK_ARTIFACT * 4)
    rita = open_ws("rita").program("Hawk")
    rita.gate().approve()
    hawk_cad = rita.advance(message="Hawk CAD gate")

    dove = open_ws("carl").program("Dove")
    fill_cad(dove.context)
    open_ws("rita").program("Dove").gate().approve()
    dove_cad = open_ws("rita").program("Dove").advance(message="Dove CAD gate")
    return hawk_by_admin, hawk_cad, dove_cad


@pytest.fixture
def scenario(open_ws, location, tmp_path):
    hawk_by_admin, hawk_cad, dove_cad = _populate(open_ws)
    return {"hawk_by_admin": hawk_by_admin, "hawk_cad": hawk_cad, "dove_cad": dove_cad, "uri": location[0],
            "options": location[1], "out": tmp_path / "out"}


def test_itar_reads_need_membership_and_clearance_everywhere(open_ws, scenario):
    admin, ana, carl, outsider = open_ws("admin"), open_ws("ana"), open_ws("carl"), open_ws("zed")
    hawk_by_admin = scenario["hawk_by_admin"]
    # membership without clearance, admin without membership, an outsider: refused, saying why
    with pytest.raises(pluma.AccessDenied, match="no ITAR clearance.*itar_cleared=True"):
        ana.program("Hawk")
    with pytest.raises(pluma.AccessDenied, match="admins included.*not a member"):
        admin.program("Hawk")
    with pytest.raises(pluma.AccessDenied, match="not a member"):
        outsider.program("Hawk")
    for read in (lambda p: p.info, lambda p: p.context, lambda p: p.history(), lambda p: p.events(),
                 lambda p: p.frozen("CAD#1"), lambda p: p.gate().evaluate(), lambda p: p.param_specs(),
                 lambda p: p.capacity_requests()):
        with pytest.raises(pluma.AccessDenied, match="ITAR"):
            read(hawk_by_admin)  # the handle create_program gave the (uncleared) admin
    with pytest.raises(pluma.AccessDenied, match="ITAR"):
        hawk_by_admin.advance()
    for ws in (admin, ana):
        assert [p.name for p in ws.programs()] == ["Dove"]
        assert "Hawk" in ws.program_names()  # the name is registry metadata (allowed in the default enclave)
        with pytest.raises(pluma.AccessDenied, match="ITAR"):
            ws.frozen("Hawk@CAD#1")
        with pytest.raises(pluma.AccessDenied, match="ITAR"):
            ws.frozen(scenario["hawk_cad"].id)  # by id, too
        rows = ws.query(params=["secret_margin", "span"])
        assert list(rows["program"]) == ["Dove"] and rows["secret_margin"].isna().all()
        assert len(ws.query(where="secret_margin > 1000")) == 0
        assert "secret_margin" not in ws.query(params=["secret_margin"]).attrs["units"]
    # writes by an uncleared member are refused too, and change nothing
    tip = carl.program("Hawk")._enclave.tip("programs/hawk")
    with pytest.raises(pluma.AccessDenied, match="no ITAR clearance"):
        pluma.Program(ana, "Hawk", ana._program_entry("Hawk")).context.set_params(span=40.0)
    assert carl.program("Hawk")._enclave.tip("programs/hawk") == tip
    # a cleared member reads everything
    hawk = carl.program("Hawk")
    assert hawk.context.params["secret_code"] == MARK_TEXT
    assert carl.frozen("Hawk@CAD#1").params["secret_margin"] == MARK_FLOAT
    assert set(carl.query(params=["secret_margin"])["program"]) == {"Hawk", "Dove"}
    # clearance withdrawn: refused again at once
    admin.set_user("carl", itar_cleared=False)
    with pytest.raises(pluma.AccessDenied, match="no ITAR clearance"):
        open_ws("carl").program("Hawk")
    assert list(open_ws("carl").query()["program"]) == ["Dove"]


def test_kpis_and_catalog_leave_itar_out(open_ws, scenario):
    from pluma.catalog import export_catalog
    from pluma.kpis import kpis

    out = scenario["out"]
    out.mkdir()
    assert kpis(open_ws("admin"), query_probes=2)["ptr"].value == 1.0
    assert kpis(open_ws("dana"), query_probes=2)["ptr"].value == 2.0  # admin, member and cleared
    export_catalog(open_ws("admin"), out / "admin.yaml")
    text = (out / "admin.yaml").read_text()
    assert "dove_cad_1_mass_breakdown" in text and "hawk" not in text.lower()
    export_catalog(open_ws("dana"), out / "dana.yaml")
    assert "hawk_cad_1_marker_field" in (out / "dana.yaml").read_text()
    assert not markers_in((out / "dana.yaml").read_bytes())  # names and refs, never values


def test_clone_and_diff_across_the_itar_boundary(open_ws, scenario):
    dana = open_ws("dana")  # admin, member (viewer) and cleared: may read both sides
    hawk_cad, dove_cad = dana.frozen("Hawk@CAD#1"), dana.frozen("Dove@CAD#1")
    for a, b in ((hawk_cad, dove_cad), (dove_cad, hawk_cad), (hawk_cad, dana.program("Dove").context)):
        with pytest.raises(pluma.AccessDenied, match="beside.*federation"):
            diff(a, b)
    with pytest.raises(pluma.AccessDenied, match="never leaves its enclave.*classification='ITAR'"):
        hawk_cad.clone("Leak", classification="EAR99")
    with pytest.raises(pluma.StateError, match="ITAR"):
        dove_cad.clone("Upgrade", classification="ITAR")
    assert set(dana.program_names()) == {"Hawk", "Dove"}
    # an ITAR clone gets an enclave of its own (its objects copied, nothing shared)
    twin = hawk_cad.clone("HawkTwin", overrides={"span": 36.5})
    assert twin._enclave.name == "program-hawktwin" and twin.info["classification"] == "ITAR"
    assert twin.context.params["secret_margin"] == MARK_FLOAT and twin.context.params["span"] == 36.5
    np.testing.assert_array_equal(twin.context.dataset("marker_field")["pressure"].values,
                                  _marker_field()["pressure"].values)
    assert twin.context.artifact("marker_sheet") == MARK_ARTIFACT * 4
    assert twin.origin["ref"] == "Hawk@CAD#1" and twin.phase is pluma.Phase.CAD
    d = diff(hawk_cad, twin.context)  # ITAR beside ITAR, for someone cleared for both
    assert d.params["changed"]["span"]["new"] == 36.5
    assert open_ws("carl").program("HawkTwin").context.params["secret_code"] == MARK_TEXT  # members carried over
    with pytest.raises(pluma.AccessDenied, match="ITAR"):
        open_ws("admin").program("HawkTwin")


def test_nothing_of_an_itar_program_reaches_another_enclave(open_ws, scenario):
    from pluma.catalog import export_catalog
    from pluma.kpis import kpis

    uri, options = scenario["uri"], scenario["options"]
    admin, dana, carl = open_ws("admin"), open_ws("dana"), open_ws("carl")
    # every other operation that touches both enclaves, refused ones included
    hawk_cad, dove_cad = dana.frozen("Hawk@CAD#1"), dana.frozen("Dove@CAD#1")
    for attempt in (lambda: diff(hawk_cad, dove_cad), lambda: hawk_cad.clone("Leak", classification="PUBLIC"),
                    lambda: dove_cad.clone("Up", classification="ITAR"), lambda: admin.program("Hawk"),
                    lambda: scenario["hawk_by_admin"].context.set_params(secret_margin=1.0)):
        with pytest.raises(pluma.PlumaError):
            attempt()
    hawk_cad.clone("HawkTwin", overrides={"secret_code": MARK_TEXT + "-twin"})
    dana.query(where="secret_margin > 1000", params=["secret_margin", "secret_code"])
    carl.query(params=["secret_margin"])
    admin.query(where="span > 1")
    kpis(dana, query_probes=2)
    scenario["out"].mkdir()
    export_catalog(dana, scenario["out"] / "cat.yaml")
    dana.reindex()
    open_ws("pam").program("Hawk").set_member("ana", ["viewer"])
    dove = carl.program("Dove")
    dove.context.set_params(span=36.1)

    objects = stored_objects(uri, options)
    itar = ("program-hawk", "program-hawktwin")
    found = scan(objects)
    outside = {k: v for k, v in found.items() if not any(in_enclave(k, e) for e in itar)}
    assert outside == {}, f"ITAR marker bytes outside the ITAR enclaves: {outside}"
    # the scan works: every marker is found in the ITAR enclave (so its absence elsewhere means something)
    for enclave in itar:
        seen = set().union(*(v for k, v in found.items() if in_enclave(k, enclave)))
        assert seen >= {"float64 little-endian", "float JSON repr", "text UTF-8", "artifact bytes"}, (enclave, seen)
    assert sum(1 for k in objects if k.startswith("enclaves/default/")) > 10  # the default enclave was scanned
    # what the default enclave may hold about an ITAR program: registry metadata only
    entry = admin._registry_doc("programs")["hawk"]
    assert set(entry) <= {"name", "enclave", "branch", "created", "created_by", "classification", "members", "storage"}
    events = [e for e in admin.events() if e.get("name") == "Hawk"]
    assert events and all(set(e) <= {"time", "user", "kind", "name", "classification", "origin"} for e in events)


def test_itar_enclave_at_a_location_of_its_own(open_ws, location, tmp_path, monkeypatch, moto_server):
    uri, options = location
    admin = open_ws("admin")
    admin.add_user("carl", itar_cleared=True)
    if options is None:
        vault = str(tmp_path / "vault")
        vault_options = None
    else:  # another bucket, with its own credentials taken from the environment
        vault = f"s3://{make_bucket(moto_server)}/itar"
        vault_options = {**s3_options(moto_server), "access_key_id": "enclave-key-9d1e",
                         "secret_access_key": "enclave-secret-4b7c"}
        monkeypatch.setenv("PLUMA_ENCLAVE_PROGRAM_KITE_OPTIONS", json.dumps(vault_options))
    with pytest.raises(pluma.InvalidInputError, match="ITAR"):
        admin.create_program("Plain", classification="EAR", storage=vault)
    with pytest.raises(pluma.InvalidInputError):
        admin.create_program("Kite2", classification="ITAR", storage="ftp://nowhere/x")
    make_program(admin, "Kite", classification="ITAR", members={"carl": ["engineer", "chief_engineer"],
                                                                 "pam": ["program_manager"]}, storage=vault)
    assert admin._registry_doc("programs")["kite"]["storage"] == vault
    carl = open_ws("carl").program("Kite")  # another opener finds the enclave from the registry
    fill_cad(carl.context)
    assert open_ws("carl").program("Kite").context.params["span"] == CAD_PARAMS["span"]
    vault_objects = stored_objects(vault, vault_options)
    assert any(k.startswith("enclaves/program-kite/") for k in vault_objects)
    home_objects = stored_objects(uri, options)
    assert not any(k.startswith("enclaves/program-kite/") for k in home_objects)
    everything = b"".join(v for views in map(decoded_views, home_objects.values()) for v in views)
    assert b"enclave-secret-4b7c" not in everything and b"enclave-key-9d1e" not in everything
