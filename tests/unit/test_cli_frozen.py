"""``pluma clone | diff | query | reindex`` against a real demo workspace (no mocks)."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console

import pluma
from pluma.cli import cli
from pluma.demo import run_demo


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("PLUMA_HOME", "PLUMA_USER", "JUPYTERHUB_USER", "COLUMNS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The small demo (AMPEL360 CAD#1, CAE#1; ATR-NEO CAD#1, CAD#2) plus eve, a user in no program."""
    location = str(tmp_path_factory.mktemp("frozen-cli") / "ws")
    run_demo(location, small=True, console=Console(file=io.StringIO()))
    pluma.open(location, user="admin").add_user("eve")
    return location


@pytest.fixture
def run(home):
    """run(*args, user="admin", json=False, expect=0) -> click Result."""
    runner = CliRunner()

    def invoke(*args: str, user: str = "admin", json: bool = False, expect: int | None = 0):
        argv = ["--home", home, "--user", user] + (["--json"] if json else []) + list(args)
        result = runner.invoke(cli, argv)
        if expect is not None:
            assert result.exit_code == expect, (argv, result.output, result.exception)
        return result

    return invoke


def out(result):
    return json.loads(result.stdout)


def frozen_count(home: str) -> int:
    return sum(len(p.history()) for p in pluma.open(home, user="admin").programs())


# -- clone and diff -----------------------------------------------------------------------------
def test_clone_then_diff_shows_the_override(run, home):
    text = run("clone", "AMPEL360@CAD#1", "AMPEL360-F", "--set", "span=3800 cm", "--set", "cruise_mach=0.8",
               "-m", "stretch study").stdout
    assert "cloned AMPEL360@CAD#1" in text and "AMPEL360-F" in text
    assert "is in CAD" in text and "span=38 m" in text
    assert "reuse (CRR):" in text and "%" in text

    child = pluma.open(home, user="raj").program("AMPEL360-F")
    assert child.phase == pluma.Phase.CAD
    assert child.context.params["span"] == pytest.approx(38.0)
    assert child.origin["ref"] == "AMPEL360@CAD#1" and 0 < child.reuse < 1

    summary = run("diff", "AMPEL360@CAD#1", "AMPEL360-F").stdout
    assert "param span: 35.8 -> 38.0 m" in summary and "param cruise_mach: 0.78 -> 0.8" in summary
    assert "dataset" not in summary and "artifact" not in summary

    d = out(run("diff", "AMPEL360@CAD#1", "AMPEL360-F", "--deep", json=True))
    assert d["a"] == "AMPEL360@CAD#1" and d["deep"] is True and d["method"] == "common ancestor"
    assert set(d["params"]["changed"]) == {"span", "cruise_mach"}
    assert d["params"]["changed"]["span"]["old"] == 35.8 and d["params"]["changed"]["span"]["new"] == 38.0
    assert d["params"]["changed"]["span"]["unit"] == "m"
    assert d["params"]["added"] == {} and d["params"]["removed"] == {}
    assert d["datasets"] == {"added": [], "removed": [], "changed": {}}
    assert d["artifacts"] == {"added": [], "removed": [], "changed": []}

    # the same source by id, and the reverse direction
    source_id = pluma.open(home, user="admin").frozen("AMPEL360@CAD#1").id
    by_id = out(run("diff", source_id, "AMPEL360-F", json=True))
    assert by_id["params"] == d["params"]
    back = out(run("diff", "AMPEL360-F", source_id, user="raj", json=True))
    assert back["params"]["changed"]["span"]["new"] == 35.8


def test_clone_json_with_program_options(run, home):
    data = out(run("clone", "ATR-NEO@CAD", "ATR-NEO-R", "--set", "cruise_mach=0.5", "--priority", "research",
                   "--classification", "EAR", json=True))
    assert data["program"] == "ATR-NEO-R" and data["source"] == "ATR-NEO@CAD#2"  # @CAD = the latest CAD freeze
    assert data["phase"] == "CAD" and data["priority"] == "research" and data["classification"] == "EAR"
    assert data["overrides"] == ["cruise_mach"] and data["dataset_overrides"] == []
    assert 0 < data["reuse"] < 1 and 0 < data["shared_bytes"] < data["total_bytes"]
    assert data["source_id"] == pluma.open(home, user="admin").frozen("ATR-NEO@CAD#2").id


def test_clone_with_a_dataset_region(run, home, tmp_path):
    source = pluma.open(home, user="ana").frozen("AMPEL360@CAE#1")
    loads = source.dataset("wing_loads").load()
    outboard = loads.isel(y=slice(30, None)).copy()
    outboard["stress"] = outboard["stress"] * 1.05
    path = tmp_path / "outboard.zarr"
    outboard.to_zarr(path, zarr_format=3, consolidated=False)

    data = out(run("clone", "AMPEL360@CAE#1", "AMPEL360-W", "--dataset", f"wing_loads={path}", json=True))
    assert data["dataset_overrides"] == ["wing_loads"] and data["phase"] == "CAE"

    child = pluma.open(home, user="ana").program("AMPEL360-W").context
    assert child.dataset_info("wing_loads")["write"] == "region"
    stored = child.dataset("wing_loads").load()
    assert stored.sizes["y"] == loads.sizes["y"]  # a region: the dataset keeps its shape
    ratio = (stored["stress"] / loads["stress"]).values
    assert ratio[:30] == pytest.approx(1.0) and ratio[30:-1] == pytest.approx(1.05)

    deep = out(run("diff", "AMPEL360@CAE#1", "AMPEL360-W", "--deep", json=True))
    assert deep["params"]["changed"] == {}
    assert list(deep["datasets"]["changed"]) == ["wing_loads"]
    assert list(deep["datasets"]["changed"]["wing_loads"]["arrays"]) == ["stress"]
    assert "dataset wing_loads.stress: 1 chunk(s) differ" in run("diff", "AMPEL360@CAE#1", "AMPEL360-W", "--deep").stdout


def test_clone_and_diff_errors(run, home):
    assert "exists already" in run("clone", "AMPEL360@CAD#1", "ampel360", expect=2).stderr
    assert "unknown parameter 'spam'" in run("clone", "AMPEL360@CAD#1", "X1", "--set", "spam=1", expect=2).stderr
    assert "is not KEY=VALUE" in run("clone", "AMPEL360@CAD#1", "X2", "--set", "span", expect=2).output
    assert "no such file" in run("clone", "AMPEL360@CAD#1", "X3", "--dataset", "wing_loads=/nonexistent.zarr",
                                 expect=2).output
    assert "no frozen context 'AMPEL360@CAS'" in run("clone", "AMPEL360@CAS", "X4", expect=4).stderr
    assert "AMPEL360@CAD#1" in run("clone", "AMPEL360@CAS", "X4", expect=4).stderr  # says what there is
    # cloning needs workspace admin, even for the program's engineer
    assert "only a workspace admin" in run("clone", "AMPEL360@CAD#1", "X5", user="ana", expect=3).stderr
    missing = run("diff", "NOPE", "AMPEL360", expect=4)
    assert "neither a program nor a frozen context id" in missing.stderr
    err = json.loads(run("diff", "AMPEL360@CAD#9", "AMPEL360", json=True, expect=4).stderr)
    assert err["error"] == "not_found"
    names = pluma.open(home, user="admin").program_names()
    assert not {"X1", "X2", "X3", "X4", "X5"} & set(names)


def test_a_non_member_is_refused_and_sees_nothing(run, home):
    source_id = pluma.open(home, user="admin").frozen("AMPEL360@CAD#1").id
    for args in (["diff", "AMPEL360@CAD#1", "AMPEL360"], ["diff", source_id, "ATR-NEO@CAD#1"],
                 ["diff", "ATR-NEO", "AMPEL360"], ["clone", "AMPEL360@CAD#1", "EVE-1"]):
        result = run(*args, user="eve", expect=3)
        assert "eve may not" in result.stderr and result.stdout == ""
    err = json.loads(run("diff", "AMPEL360@CAD#1", "AMPEL360", user="eve", json=True, expect=3).stderr)
    assert err["error"] == "access_denied"
    assert out(run("query", user="eve", json=True)) == []
    assert "no frozen contexts you may read" in run("query", user="eve").stdout
    assert out(run("query", "--program", "AMPEL360", user="eve", json=True)) == []


# -- query ------------------------------------------------------------------------------------
def test_query_records_and_filters(run, home):
    rows = out(run("query", "--param", "span", user="vic", json=True))
    assert [r["ref"] for r in rows] == ["AMPEL360@CAD#1", "AMPEL360@CAE#1", "ATR-NEO@CAD#1", "ATR-NEO@CAD#2"]
    assert set(rows[0]) == {"program", "phase", "ref", "id", "frozen_at", "frozen_by", "span"}
    assert rows[0]["span"] == 35.8 and rows[3]["span"] > rows[2]["span"]  # ATR-NEO grew its span in CAD#2
    assert [r["frozen_at"] for r in rows] == sorted(r["frozen_at"] for r in rows)

    big = out(run("query", "--where", "span > 30", "--param", "span", "--param", "mtow", user="vic", json=True))
    assert [r["ref"] for r in big] == ["AMPEL360@CAD#1", "AMPEL360@CAE#1"]
    assert all(r["mtow"] == 78000.0 for r in big)
    # units convert in filters: 27.5 m is about 90.2 ft
    assert [r["ref"] for r in out(run("query", "--where", "span > 90.5 ft and span < 100 ft",
                                      user="vic", json=True))] == ["ATR-NEO@CAD#2"]
    assert out(run("query", "--where", "span > 30 and cruise_mach < 0.5", user="vic", json=True)) == []

    atr = out(run("query", "--program", "ATR-NEO", "--phase", "cad", user="vic", json=True))
    assert [r["ref"] for r in atr] == ["ATR-NEO@CAD#1", "ATR-NEO@CAD#2"]
    both = out(run("query", "--program", "ATR-NEO", "--program", "AMPEL360", "--phase", "CAE", json=True))
    assert [r["ref"] for r in both] == ["AMPEL360@CAE#1"]
    assert out(run("query", "--since", "2999-01-01", json=True)) == []
    assert len(out(run("query", "--until", "2999-01-01", json=True))) == frozen_count(home)
    # a parameter a freeze lacks is null (AMPEL360@CAD#1 has no CAE results yet)
    ld = {r["ref"]: r["ld_cruise"] for r in out(run("query", "--program", "AMPEL360", "--param", "ld_cruise",
                                                      json=True))}
    assert ld["AMPEL360@CAD#1"] is None and ld["AMPEL360@CAE#1"] > 10

    table = run("query", "--where", "span > 30", "--param", "span", user="vic").stdout
    assert "Frozen contexts (2)" in table and "AMPEL360@CAE#1" in table and "span (m)" in table
    assert "ATR-NEO" not in table
    assert "no frozen contexts match" in run("query", "--where", "span > 1000").stdout


def test_query_input_errors(run):
    bad = run("query", "--where", "span >", expect=2)
    assert bad.stderr.startswith("error: expected a value") and "end of the expression" in bad.stderr
    err = json.loads(run("query", "--where", "span > 3 kg", json=True, expect=2).stderr)
    assert err["error"] == "invalid_expression" and "incompatible units" in err["message"]
    assert "not an ISO date" in run("query", "--since", "yesterday", expect=2).stderr
    assert "Invalid value for '--phase'" in run("query", "--phase", "XYZ", expect=2).output


# -- reindex ----------------------------------------------------------------------------------
def test_reindex_counts_every_frozen_context(run, home):
    expected = frozen_count(home)
    assert expected == 4  # clones start unfrozen
    assert out(run("reindex", json=True)) == {"entries": expected}
    assert f"{expected} entries" in run("reindex").stdout
    assert len(out(run("query", json=True))) == expected
    assert "only a workspace admin" in run("reindex", user="raj", expect=3).stderr
