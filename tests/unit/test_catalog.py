"""intake (v2) catalogs of frozen contexts: the reader, entry names, export, the
demo catalog, access control, strict validation and entry-point discovery."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import pluma
from pluma.catalog import EntryName, entry_name, export_catalog, parse_entry_name
from pluma.programs.phases import Phase

import intake  # noqa: E402
import xarray as xr  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEMO_CATALOG = ROOT / "catalogs" / "demo.yaml"
READER = "pluma.catalog.reader:PlumaFrozenDataset"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The small demo at <tmp>/pluma-home, plus a registered user 'eve' who is in no program."""
    from rich.console import Console

    from pluma.demo import run_demo

    home = tmp_path_factory.mktemp("catalog") / "pluma-home"
    run_demo(home, small=True, console=Console(file=io.StringIO()))
    pluma.open(home, user="admin", create=False).add_user("eve")
    return home


@pytest.fixture
def env(demo, monkeypatch):
    monkeypatch.setenv("PLUMA_HOME", str(demo))
    monkeypatch.setenv("PLUMA_USER", "ana")
    return demo


def frozen_dataset(home: Path, ref: str, name: str, user: str = "ana"):
    return pluma.open(home, user=user, create=False).frozen(ref).dataset(name).load()


# -- entry names ----------------------------------------------------------------
def test_entry_name_examples():
    assert entry_name("AMPEL360", "CAE", 1, "wing_loads") == "ampel360_cae_1_wing_loads"
    assert entry_name("ATR-NEO", Phase.CAD, 2, "mass_breakdown") == "atr_1neo_cad_2_mass_breakdown"
    assert entry_name("My_Plane", "cad", "latest", "polars") == "my_0plane_cad_latest_polars"
    assert parse_entry_name("atr_1neo_cad_2_mass_breakdown") == EntryName("atr-neo", Phase.CAD, 2, "mass_breakdown")
    assert parse_entry_name("my_0plane_cad_latest_polars").latest


@pytest.mark.parametrize("args", [
    ("1ABC", "CAD", 1, "x"), ("A B", "CAD", 1, "x"), ("A", "XYZ", 1, "x"), ("A", "CAD", 0, "x"),
    ("A", "CAD", True, "x"), ("A", "CAD", "newest", "x"), ("A", "CAD", 1, "wing-loads"), ("A", "CAD", 1, "_x"),
])
def test_entry_name_rejects_bad_parts(args):
    with pytest.raises(pluma.InvalidInputError):
        entry_name(*args)


@pytest.mark.parametrize("name", [
    "ampel360_cad_1", "ampel360_xyz_1_mass", "ampel_2x_cad_1_mass", "Ampel360_cad_1_mass", "ampel360_cad_01_mass",
    "ampel360_cad_newest_mass", "ampel360_cad_1_", "ampel360_cad_1_9lives", "_0a_cad_1_mass", "", None,
])
def test_parse_entry_name_rejects(name):
    with pytest.raises(pluma.InvalidInputError):
        parse_entry_name(name)


programs = st.from_regex(r"\A[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
phases = st.sampled_from(list(Phase))
numbers = st.one_of(st.integers(min_value=1, max_value=10**9), st.just("latest"))
datasets = st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,40}\Z")
keys = st.tuples(programs, phases, numbers, datasets)


@settings(max_examples=300, deadline=None)
@given(keys)
def test_entry_name_round_trips(key):
    program, phase, n, dataset = key
    name = entry_name(program, phase, n, dataset)
    assert name.isidentifier()
    assert parse_entry_name(name) == (program.lower(), phase, n, dataset)
    encoded = name[: -len(f"_{phase.value.lower()}_{n}_{dataset}")]
    assert all(encoded[i + 1] in "01" for i, c in enumerate(encoded) if c == "_")


@settings(max_examples=300, deadline=None)
@given(keys, keys)
def test_entry_names_never_collide(a, b):
    norm = lambda k: (k[0].lower(), k[1], k[2], k[3])  # noqa: E731 - program names are unique without case
    if norm(a) != norm(b):
        assert entry_name(*a) != entry_name(*b)


# -- the demo catalog -------------------------------------------------------------
def test_demo_catalog_reads_like_the_frozen_context(env):
    cat = intake.from_yaml_file(str(DEMO_CATALOG))
    reader = cat["ampel360_cae_1_wing_loads"]
    assert type(reader).__name__ == "PlumaFrozenDataset"
    ds = reader.read()
    assert isinstance(ds, xr.Dataset)
    xr.testing.assert_identical(ds.load(), frozen_dataset(env, "AMPEL360@CAE#1", "wing_loads"))
    # attribute access works too: entry names are identifiers
    xr.testing.assert_identical(cat.atr_1neo_cad_2_mass_breakdown.read().load(),
                                frozen_dataset(env, "ATR-NEO@CAD#2", "mass_breakdown"))


def test_every_demo_entry_reads_and_its_name_says_what_it_reads(env):
    raw = yaml.safe_load(DEMO_CATALOG.read_text())
    cat = intake.from_yaml_file(str(DEMO_CATALOG))
    names = list(cat)
    assert names == list(raw["entries"]) and len(names) >= 9
    assert any("_latest_" in n for n in names)
    ws = pluma.open(env, user="ana", create=False)
    for name in names:
        entry = raw["entries"][name]
        assert entry["reader"] == READER
        parsed = parse_entry_name(name)
        ref = entry["kwargs"]["ref"]
        assert entry["kwargs"]["dataset"] == parsed.dataset
        assert ref.split("@")[0].lower() == parsed.program and ref.split("@")[1].split("#")[0] == parsed.phase.value
        if parsed.latest:
            assert entry["kwargs"]["latest"] is True and "#" not in ref
            ref = ws.frozen(ref).ref  # the latest freeze of that phase
        else:
            assert ref.endswith(f"#{parsed.n}") and "latest" not in entry["kwargs"]
        xr.testing.assert_identical(cat[name].read().load(), ws.frozen(ref).dataset(parsed.dataset).load())


def test_demo_latest_entry_follows_the_latest_freeze(env):
    cat = intake.from_yaml_file(str(DEMO_CATALOG))
    xr.testing.assert_identical(cat["atr_1neo_cad_latest_wing_loads"].read().load(),
                                frozen_dataset(env, "ATR-NEO@CAD#2", "wing_loads"))


def test_demo_catalog_defaults_to_pluma_home_in_the_working_folder(demo, monkeypatch):
    monkeypatch.delenv("PLUMA_HOME", raising=False)
    monkeypatch.setenv("PLUMA_USER", "raj")
    monkeypatch.chdir(demo.parent)  # demo is <tmp>/pluma-home
    ds = intake.from_yaml_file(str(DEMO_CATALOG))["ampel360_cad_1_mass_breakdown"].read()
    xr.testing.assert_identical(ds.load(), frozen_dataset(demo, "AMPEL360@CAD#1", "mass_breakdown"))


def test_workspace_and_user_can_be_given_at_read_time(demo, tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("PLUMA_HOME", str(missing))
    monkeypatch.setenv("PLUMA_USER", "eve")
    cat = intake.from_yaml_file(str(DEMO_CATALOG))
    with pytest.raises(pluma.NotFoundError, match="no PLUMA workspace"):
        cat["ampel360_cae_1_polars"].read()
    assert not missing.exists()  # reading never creates a workspace
    expected = frozen_dataset(demo, "AMPEL360@CAE#1", "polars")
    for reader in (cat(pluma_workspace=str(demo), pluma_user="vic")["ampel360_cae_1_polars"],
                   cat(workspace=str(demo), user="lin")["ampel360_cae_1_polars"]):
        xr.testing.assert_identical(reader.read().load(), expected)
    ds = cat["ampel360_cae_1_polars"].read(workspace=str(demo), user="pam")
    xr.testing.assert_identical(ds.load(), expected)


# -- access control -------------------------------------------------------------------
def test_a_user_outside_the_program_is_denied(env, tmp_path):
    cat = intake.from_yaml_file(str(DEMO_CATALOG))
    with pytest.raises(pluma.AccessDenied, match="eve"):
        cat(pluma_user="eve")["ampel360_cae_1_wing_loads"].read()
    # and eve's own export lists nothing
    out = export_catalog(pluma.open(env, user="eve", create=False), tmp_path / "eve.yaml")
    assert yaml.safe_load(out.read_text())["entries"] == {}


# -- export -------------------------------------------------------------------------
def test_exported_catalog_round_trips(env, tmp_path):
    ws = pluma.open(env, user="ana", create=False)
    path = export_catalog(ws, tmp_path / "frozen.yaml", latest=True)
    raw = yaml.safe_load(path.read_text())
    assert raw["user_parameters"]["pluma_workspace"]["default"] == ws.location
    cat = intake.from_yaml_file(str(path))
    expected = set()
    for ref in ws.query()["ref"]:
        frozen = ws.frozen(ref)
        for dataset in frozen.datasets:
            expected.add(entry_name(frozen.program.name, frozen.phase, frozen.n, dataset))
            expected.add(entry_name(frozen.program.name, frozen.phase, "latest", dataset))
    assert set(cat) == set(raw["entries"]) == expected
    assert "ampel360_cae_1_wing_loads" in expected and "atr_1neo_cad_2_mass_breakdown" in expected
    for name in cat:
        parsed = parse_entry_name(name)
        meta = raw["entries"][name]["metadata"]
        assert (meta["program"].lower(), meta["phase"], meta["n"], meta["dataset"]) == \
            (parsed.program, parsed.phase.value, parsed.n, parsed.dataset)
        ref = meta["ref"] if not parsed.latest else meta["latest_at_export"]
        xr.testing.assert_identical(cat[name].read().load(), ws.frozen(ref).dataset(parsed.dataset).load())


def test_export_location_templates(env, tmp_path):
    ws = pluma.open(env, user="ana", create=False)
    for location, default in (("$PLUMA_HOME", "env(PLUMA_HOME)"), ("${MY_WS}", "env(MY_WS)"),
                              ("env(MY_WS)", "env(MY_WS)"), (str(env), str(env))):
        path = export_catalog(ws, tmp_path / "t.yaml", location=location)
        raw = yaml.safe_load(path.read_text())
        assert raw["user_parameters"]["pluma_workspace"]["default"] == default
        assert "_latest_" not in "".join(raw["entries"])
    for bad in ("", "$HOME/ws", "{x}", 3):
        with pytest.raises(pluma.InvalidInputError):
            export_catalog(ws, tmp_path / "t.yaml", location=bad)
    with pytest.raises(pluma.InvalidInputError, match="does not exist"):
        export_catalog(ws, tmp_path / "no" / "t.yaml")


def test_cli_export(env, tmp_path):
    from click.testing import CliRunner

    from pluma.cli import cli

    out = tmp_path / "cli.yaml"
    result = CliRunner().invoke(cli, ["--home", str(env), "--user", "ana", "catalog", "export", str(out),
                                      "--latest", "--location", "$PLUMA_HOME", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["path"] == str(out)
    assert "ampel360_cae_1_wing_loads" in data["entries"] and "atr_1neo_cad_latest_polars" in data["entries"]
    assert list(intake.from_yaml_file(str(out))) == data["entries"]
    human = CliRunner().invoke(cli, ["--home", str(env), "--user", "ana", "catalog", "export", str(out)])
    assert human.exit_code == 0 and "ampel360_cae_1_wing_loads" in human.output
    missing = CliRunner().invoke(cli, ["--home", str(tmp_path / "none"), "catalog", "export", str(out)])
    assert missing.exit_code == 4


# -- strict validation -----------------------------------------------------------------
def write_catalog(path: Path, kwargs: dict) -> Path:
    path.write_text(yaml.safe_dump({
        "version": 2, "metadata": {}, "user_parameters": {}, "data": {}, "aliases": {"e": "e"},
        "entries": {"e": {"reader": READER, "kwargs": kwargs, "output_instance": "xarray:Dataset",
                          "user_parameters": {}, "metadata": {}}},
    }))
    return path


@pytest.mark.parametrize("change, match", [
    ({"ref": "AMPEL360@CAD"}, "no freeze number.*latest: true"),
    ({"ref": "AMPEL360@CAD", "latest": False}, "no freeze number"),
    ({"ref": "AMPEL360@CAD#1", "latest": True}, "fixed freeze"),
    ({"ref": "AMPEL360@CAD", "latest": "yes"}, "latest must be true or false"),
    ({"ref": "AMPEL360-CAD#1"}, "not a frozen reference"),
    ({"ref": "AMPEL360@XYZ#1"}, "unknown phase"),
    ({"ref": "AMPEL360@CAD#0"}, "positive integer"),
    ({"ref": "AMPEL360@CAD#x"}, "positive integer"),
    ({"ref": "AMPEL 360@CAD#1"}, "invalid program name"),
    ({"ref": 1}, "frozen reference"),
    ({"ref": "8AEKSDR7AHDRG51DRXWG"}, "not a frozen reference"),
    ({"dataset": "wing-loads"}, "invalid dataset name"),
    ({"dataset": None}, "dataset must be"),
    ({"engine": "zarr"}, "unknown argument.*engine"),
    ({"user": "not a name"}, "invalid user name"),
    ({"storage_options": "endpoint"}, "storage_options must be a mapping"),
    ({"storage_options": {"endpoint_url": ["x"]}}, "storage option endpoint_url"),
    ({"workspace": ""}, "workspace must be"),
    ({"workspace": 7}, "workspace must be"),
])
def test_bad_catalog_entries_fail_clearly(env, tmp_path, change, match):
    kwargs = {"workspace": str(env), "ref": "AMPEL360@CAD#1", "dataset": "mass_breakdown", **change}
    cat = intake.from_yaml_file(str(write_catalog(tmp_path / "bad.yaml", kwargs)))
    with pytest.raises(pluma.InvalidInputError, match=match):
        cat["e"]


@pytest.mark.parametrize("missing", ["workspace", "ref", "dataset"])
def test_missing_arguments_fail_clearly(env, tmp_path, missing):
    kwargs = {"workspace": str(env), "ref": "AMPEL360@CAD#1", "dataset": "mass_breakdown"}
    del kwargs[missing]
    cat = intake.from_yaml_file(str(write_catalog(tmp_path / "bad.yaml", kwargs)))
    with pytest.raises(pluma.InvalidInputError, match=f"missing argument.*{missing}"):
        cat["e"]


@pytest.mark.parametrize("change, match", [
    ({"dataset": "nope"}, "no dataset 'nope'.*mass_breakdown"),
    ({"ref": "AMPEL360@CAD#9"}, "no frozen context.*AMPEL360@CAD#1"),
    ({"ref": "AMPEL360@CAS#1"}, "no frozen context"),
    ({"ref": "NOPE@CAD#1"}, "NOPE"),
])
def test_things_that_do_not_exist_are_not_found(env, tmp_path, change, match):
    kwargs = {"workspace": str(env), "ref": "AMPEL360@CAD#1", "dataset": "mass_breakdown", **change}
    reader = intake.from_yaml_file(str(write_catalog(tmp_path / "bad.yaml", kwargs)))["e"]
    with pytest.raises(pluma.NotFoundError, match=match):
        reader.read()


def test_latest_true_accepts_the_moving_reference(env, tmp_path):
    kwargs = {"workspace": str(env), "ref": "ATR-NEO@CAD", "latest": True, "dataset": "polars"}
    reader = intake.from_yaml_file(str(write_catalog(tmp_path / "ok.yaml", kwargs)))["e"]
    xr.testing.assert_identical(reader.read().load(), frozen_dataset(env, "ATR-NEO@CAD#2", "polars"))
    with pytest.raises(pluma.InvalidInputError, match="fixed freeze"):
        reader.read(ref="ATR-NEO@CAD#1")  # overrides at read time are validated too


def test_the_reader_refuses_positional_arguments_and_other_outputs():
    from pluma.catalog import PlumaFrozenDataset

    with pytest.raises(pluma.InvalidInputError):
        PlumaFrozenDataset("x", workspace="w", ref="A@CAD#1", dataset="d")
    with pytest.raises(pluma.InvalidInputError):
        PlumaFrozenDataset(workspace="w", ref="A@CAD#1", dataset="d", output_instance="pandas:DataFrame")
    reader = PlumaFrozenDataset(workspace="w", ref="A@CAD#1", dataset="d")
    assert reader.output_instance == "xarray:Dataset" and "A@CAD#1" in repr(reader)


# -- discovery -------------------------------------------------------------------------
def test_intake_finds_the_reader_through_entry_points_without_importing_pluma(env):
    code = textwrap.dedent(f"""
        import json, sys
        assert "pluma" not in sys.modules
        import intake
        from intake.readers.readers import BaseReader
        from intake.readers.utils import subclasses
        found = sorted(c.qname() for c in subclasses(BaseReader) if c.__module__.startswith("pluma"))
        cat = intake.from_yaml_file({str(DEMO_CATALOG)!r})
        ds = cat["ampel360_cae_1_wing_loads"].read()
        print(json.dumps({{"found": found, "vars": sorted(ds.data_vars)}}))
    """)
    env_vars = {"PLUMA_HOME": str(env), "PLUMA_USER": "ana", "PATH": "/usr/bin:/bin", "ICECHUNK_LOG": "error"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_vars, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["found"] == [READER]
    assert "bending_moment" in out["vars"]
