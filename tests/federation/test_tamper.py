"""Tampered, truncated, replayed, stale, unsigned or wrongly signed bundles are
refused with a clear reason, and nothing of them is left at the receiver."""

from __future__ import annotations

import base64
import copy
import json
from datetime import datetime, timedelta, timezone

import pytest

from pluma.federation import BundleRefused
from pluma.federation.auth import AuthError
from pluma.federation.bundle import build_bundle, sign_manifest
from pluma.federation.client import HttpPeer

from .conftest import Org, connect, frozen_program


@pytest.fixture
def pair(orgs):
    prime, supplier = orgs("prime", "supplier")
    connect(prime, supplier)
    _, fc = frozen_program(prime)
    return prime, supplier, fc


def fresh_bundle(prime, supplier, fc):
    return build_bundle(prime.fed, fc, prime.fed.peer(supplier.name))


def assert_nothing_imported(supplier):
    ws = supplier.ws
    assert ws.query().empty
    assert not [n for n in ws.program_names() if n.startswith("prime--")]
    staging = supplier.fed.local_dir / "staging" / "prime"
    leftovers = [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []
    assert leftovers == [], leftovers
    from pluma.memory import Enclave

    if Enclave.exists(ws.root, "peer-prime"):
        assert ws._enclave("peer-prime").tags("frozen/") == []


def refusals(supplier):
    return [e for e in supplier.fed.exchanges("prime") if e["outcome"] == "refused"]


def test_a_flipped_byte_in_a_chunk_is_refused(pair):
    prime, supplier, fc = pair
    bundle = fresh_bundle(prime, supplier, fc)
    with HttpPeer(prime.fed.identity, prime.fed.peer("supplier")) as link:
        answer = link.negotiate(bundle.envelope)
        objects = bundle.read(answer["missing"])
        sha, data = max(objects, key=lambda o: len(o[1]))  # a data chunk
        flipped = bytes([data[0] ^ 0x01]) + data[1:]
        with pytest.raises(BundleRefused, match="does not match its hash"):
            link.send(bundle.id, [(sha, flipped)])
        with pytest.raises(BundleRefused, match="not negotiated, or was imported or refused"):
            link.commit(bundle.id)
    assert_nothing_imported(supplier)
    assert "does not match its hash" in refusals(supplier)[0]["reason"]


@pytest.mark.parametrize("where", ["value", "hash", "address"])
def test_a_flipped_byte_in_the_manifest_is_refused(pair, where):
    prime, supplier, fc = pair
    envelope = copy.deepcopy(fresh_bundle(prime, supplier, fc).envelope)
    items = envelope["manifest"]["items"]
    if where == "value":
        next(i for i in items if i["name"] == "span")["record"]["value"] = 53.8
    elif where == "hash":
        obj = next(iter(next(i for i in items if i["kind"] == "dataset")["objects"].values()))
        obj["sha256"] = ("0" if obj["sha256"][0] != "0" else "1") + obj["sha256"][1:]
    else:
        envelope["manifest"]["receiver"]["peer"] = "someone-else"
    with HttpPeer(prime.fed.identity, prime.fed.peer("supplier")) as link:
        with pytest.raises(BundleRefused, match="signature does not verify"):
            link.negotiate(envelope)
    assert_nothing_imported(supplier)


def test_a_flipped_signature_or_no_signature_is_refused(pair):
    prime, supplier, fc = pair
    envelope = fresh_bundle(prime, supplier, fc).envelope
    raw = bytearray(base64.b64decode(envelope["signature"]))
    raw[10] ^= 0x80
    bad = {**envelope, "signature": base64.b64encode(bytes(raw)).decode()}
    unsigned = {k: v for k, v in envelope.items() if k != "signature"}
    with HttpPeer(prime.fed.identity, prime.fed.peer("supplier")) as link:
        with pytest.raises(BundleRefused, match="signature does not verify"):
            link.negotiate(bad)
        with pytest.raises(BundleRefused, match="unsigned"):
            link.negotiate(unsigned)
    assert_nothing_imported(supplier)
    assert len(refusals(supplier)) == 2


def test_a_bundle_signed_with_another_key_is_refused(pair, tmp_path):
    prime, supplier, fc = pair
    mallory = Org(tmp_path, "mallory")
    envelope = fresh_bundle(prime, supplier, fc).envelope
    forged = sign_manifest(mallory.fed.identity, envelope["manifest"])
    with HttpPeer(prime.fed.identity, prime.fed.peer("supplier")) as link:
        with pytest.raises(BundleRefused, match="signature does not verify with prime's public key"):
            link.negotiate(forged)
    # and a request signed by a key the supplier does not know is not even heard
    mallory.fed.add_peer("supplier", url=supplier.url, key=supplier.fed.public_key)
    with HttpPeer(mallory.fed.identity, mallory.fed.peer("supplier")) as link:
        with pytest.raises(AuthError, match="does not know as a peer"):
            link.negotiate(envelope)
    assert_nothing_imported(supplier)


def test_a_replayed_bundle_is_refused(pair):
    prime, supplier, fc = pair
    bundle = fresh_bundle(prime, supplier, fc)
    with HttpPeer(prime.fed.identity, prime.fed.peer("supplier")) as link:
        answer = link.negotiate(bundle.envelope)
        link.send(bundle.id, bundle.read(answer["missing"]))
        assert link.commit(bundle.id)["status"] == "imported"
        with pytest.raises(BundleRefused, match="received before: a replay"):
            link.negotiate(bundle.envelope)
        with pytest.raises(BundleRefused, match="not negotiated"):
            link.commit(bundle.id)
    assert len(supplier.ws.query()) == 1  # the first delivery stands, once


def test_a_truncated_bundle_is_refused(pair):
    prime, supplier, fc = pair
    bundle = fresh_bundle(prime, supplier, fc)
    with HttpPeer(prime.fed.identity, prime.fed.peer("supplier")) as link:
        answer = link.negotiate(bundle.envelope)
        half = answer["missing"][: len(answer["missing"]) // 2]
        link.send(bundle.id, bundle.read(half))
        with pytest.raises(BundleRefused, match=r"truncated: \d+ object\(s\) never arrived"):
            link.commit(bundle.id)
    assert_nothing_imported(supplier)


def test_a_stale_bundle_is_refused(pair):
    prime, supplier, fc = pair
    supplier.fed.add_peer("prime", url=prime.url, key=prime.fed.public_key, rules=supplier.fed.peer("prime").rules,
                          max_age=600, replace=True)
    manifest = json.loads(json.dumps(fresh_bundle(prime, supplier, fc).manifest))
    manifest["created"] = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    old = sign_manifest(prime.fed.identity, manifest)  # correctly signed, two hours ago
    with HttpPeer(prime.fed.identity, prime.fed.peer("supplier")) as link:
        with pytest.raises(BundleRefused, match="older than the 600 s allowed"):
            link.negotiate(old)
    assert_nothing_imported(supplier)
