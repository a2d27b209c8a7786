"""Property: for random contexts with random labels and random rules, no byte of a
denied item ever reaches the receiver's storage (its files and every object of
every snapshot are scanned for the item's marker), and every allowed item
arrives intact. The decision itself is checked against a small independent
oracle of the rule semantics (a deny beats an allow, deny by default)."""

from __future__ import annotations

import fnmatch
import itertools
import os
import uuid
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pluma
from pluma.federation.bundle import read_raw

from .conftest import LEVELS, Org, new_program

KINDS = ["param", "dataset", "artifact"]
NAMES = {"param": ["alpha", "beta", "gamma"], "dataset": ["loads", "mesh"], "artifact": ["report", "notes"]}
_counter = itertools.count()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("fed-property")
    prime, supplier = Org(root, "prime"), Org(root, "supplier")
    prime.fed.add_peer("supplier", url=supplier.url, key=supplier.fed.public_key, rules={})
    supplier.fed.add_peer("prime", url=prime.url, key=prime.fed.public_key,
                          rules={"import": [{"name": "all", "allow": {"classifications": LEVELS}}]})
    yield prime, supplier
    prime.stop()
    supplier.stop()


items_strategy = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 2), st.sampled_from(LEVELS)),
    min_size=1, max_size=5, unique_by=lambda t: (t[0], t[1] % len(NAMES[t[0]])),
)
matcher = st.fixed_dictionaries({}, optional={
    "classifications": st.lists(st.sampled_from(LEVELS), min_size=1, max_size=3, unique=True),
    "kinds": st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True),
    "items": st.lists(st.sampled_from(["*", "a*", "*s", "loads", "report", "beta", "m*"]), min_size=1, max_size=2),
})
rules_strategy = st.lists(st.tuples(st.sampled_from(["allow", "deny"]), matcher), max_size=4)


def oracle(rules, kind: str, name: str, label: str) -> bool:
    """Independent reading of the rule semantics: any matching deny wins, else any allow, else deny."""
    def matches(m):
        return ((("classifications" not in m) or label in m["classifications"])
                and (("kinds" not in m) or kind in m["kinds"])
                and (("items" not in m) or any(fnmatch.fnmatchcase(name, g) for g in m["items"])))
    if any(effect == "deny" and matches(m) for effect, m in rules):
        return False
    return any(effect == "allow" and matches(m) for effect, m in rules)


def scan(org: Org, markers: dict[str, bytes]) -> set[str]:
    """Markers found at ``org``: in any file under its root (enclaves, staging, config),
    and in any object of any branch or tag of any of its enclaves (decoded by Icechunk)."""
    found = set()
    for folder, _, files in os.walk(org.root):
        for f in files:
            data = Path(folder, f).read_bytes()
            found |= {k for k, m in markers.items() if m in data}
    for enclave_name in os.listdir(org.root / "enclaves"):
        enclave = org.ws._enclave(enclave_name)
        refs = [("branch", b) for b in enclave.branches()] + [("tag", t) for t in enclave.tags()]
        for kind, ref in refs:
            snap = enclave.snapshot(**{kind: ref})
            keys = snap.keys("")
            for raw in read_raw(snap.store, keys):
                if raw:
                    found |= {k for k, m in markers.items() if m in raw}
    return found


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=items_strategy, rules=rules_strategy)
def test_denied_bytes_never_reach_the_receiver_and_allowed_items_arrive_intact(pair, items, rules):
    prime, supplier = pair
    n = next(_counter)
    name = f"P{n}"
    prog = new_program(prime, name, "EAR", phases=("CAD",))
    prog.declare_params({p: {"type": "str"} for p in NAMES["param"]})
    markers: dict[str, bytes] = {}
    expected: dict[str, tuple[str, str, object]] = {}
    ctx = prog.context
    for kind, i, label in items:
        item = NAMES[kind][i % len(NAMES[kind])]
        marker = f"MRK{uuid.uuid4().hex}".encode()
        markers[item] = marker
        if kind == "param":
            ctx.set_params(label=label, **{item: marker.decode()})
            value: object = marker.decode()
        elif kind == "dataset":
            data = np.frombuffer(marker * 40, dtype=np.uint8)
            ds = xr.Dataset({"v": (("x",), data)})
            ds["v"].encoding["compressors"] = None  # raw bytes on disk: the file scan can see them
            ctx.put_dataset(item, ds, label=label)
            value = data
        else:
            value = marker * 40
            ctx.attach(item, value, label=label)
        expected[item] = (kind, label, value)
    fc = prog.advance("random")
    rule_doc = {"export": [{"name": f"r{i}", effect: m} for i, (effect, m) in enumerate(rules)]}
    prime.fed.add_peer("supplier", url=supplier.url, key=supplier.fed.public_key, rules=rule_doc, replace=True)

    decisions = {r["name"]: r["allowed"] for r in prime.fed.explain(fc, to="supplier").rows}
    assert decisions == {item: oracle(rules, kind, item, label) for item, (kind, label, _) in expected.items()}

    allowed = [item for item, ok in decisions.items() if ok]
    if allowed:
        assert prime.fed.push(fc, to="supplier").status == "imported"
    else:
        with pytest.raises(pluma.AccessDenied, match="allow no item"):
            prime.fed.push(fc, to="supplier")

    # the scan sees every allowed marker (so it would see a denied one), and no denied one
    assert scan(supplier, markers) == set(allowed)

    if allowed:
        got = supplier.ws.frozen(f"prime--{name}@CAD")
        assert sorted(list(got.params) + got.datasets + got.artifacts) == sorted(allowed)
        for item in allowed:
            kind, label, value = expected[item]
            if kind == "param":
                assert got.params[item] == value and got.params.info(item).label == label
            elif kind == "dataset":
                np.testing.assert_array_equal(got.dataset(item)["v"].values, value)
            else:
                assert got.artifact(item) == value and got.artifact_info(item)["label"] == label
