"""Export rules (validated YAML, never executed, deny by default, deny beats allow,
ITAR only to ITAR-authorised peers) and identities (Ed25519, private key 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import pluma
from pluma.federation import Identity, PublicKey, Rules
from pluma.federation.rules import Item, ProgramInfo

PROGRAM = ProgramInfo("AMPEL360", "CAE", "EAR", ["AAA", "PPP"])


def decide(rules, kind="param", name="span", label="PUBLIC", program=PROGRAM, direction="export"):
    return Rules.from_dict(rules).decide(direction, Item(kind, name, label), program)


def test_deny_by_default_and_a_deny_beats_an_allow():
    assert decide({}).rule == "default-deny" and not decide({}).allowed
    rules = {"export": [{"name": "all", "allow": {}}, {"name": "no-mtow", "deny": {"items": ["mtow"]}}]}
    assert decide(rules).allowed and decide(rules).rule == "all"
    d = decide(rules, name="mtow")
    assert not d.allowed and d.rule == "no-mtow" and "deny beats" in d.reason


@pytest.mark.parametrize("matcher, allowed", [
    ({"programs": ["ampel*"]}, True), ({"programs": ["OTHER"]}, False),
    ({"phases": ["cae"]}, True), ({"phases": ["CAD"]}, False),
    ({"classifications": ["PUBLIC"]}, True), ({"classifications": ["EAR99"]}, False),
    ({"domains": ["PPP"]}, True), ({"domains": ["EEE"]}, False),
    ({"kinds": ["param"]}, True), ({"kinds": ["dataset"]}, False),
    ({"items": ["sp*"]}, True), ({"items": ["x*"]}, False),
])
def test_each_matcher(matcher, allowed):
    assert decide({"export": [{"name": "r", "allow": matcher}]}).allowed is allowed


def test_itar_only_to_authorised_peers_and_only_when_named():
    everything = {"export": [{"name": "all", "allow": {}}]}
    d = decide(everything, label="ITAR", program=ProgramInfo("F35", "CAD", "ITAR", []))
    assert not d.allowed and d.rule == "itar-not-authorised"
    d = decide(everything, label="PUBLIC", program=ProgramInfo("F35", "CAD", "ITAR", []))
    assert not d.allowed and d.rule == "itar-not-authorised"  # anything of an ITAR program
    authorised = {**everything, "itar_authorised": True}
    assert decide(authorised, label="ITAR", program=ProgramInfo("F35", "CAD", "ITAR", [])).rule == "default-deny"
    named = {"itar_authorised": True, "export": [{"name": "itar", "allow": {"classifications": ["ITAR"]}}]}
    assert decide(named, label="ITAR", program=ProgramInfo("F35", "CAD", "ITAR", [])).allowed


@pytest.mark.parametrize("text, message", [
    ("export: [{allow: {colour: [red]}}]", "unknown field"),
    ("export: [{allow: {classifications: [SECRET]}}]", "unknown"),
    ("export: [{allow: {}, deny: {}}]", "exactly one"),
    ("export: {allow: {}}", "must be a list"),
    ("itar_authorised: yes please", "true or false"),
    ("version: 2", "not supported"),
    ("export: [{name: a, allow: {}}, {name: a, deny: {}}]", "used twice"),
    ("!!python/object/apply:os.system ['touch /tmp/pluma-pwned']", "not valid YAML"),
])
def test_rules_are_validated_and_never_executed(text, message):
    with pytest.raises(pluma.InvalidInputError, match=message):
        Rules.from_yaml(text)
    assert not Path("/tmp/pluma-pwned").exists()


def test_the_example_rules_file_loads():
    rules = Rules.from_yaml((Path(__file__).resolve().parents[2] / "rules" / "supplier-b.yaml").read_text())
    assert not rules.itar_authorised and [r.name for r in rules.export][-1] == "never-costs"
    assert rules.decide("export", Item("artifact", "cost_breakdown", "PUBLIC"), PROGRAM).rule == "never-costs"


def test_identity_files_signatures_and_key_text(tmp_path):
    me = Identity.generate(tmp_path / "keys", name="prime")
    key_file = tmp_path / "keys" / "identity.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    again = Identity.load(tmp_path / "keys")
    assert again.public_text == me.public_text and again.name == "prime"
    public = PublicKey.parse(me.public_text)
    assert public.verify(me.sign(b"frozen"), b"frozen") and not public.verify(me.sign(b"frozen"), b"frozen!")
    with pytest.raises(pluma.StateError, match="holds a key already"):
        Identity.generate(tmp_path / "keys", name="prime")
    os.chmod(key_file, 0o644)
    with pytest.raises(pluma.StateError, match="chmod 600"):
        Identity.load(tmp_path / "keys")
    for bad in ("ssh-ed25519 AAAA", "ed25519:!!!", "ed25519:AAAA"):
        with pytest.raises(pluma.InvalidInputError):
            PublicKey.parse(bad)
    with pytest.raises(pluma.NotFoundError, match="keygen"):
        Identity.load(tmp_path / "nothing")


def test_peers_are_validated_and_admin_only(tmp_path):
    from pluma.federation import Federation

    ws = pluma.open(tmp_path / "ws", user="admin")
    fed = Federation(ws)
    key = Identity.generate(tmp_path / "other", name="other").public_text
    with pytest.raises(pluma.InvalidInputError, match="url, a drop"):
        fed.add_peer("b", key=key)
    with pytest.raises(pluma.InvalidInputError, match="http"):
        fed.add_peer("b", key=key, url="ftp://x")
    with pytest.raises(pluma.InvalidInputError, match="only be viewers"):
        fed.add_peer("b", key=key, url="http://127.0.0.1:1", members={"ana": ["engineer"]})
    ws.add_user("ana")
    with pytest.raises(pluma.AccessDenied, match="only a workspace admin"):
        Federation(ws.as_user("ana")).add_peer("b", key=key, url="http://127.0.0.1:1")
    peer = fed.add_peer("b", key=key, url="http://127.0.0.1:1/", rules="export: [{allow: {}}]")
    assert peer.url == "http://127.0.0.1:1" and fed.peers() == [peer] and "b" in repr(peer)
    with pytest.raises(pluma.InvalidInputError, match="has this public key"):
        fed.add_peer("c", key=key, url="http://127.0.0.1:2")
    fed.remove_peer("b")
    assert fed.peers() == []
