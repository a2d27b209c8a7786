"""Workspace, users and programs — the same contract on local storage and on S3 (moto)."""

from __future__ import annotations

import pytest

import pluma
from tests.conftest import make_program


def test_first_opener_is_admin_and_others_are_not(open_ws):
    admin = open_ws("admin")
    assert admin.is_admin
    assert admin.user_info()["admin"] is True
    other = open_ws("ana")
    assert not other.is_admin
    with pytest.raises(pluma.AccessDenied, match="only a workspace admin"):
        other.add_user("bob")


def test_create_program_records_everything(open_ws):
    admin = open_ws("admin")
    prog = admin.create_program(
        "AMPEL360", priority="research", classification="EAR99", domains=["AAA", "PPP"],
        quotas={"cores": 80, "memory_gb": 160, "gpus": 2, "storage_tb": 1, "qubits": 64},
        members={"ana": ["engineer"], "raj": ["chief_engineer"], "lin": ["quality"]},
    )
    info = prog.info
    assert info["priority"] == "research" and info["classification"] == "EAR99"
    assert info["domains"] == ["AAA", "PPP"]
    assert info["quotas"] == {"cores": 80, "memory_gb": 160, "gpus": 2, "storage_tb": 1, "qubits": 64}
    # the creator becomes program_manager because members named none
    assert info["members"]["admin"] == ["program_manager"]
    # members not yet registered were added to the registry
    assert {"ana", "raj", "lin"} <= {u["name"] for u in admin.users()}
    ana = open_ws("ana").program("ampel360")  # names ignore case
    assert ana.phase is pluma.Phase.CAD
    assert ana.status is pluma.Status.ACTIVE
    assert [e["kind"] for e in ana.events()] == ["created"]


def test_members_naming_a_program_manager_keep_the_creator_out(open_ws):
    admin = open_ws("admin")
    prog = make_program(admin)
    assert "admin" not in prog.info["members"]
    assert prog.info["members"]["pam"] == ["program_manager"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "1bad"}, "invalid program name"),
        ({"name": "has space"}, "invalid program name"),
        ({"name": "x" * 65}, "invalid program name"),
        ({"priority": "urgent"}, "unknown priority"),
        ({"classification": "SECRET"}, "unknown classification"),
        ({"domains": ["XYZ"]}, "unknown domain"),
        ({"domains": "AAA"}, "domains must be a list"),
        ({"quotas": {"cpus": 4}}, "unknown quota 'cpus'"),
        ({"quotas": {"cores": -1}}, "must be a number >= 0"),
        ({"members": {"ana": ["pilot"]}}, "unknown role 'pilot'"),
        ({"members": {"ana": []}}, "non-empty list"),
        ({"members": {"9x": ["engineer"]}}, "invalid user name"),
    ],
)
def test_bad_program_input_is_refused_and_changes_nothing(open_ws, kwargs, message):
    admin = open_ws("admin")
    args = {"name": "P1", **kwargs}
    name = args.pop("name")
    before_users = admin.users()
    with pytest.raises(pluma.InvalidInputError, match=message):
        admin.create_program(name, **args)
    assert admin.program_names() == []
    assert admin.users() == before_users


def test_program_names_are_unique_without_regard_to_case(open_ws):
    admin = open_ws("admin")
    make_program(admin, "Falcon")
    with pytest.raises(pluma.InvalidInputError, match="exists already"):
        make_program(admin, "FALCON")
    assert admin.program_names() == ["Falcon"]


def test_only_admins_create_programs_and_only_readers_see_them(open_ws):
    admin = open_ws("admin")
    make_program(admin, "Alpha")
    admin.create_program("Beta", members={"zed": ["viewer"]})
    with pytest.raises(pluma.AccessDenied, match="create programs"):
        open_ws("ana").create_program("Gamma")
    assert [p.name for p in open_ws("ana").programs()] == ["Alpha"]
    assert [p.name for p in admin.programs()] == ["Alpha", "Beta"]
    with pytest.raises(pluma.AccessDenied, match="may not read this program on Beta"):
        open_ws("ana").program("Beta")
    with pytest.raises(pluma.NotFoundError, match="did you mean Alpha"):
        admin.program("Alpah")


def test_user_registry(open_ws):
    admin = open_ws("admin")
    admin.add_user("carol", display_name="Carol Chen", itar_cleared=True)
    info = admin.user_info("CAROL")
    assert info["display_name"] == "Carol Chen" and info["clearance"]["itar"] is True
    with pytest.raises(pluma.InvalidInputError, match="exists already"):
        admin.add_user("Carol")
    admin.set_user("carol", admin=True)
    assert open_ws("carol").is_admin
    with pytest.raises(pluma.InvalidInputError, match="invalid user name"):
        admin.add_user("-x")


def test_members_are_managed_by_program_manager(open_ws):
    admin = open_ws("admin")
    make_program(admin)
    pam = open_ws("pam").program("AMPEL360")
    pam.set_member("vic", ["viewer"])
    assert open_ws("vic").program("AMPEL360").my_roles == ["viewer"]
    with pytest.raises(pluma.AccessDenied, match="manage members"):
        open_ws("ana").program("AMPEL360").set_member("vic", ["engineer"])
    kinds = [e["kind"] for e in pam.events()]
    assert kinds[-1] == "member"
