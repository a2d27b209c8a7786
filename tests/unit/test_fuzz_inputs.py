"""Hypothesis fuzzing of every public entry point that takes outside input: names,
parameters, units, gate YAML and expressions, query filters, workspace URIs, CLI
arguments. Each must either work or raise a PlumaError with a message (the CLI: exit
code 2-5, never 70 "internal error"), and a refused call must leave the store as it
was (every branch tip and tag of every enclave compared before and after).

Deterministic (``derandomize=True``) and bounded (``max_examples``) so CI runs it the
same way every time in well under a minute.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pluma
from pluma.errors import PlumaError
from tests.conftest import fill_cad, make_program

FUZZ = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# -- strategies -------------------------------------------------------------------------------
WEIRD_NUMBERS = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, -1e308, 5e-324, 10**400, -(2**63),
                                 2**64, np.float32("nan"), np.int64(2**62), np.float64("inf"), complex(1, 2),
                                 np.array([1.0, 2.0]), np.datetime64("2026-01-01")])
WEIRD_TEXT = st.sampled_from([
    "", " ", "\x00", "a\x00b", "é", "Ä" * 3, "名前", "🛩️", "a" * 65, "a" * 300, "../../etc", "a/b", "a b", "CON",
    "__import__('os').system('true')", "${HOME}", "%s%n", "' OR 1=1 --", "\u202eabc", "\ud7ff", "a\nb", "1abc",
    "-x", "_x", "x-y", "None", "null", "true",
])
NAMES = st.one_of(WEIRD_TEXT, st.text(max_size=70), st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,70}", fullmatch=True),
                  st.none(), st.integers(), st.binary(max_size=8))
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | WEIRD_NUMBERS | WEIRD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8) | WEIRD_TEXT, inner, max_size=3),
    max_leaves=8,
)
UNITS = st.one_of(st.sampled_from([
    "m", "ft", "kg/m**2", "m**99999999", "m**1e308", "1e999 m", "m^^", "°C", "degC", "delta_degC", "m/0", "(m", "m)",
    "1/0", "__import__('os')", "m" * 500, "\x00", "NaN m", "nan", "inf ft", "-inf", "1e400 m", "-1e400 m",
    "3 furlong/fortnight", "0x10 m", "1_000 m", "m * s / s", "kg**0.5", "m**-400", "mile**(1/3)", "dimensionless",
    "%", "percent", "ppm", "", "1", "-",
]), st.text(max_size=16))
QUANTITIES = st.one_of(st.builds(lambda v, u: f"{v} {u}", st.floats() | st.integers() | WEIRD_NUMBERS, UNITS),
                       UNITS, WEIRD_NUMBERS, JSONISH)
DEEP = st.integers(min_value=1, max_value=4000)
EXPRESSIONS = st.one_of(
    st.text(max_size=60),
    st.sampled_from([
        "span > 30", "span >", "1 +", "()", "((((", "span[0]", "span.__class__", "__import__('os')",
        "datasets.mass_breakdown.mass", "datasets..x", "sum()", "max(1, 2, 3, 4, 5, 6)", "10**10**10", "2**2**2**2**2",
        "1e308 * 1e308", "1 / 0", "0 / 0", "-(-(-(1)))", "span > 1 [furlong]", "span > 1 [", "span > 1 [m**1e9]",
        "'a' < 1", "'a' + 1", "not not not true", "span if true else 1", "lambda: 1", "[x for x in y]",
        "abs(span - 1) <= 0.01 * span", "all(datasets.mass_breakdown.mass > 0)", "sqrt(-1)", "log(0)",
        "span > nan", "span == inf", "\x00", "span\n>\n1", "span > 1 and", "1 < 2 < 3 < 4 < 5",
    ]),
    DEEP.map(lambda d: "(" * d + "1" + ")" * d),
    DEEP.map(lambda d: "-" * d + "1"),
    DEEP.map(lambda d: "1" + " + 1" * d),
    DEEP.map(lambda d: "abs(" * d + "1" + ")" * d),
    DEEP.map(lambda d: "2" + "**2" * min(d, 60)),
)
YAML_DOCS = st.one_of(
    st.text(max_size=80),
    st.sampled_from([
        "!!python/object/apply:os.system ['echo pwned > /tmp/pluma-fuzz-pwned']",
        "!!python/name:os.system", "!!python/object:collections.OrderedDict {}", "phase: !!python/tuple [CAD]",
        "a: &a [*a, *a]", "&x [*x]", "phase: CAD\nchecks: [{id: x, expr: '1 +'}]", "phase: CAD\nchecks: {x: 1}",
        "phase: XYZ", "phase: CAD\napprovals: [{role: emperor}]", "phase: CAD\nrequires: {params: [1, 2]}",
        "phase: CAD\nchecks:\n  - id: a\n    expr: span > 1\n  - id: a\n    expr: span > 2",
        "phase: CAD\nchecks:\n  - id: x\n    expr: " + "(" * 300 + "1" + ")" * 300,
        "---\nphase: CAD\n---\nphase: CAE", "[1, 2, 3]", "~", "phase: CAD\nunknown: 1", "\t", "{{{",
        "phase: CAD\ntitle: " + "x" * 10000, "lol: &a [1]\nlol2: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
    ]),
)
GATE_DICTS = st.one_of(JSONISH, st.fixed_dictionaries(
    {"phase": st.sampled_from(["CAD", "CAE", "cad", "X", 1]) | JSONISH},
    optional={"checks": st.lists(st.fixed_dictionaries({"id": NAMES, "expr": EXPRESSIONS}), max_size=2) | JSONISH,
              "requires": st.fixed_dictionaries({}, optional={"params": st.lists(NAMES, max_size=2) | JSONISH,
                                                              "datasets": st.lists(NAMES, max_size=2) | JSONISH}),
              "approvals": st.lists(st.fixed_dictionaries({"role": NAMES}), max_size=2) | JSONISH,
              "title": JSONISH}))


def _weird_datasets():
    x = np.arange(4)
    return st.sampled_from([
        None, 1, "data", b"bytes", [1, 2], {"a": 1}, np.arange(3), xr.Dataset(),
        xr.Dataset({"v": ("x", np.array(["a", "bb", None, "c"], dtype=object))}, coords={"x": x}),
        xr.Dataset({"v": ("x", np.array([1 + 2j] * 4))}, coords={"x": x}),
        xr.Dataset({"v": ("x", np.array(["2026-01-01"] * 4, dtype="datetime64[ns]"))}, coords={"x": x}),
        xr.Dataset({"v": ("x", np.zeros(0))}),
        xr.Dataset({"a/b": ("x", np.ones(4))}),
        xr.Dataset({"../escape": ("x", np.ones(4))}),
        xr.Dataset({"v": (("x",), np.ones(4))}, attrs={"bad": {1, 2}}),
        xr.Dataset({"v": ("x/y", np.ones(4))}),
        xr.Dataset({"zarr.json": ("x", np.ones(4))}),
        xr.Dataset({"": ("x", np.ones(4))}),
        xr.Dataset({"v": ("x", np.full(4, np.nan))}, attrs={"nan": math.nan}),
        xr.DataArray(np.ones(3), dims="x"),
        xr.DataArray(np.ones(3), dims="x", name="a/b"),
    ])


# -- the workspace under test ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A workspace with one program frozen at CAD (now in CAE) and declared parameters."""
    path = tmp_path_factory.mktemp("fuzz") / "ws"
    admin = pluma.open(path, user="admin")
    admin.add_user("carl", itar_cleared=True)
    make_program(admin, "Fuzz")
    make_program(admin, "Vault", classification="ITAR", members={"carl": ["engineer", "program_manager"]})
    open_as = lambda user: pluma.open(path, user=user, create=False)  # noqa: E731
    open_as("pam").program("Fuzz").declare_params({
        "note": {"type": "str", "choices": ["a", "b"]}, "count": {"type": "int", "min": 0, "max": 10},
        "flag": {"type": "bool"}, "length": {"type": "float", "unit": "m", "min": 0}})
    fill_cad(open_as("ana").program("Fuzz").context)
    open_as("raj").program("Fuzz").gate().approve()
    open_as("raj").program("Fuzz").advance(message="fuzz baseline")
    return path


def fingerprint(root: Path) -> dict:
    """Every branch tip and tag of every enclave under ``root`` (but the audit trail, which
    records refusals on purpose), read afresh from storage."""
    import icechunk

    out = {}
    for folder in sorted((root / "enclaves").iterdir()):
        repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(folder)))
        # the audit branch records refusals too (by design): everything else must stay as it was
        out[folder.name] = ({b: repo.lookup_branch(b) for b in repo.list_branches() if b != "audit"},
                            {t: repo.lookup_tag(t) for t in repo.list_tags()})
    return out


def attempt(home: Path, call, *, may_change: bool = False):
    """Run ``call``: it works, or raises a PlumaError with a message and changes nothing."""
    before = fingerprint(home)
    try:
        return call()
    except PlumaError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        assert fingerprint(home) == before, f"a refused call changed the store: {exc}"
        return exc
    finally:
        if not may_change:
            assert fingerprint(home) == before


def ws_as(home: Path, user: str = "admin") -> pluma.Workspace:
    return pluma.open(home, user=user, create=False)


# -- workspace URIs and users -----------------------------------------------------------------------
@FUZZ
@given(uri=st.one_of(NAMES, st.sampled_from(["s3://", "s3:///x", "s3://b", "http://x/y", "file://", "file:///",
                                             "gs://b/p", "s3://bucket/pre\x00fix", "~nobody/x", "/dev/null",
                                             "/proc/self/mem", "/etc/passwd", "\\\\server\\share"])),
       options=st.one_of(st.none(), st.dictionaries(st.text(max_size=20) | st.sampled_from(
           ["endpoint_url", "region", "allow_http", "force_path_style", "access_key_id", "anonymous"]),
           JSONISH, max_size=3), JSONISH),
       user=st.one_of(st.none(), NAMES))
def test_open_takes_any_location_and_options(home, tmp_path, monkeypatch, uri, options, user):
    from pluma.memory import parse_root

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    try:
        root = parse_root(uri, options)
    except PlumaError as exc:
        assert str(exc).strip()
        return
    if not root.is_local:
        return  # a well-formed s3:// root: opening it would reach out to the network
    try:
        pluma.open(uri, user=user, storage_options=options, create=False)
    except PlumaError as exc:
        assert str(exc).strip()
    assert not any(tmp_path.iterdir()), "create=False made something"


@FUZZ
@given(name=NAMES, display=st.one_of(st.none(), NAMES), admin=JSONISH, cleared=JSONISH)
def test_add_and_set_user(home, name, display, admin, cleared):
    ws = ws_as(home)
    attempt(home, lambda: ws.add_user(name, display_name=display, admin=admin, itar_cleared=cleared),
            may_change=True)
    attempt(home, lambda: ws.set_user(name, display_name=display, admin=admin, itar_cleared=cleared),
            may_change=True)
    # a non-admin never changes the registry
    attempt(home, lambda: ws_as(home, "ana").add_user(name, admin=True))


# -- programs -------------------------------------------------------------------------------------------
@FUZZ
@given(name=NAMES, classification=st.one_of(st.sampled_from(["ITAR", "itar", "EAR", "SECRET", ""]), JSONISH),
       priority=st.one_of(st.sampled_from(["research", "defense", "standard", "urgent"]), JSONISH),
       domains=st.one_of(st.lists(st.sampled_from(["AAA", "PPP", "aaa", "ZZZ", ""]) | NAMES, max_size=3), JSONISH),
       quotas=st.one_of(st.none(), st.dictionaries(st.sampled_from(["cores", "memory_gb", "storage_gb", "gpus"])
                                                   | st.text(max_size=8), JSONISH, max_size=3), JSONISH),
       members=st.one_of(st.none(), st.dictionaries(NAMES.filter(lambda n: isinstance(n, str)),
                                                    st.lists(st.sampled_from(["engineer", "viewer", "god"]),
                                                             max_size=2) | JSONISH, max_size=2), JSONISH),
       storage=st.one_of(st.none(), NAMES))
def test_create_program(home, name, classification, priority, domains, quotas, members, storage):
    ws = ws_as(home)
    attempt(home, lambda: ws.create_program(name, classification=classification, priority=priority,
                                            domains=domains, quotas=quotas, members=members,
                                            storage=storage if storage is None else f"{home}-vault/{storage}"),
            may_change=True)


@FUZZ
@given(name=NAMES, ref=st.one_of(NAMES, st.sampled_from(["Fuzz@CAD", "Fuzz@CAD#1", "Fuzz@CAD#0", "Fuzz@CAD#-1",
                                                          "Fuzz@CAD#x", "Fuzz@@CAD", "@", "#", "Vault@CAD",
                                                          "Fuzz@CAD#99999999999999999999", "fuzz@cad#1 "])))
def test_program_and_frozen_lookups(home, name, ref):
    ws = ws_as(home)
    for call in (lambda: ws.program(name), lambda: ws.frozen(ref), lambda: ws.program("Fuzz").frozen(ref)):
        attempt(home, call)


# -- the working context --------------------------------------------------------------------------------
@FUZZ
@given(values=st.dictionaries(st.sampled_from(["span", "note", "count", "flag", "length", "mtow", "message",
                                                "label", "nope"]) | st.text(max_size=10), QUANTITIES,
                              min_size=1, max_size=3),
       label=st.one_of(st.none(), st.sampled_from(["PUBLIC", "ITAR", "EAR", "x"]), JSONISH))
def test_set_params_values_and_units(home, values, label):
    ctx = ws_as(home, "ana").program("Fuzz").context
    values = {k: v for k, v in values.items() if k not in ("message", "label")}
    if not values:
        return
    attempt(home, lambda: ctx.set_params(label=label, **values), may_change=True)


@FUZZ
@given(name=NAMES, ds=_weird_datasets(), label=st.one_of(st.none(), JSONISH))
def test_put_dataset_of_any_kind(home, name, ds, label):
    ctx = ws_as(home, "ana").program("Fuzz").context
    result = attempt(home, lambda: ctx.put_dataset(name, ds, label=label), may_change=True)
    if not isinstance(result, PlumaError):  # it was stored: it reads back
        stored = ws_as(home, "ana").program("Fuzz").context.dataset(name)
        assert set(stored.data_vars)


@FUZZ
@given(name=NAMES, data=st.one_of(st.binary(max_size=64), NAMES, JSONISH), filename=st.one_of(st.none(), NAMES))
def test_attach(home, name, data, filename):
    ctx = ws_as(home, "ana").program("Fuzz").context
    attempt(home, lambda: ctx.attach(name, data, filename=filename if isinstance(filename, str) else None),
            may_change=True)


@FUZZ
@given(declarations=st.one_of(JSONISH, st.dictionaries(
    NAMES.filter(lambda n: isinstance(n, str)),
    st.one_of(JSONISH, st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["float", "int", "bool", "str", "complex"]) | JSONISH, "unit": UNITS | JSONISH,
        "min": WEIRD_NUMBERS | JSONISH, "max": WEIRD_NUMBERS | JSONISH, "choices": JSONISH,
        "description": JSONISH})), min_size=1, max_size=2)))
def test_declare_params(home, declarations):
    program = ws_as(home, "pam").program("Fuzz")
    attempt(home, lambda: program.declare_params(declarations), may_change=True)


# -- gates and expressions --------------------------------------------------------------------------------
@FUZZ
@given(phase=st.one_of(st.sampled_from(["CAD", "CAE", "cae", "CAS", "XYZ", ""]), JSONISH),
       definition=st.one_of(YAML_DOCS, GATE_DICTS))
def test_set_gate(home, phase, definition):
    program = ws_as(home, "pam").program("Fuzz")
    attempt(home, lambda: program.set_gate(phase, definition), may_change=True)
    assert not Path("/tmp/pluma-fuzz-pwned").exists()


@FUZZ
@given(text=EXPRESSIONS, values=st.dictionaries(st.sampled_from(["span", "mtow", "x"]), QUANTITIES, max_size=3))
def test_expressions_parse_and_evaluate(text, values):
    from pluma.expressions import MappingResolver, parse
    from pluma.units import to_unit

    try:
        expression = parse(text)
    except PlumaError as exc:
        assert str(exc).strip()
        return
    resolved = {}
    for key, value in values.items():
        try:
            resolved[key] = to_unit(value, "m", name=key) * pluma.units.registry().m
        except PlumaError:
            resolved[key] = value if isinstance(value, (str, bool, int, float)) else None
    try:
        result = expression.evaluate(MappingResolver({k: v for k, v in resolved.items() if v is not None}))
        result.passed  # noqa: B018 - reading it must not raise either
    except PlumaError as exc:
        assert str(exc).strip()


@FUZZ
@given(where=st.one_of(st.none(), EXPRESSIONS, JSONISH),
       params=st.one_of(st.none(), NAMES, st.lists(NAMES, max_size=3), JSONISH),
       since=st.one_of(st.none(), NAMES, st.datetimes(), st.sampled_from(["2026-13-01", "2026-02-30T25:00", "now"])),
       program=st.one_of(st.none(), NAMES, st.lists(NAMES, max_size=2)),
       phase=st.one_of(st.none(), NAMES, st.lists(NAMES, max_size=2)))
def test_query_filters(home, where, params, since, program, phase):
    ws = ws_as(home, "ana")
    result = attempt(home, lambda: ws.query(where=where, params=params, since=since, program=program, phase=phase))
    if not isinstance(result, PlumaError):
        assert "Vault" not in set(result["program"])  # never a program ana may not read


# -- clones ------------------------------------------------------------------------------------------------
@FUZZ
@given(name=NAMES, overrides=st.one_of(st.none(), JSONISH, st.dictionaries(
    st.sampled_from(["span", "note", "count", "flag", "length", "nope"]) | st.text(max_size=6), QUANTITIES,
    max_size=2)), dataset_overrides=st.one_of(st.none(), st.dictionaries(NAMES.filter(lambda n: isinstance(n, str)),
                                                                       _weird_datasets(), max_size=1)),
       extra=st.dictionaries(st.sampled_from(["classification", "priority", "domains", "quotas", "members", "x"]),
                             JSONISH, max_size=2))
def test_clone_overrides(home, name, overrides, dataset_overrides, extra):
    frozen = ws_as(home).frozen("Fuzz@CAD#1")
    attempt(home, lambda: frozen.clone(name, overrides=overrides, dataset_overrides=dataset_overrides, **extra),
            may_change=True)


# -- the command line -------------------------------------------------------------------------------------
TOKENS = st.sampled_from([
    "program", "create", "list", "show", "context", "set", "get", "frozen", "query", "gate", "evaluate", "user",
    "add", "advance", "--where", "--param", "--since", "--phase", "--json", "--member", "--classification",
    "--storage-option", "Fuzz", "Vault", "Nope", "span=36", "span=1e999", "span=nan m", "span", "=", "--", "-x",
    "note=c", "count=3.5", "ITAR", "ana=god", "span > 1", "((", "CAD", "Fuzz@CAD#1", "2026-13-01", "--help",
    "catalog", "export", "kpis", "diff",
])


@settings(FUZZ, max_examples=60)
@given(argv=st.lists(st.one_of(TOKENS, st.text(max_size=12)), min_size=1, max_size=6),
       user=st.sampled_from(["admin", "ana", "zed", "carl"]))
def test_cli_arguments(home, argv, user):
    from click.testing import CliRunner

    from pluma.cli import cli

    before = fingerprint(home)
    result = CliRunner().invoke(cli, ["--home", str(home), "--user", user, *argv], catch_exceptions=True)
    assert result.exit_code != 70, f"internal error for {argv}: {result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (argv, result.exception)
    if result.exit_code not in (0, 1):
        assert result.output.strip(), f"exit {result.exit_code} without a message for {argv}"
        assert fingerprint(home) == before, f"a refused command changed the store: {argv}"
