"""The gate-check / query expression language (pluma.expressions)."""

from __future__ import annotations

import ast
import pathlib
import re

import numpy as np
import pytest

import pluma.expressions as expressions
from pluma.errors import ExpressionError, PlumaError
from pluma.expressions import (
    FUNCTIONS,
    MAX_LENGTH,
    Evaluation,
    MappingResolver,
    MissingValue,
    Resolver,
    parse,
)
from pluma.units import ureg


@pytest.fixture
def resolver() -> MappingResolver:
    return MappingResolver(
        {
            "span": 36 * ureg.m,
            "mass": 500 * ureg.kg,
            "taper": 0.3,
            "n_engines": 4,
            "status": "approved",
            "certified": True,
        },
        {
            "wing_loads": {
                "margin_of_safety": np.linspace(0.12, 2.3, 40),
                "stress": ureg.Quantity(np.array([100.0, 180.0, 250.0]), "MPa"),
            },
            "test_results": {
                "passed": np.array([True, False, True]),
                "critical": np.array([False, False, True]),
            },
        },
    )


def value(text: str, resolver: MappingResolver | None = None):
    return parse(text).evaluate(resolver or MappingResolver()).value


def error(text: str, resolver: MappingResolver | None = None) -> str:
    with pytest.raises(ExpressionError) as info:
        parse(text).evaluate(resolver or MappingResolver())
    return str(info.value)


# -- grammar ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),  # left associative
        ("8 / 4 / 2", 1.0),
        ("7 % 4", 3),
        ("-2 ** 2", -4.0),  # ** binds tighter than unary minus
        ("2 ** -1", 0.5),
        ("2 ** 3 ** 2", 512.0),  # ** is right associative
        ("2 * 3 ** 2", 18.0),
        ("1e-3 * 1000", 1.0),
        (".5 + 1.", 1.5),
        ("- - 3", 3),
        ("not true or true", True),  # (not true) or true
        ("true or false and false", True),  # and binds tighter than or
        ("not 1 > 2", True),  # comparison binds tighter than not
        ("1 + 1 == 2 and 2 * 2 == 4", True),
        ("'wing' == \"wing\"", True),
        ("'it\\'s' == \"it's\"", True),
    ],
)
def test_precedence_and_literals(text, expected):
    result = value(text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(("taper", "expected"), [(0.3, True), (0.2, True), (0.6, False), (0.1, False)])
def test_chained_comparison_is_and_of_pairs(taper, expected):
    assert value("0.2 <= taper <= 0.5", MappingResolver({"taper": taper})) is expected


def test_chained_comparison_mixes_operators():
    assert value("1 < 2 < 3 > 2 != 5") is True
    assert value("1 < 3 < 2") is False


def test_names_and_dataset_refs_are_collected():
    expr = parse("span > 30 m and min(datasets.wing_loads.margin_of_safety) > taper or span < max(1, 2)")
    assert expr.text.startswith("span > 30 m")
    assert expr.names == frozenset({"span", "taper"})  # functions are not names
    assert expr.dataset_refs == frozenset({("wing_loads", "margin_of_safety")})


def test_parse_is_cached_and_rejects_non_text():
    assert parse("span > 3") is parse("span > 3")
    with pytest.raises(ExpressionError, match="must be text"):
        parse(42)  # type: ignore[arg-type]


# -- units --------------------------------------------------------------------------


def test_quantities_convert_in_comparisons(resolver):
    assert value("span > 100 ft", resolver) is True
    assert value("span > 120 ft", resolver) is False
    assert value("span == 3600 cm", resolver) is True
    assert value("span + 10 ft > 39 m", resolver) is True  # 36 m + 3.048 m
    assert value("mass / (2 m**2) == 250 [kg/m**2]", resolver) is True


def test_quantity_literal_forms():
    assert value("3 m**2 == 3 [m**2]") is True  # the exponent belongs to the unit
    assert value("(3 m)**2 == 9 [m**2]") is True
    assert value("2 m**-1 == 2 [1/m]") is True
    assert value("9.81 [m/s^2] > 30 [ft/s**2]") is True
    assert value("1.5e3 m == 1.5 km") is True


def test_incompatible_units_name_both_units(resolver):
    message = error("span > 3 kg", resolver)
    assert "incompatible units" in message
    assert "m ([length])" in message and "kg ([mass])" in message
    assert "column 6" in message
    assert "kg" in error("span + mass", resolver)


def test_plain_number_parameter_is_not_silently_given_a_unit(resolver):
    assert "no unit" in error("span > n_engines", resolver)


def test_bare_numbers_take_the_declared_unit(resolver):
    assert value("span > 30", resolver) is True  # 30 m
    assert value("span < 40", resolver) is True
    assert value("span + 4 == 40 m", resolver) is True
    assert value("span / 2 > 17", resolver) is True  # 18 m > 17 m
    assert value("max(span, 40) == 40 m", resolver) is True
    assert value("min(span, 100 ft) < 31 m", resolver) is True
    doubled = value("span * 2", resolver)  # in * and / a bare number is a pure scalar
    assert doubled == 72 * ureg.m
    assert value("max(datasets.wing_loads.stress) < 300", resolver) is True  # 300 MPa
    assert value("temp > 10", MappingResolver({"temp": ureg.Quantity(20, "degC")})) is True


def test_unknown_unit_is_a_syntax_error():
    message = error("span > 30 parsecs_per_fortnight")
    assert "unknown unit 'parsecs_per_fortnight'" in message and "column 11" in message


# -- datasets -----------------------------------------------------------------------


def test_array_reductions(resolver):
    assert value("all(datasets.wing_loads.margin_of_safety >= 0)", resolver) is True
    assert value("any(datasets.wing_loads.margin_of_safety > 2.5)", resolver) is False
    assert value("min(datasets.wing_loads.margin_of_safety)", resolver) == pytest.approx(0.12)
    assert value("max(datasets.wing_loads.margin_of_safety)", resolver) == pytest.approx(2.3)
    assert value("mean(datasets.wing_loads.margin_of_safety)", resolver) == pytest.approx(1.21)
    assert value("len(datasets.wing_loads.margin_of_safety)", resolver) == 40
    assert value("sum(datasets.test_results.passed)", resolver) == 2
    assert value("max(1, 5, 3)") == 5
    assert value("abs(-3 m) == 3 m") is True


def test_quantity_array_reductions_keep_units(resolver):
    assert value("max(datasets.wing_loads.stress) < 0.3 GPa", resolver) is True
    mean = value("mean(datasets.wing_loads.stress)", resolver)
    assert mean.units == ureg.MPa and mean.magnitude == pytest.approx(530 / 3)
    assert value("sum(datasets.wing_loads.stress) == 530 MPa", resolver) is True
    assert value("all(datasets.wing_loads.stress * 2 <= 500 MPa)", resolver) is True
    assert "incompatible units" in error("all(datasets.wing_loads.stress < 3 m)", resolver)


def test_elementwise_boolean_operations(resolver):
    check = "all(datasets.test_results.passed or not datasets.test_results.critical)"
    assert value(check, resolver) is True
    failing = MappingResolver(
        datasets={"test_results": {"passed": np.array([True, False]), "critical": np.array([False, True])}}
    )
    assert value(check, failing) is False
    assert value("any(datasets.test_results.passed and datasets.test_results.critical)", resolver) is True
    both = value("datasets.test_results.passed and not datasets.test_results.critical", resolver)
    assert both.tolist() == [True, False, False]
    assert value("all(0.1 <= datasets.wing_loads.margin_of_safety <= 2.5)", resolver) is True
    assert "broadcast" in error(
        "all(datasets.test_results.passed and datasets.wing_loads.margin_of_safety > 0)", resolver
    )


def test_empty_array_has_no_min():
    r = MappingResolver(datasets={"d": {"v": np.array([])}})
    assert "empty" in error("min(datasets.d.v) > 0", r)


# -- evaluation results -------------------------------------------------------------


def test_evidence_is_human_readable(resolver):
    result = parse(
        "span > 30 and status == 'approved' and certified and taper < 1 "
        "and all(datasets.wing_loads.margin_of_safety >= 0) and max(datasets.wing_loads.stress) < 300 "
        "and any(datasets.test_results.passed)"
    ).evaluate(resolver)
    assert result.passed is True
    assert result.evidence == {
        "span": "36 m",
        "status": "'approved'",
        "certified": "true",
        "taper": "0.3",
        "datasets.wing_loads.margin_of_safety": "min 0.12, max 2.3 (40 values)",
        "datasets.wing_loads.stress": "min 100 MPa, max 250 MPa (3 values)",
        "datasets.test_results.passed": "2 of 3 true",
    }
    assert list(result.evidence) == ["span", "status", "certified", "taper"] + list(result.evidence)[4:]


def test_missing_values_do_not_crash_and_do_not_pass(resolver):
    result = parse("span > 30 and chord > 2 m and all(datasets.cfd.cl > 0)").evaluate(resolver)
    assert isinstance(result, Evaluation)
    assert result.value is None
    assert result.passed is False
    assert result.truth() is False
    assert result.missing == ["chord", "datasets.cfd.cl"]
    assert result.evidence == {"span": "36 m", "chord": "missing", "datasets.cfd.cl": "missing"}


def test_missing_value_short_circuits_type_errors():
    assert parse("'abc' + nothing").evaluate(MappingResolver()).missing == ["nothing"]
    assert parse("x > 1").evaluate(MappingResolver({"x": None})).missing == ["x"]


def test_truth_requires_a_single_boolean(resolver):
    assert parse("span > 30").evaluate(resolver).truth() is True
    with pytest.raises(ExpressionError, match="must be true or false.*quantity 36 m"):
        parse("span").evaluate(resolver).truth()
    result = parse("datasets.wing_loads.margin_of_safety > 0").evaluate(resolver)
    assert result.passed is False
    with pytest.raises(ExpressionError, match=r"all\(...\) or any\(...\)"):
        result.truth()


def test_custom_resolver_protocol():
    class Fixed:
        def param(self, name):
            if name != "span":
                raise MissingValue(name)
            return 40 * ureg.m

        def dataset_var(self, dataset, var):
            raise MissingValue(f"datasets.{dataset}.{var}")

    assert isinstance(Fixed(), Resolver)
    assert parse("span >= 40").evaluate(Fixed()).passed is True
    assert parse("all(datasets.a.b)").evaluate(Fixed()).missing == ["datasets.a.b"]
    assert not issubclass(MissingValue, PlumaError)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("'abc' + 3", "cannot apply '+' to text 'abc' and number 3"),
        ("status > 3", "cannot compare text 'approved' with number 3"),
        ("not n_engines", "'not' needs a true/false value, got number 4"),
        ("certified < true", "cannot order true/false values"),
        ("len(n_engines)", "len() needs an array or text"),
        ("all(datasets.wing_loads.margin_of_safety)", "all() needs true/false values"),
        ("1 / 0", "division by zero"),
        ("(-8) ** 0.5", "not a real number"),
    ],
)
def test_type_errors_are_explained(resolver, text, fragment):
    message = error(text, resolver)
    assert fragment in message
    assert isinstance(ExpressionError(message), ValueError)


# -- syntax errors ------------------------------------------------------------------


def test_syntax_error_shows_column_caret_and_expectation():
    with pytest.raises(ExpressionError) as info:
        parse("span + * 3")
    err = info.value
    assert err.column == 8
    lines = str(err).splitlines()
    assert lines[0].startswith("expected a value") and "found '*'" in lines[0] and "column 8" in lines[0]
    assert lines[1].strip() == "span + * 3"
    assert lines[2].index("^") == lines[1].index("*")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("(span > 3", "expected ')' to close the '(' at column 1"),
        ("span > 3)", "unmatched ')'"),
        ("span 3", "expected an operator or the end of the expression"),
        ("span = 3", "use '=='"),
        ("True", "write true in lowercase"),
        ("'open", "unterminated text"),
        ("x && y", "use 'and'"),
        ("datasets.wing_loads", "expected '.' then a variable name"),
        ("min()", "min() takes at least 1 argument, got 0"),
        ("", "empty expression"),
    ],
)
def test_syntax_error_messages(text, fragment):
    assert fragment in error(text)


def test_multiline_error_reports_line_and_column():
    assert "line 2, column 3" in error("span > 1 and\n  * 2")


def test_unknown_function_lists_the_allowed_ones():
    message = error("median(datasets.a.b) > 0")
    assert "unknown function 'median'" in message
    assert "abs, all, any, len, max, mean, min, sum" in message
    assert FUNCTIONS == ("abs", "all", "any", "len", "max", "mean", "min", "sum")


# -- hostile input ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "__import__('os').system('true')",
        "().__class__",
        "().__class__.__bases__[0].__subclasses__()",
        "span.__class__",
        "''.join(x)",
        "lambda: 1",
        "lambda x: x",
        "[x for x in y]",
        "x[0]",
        "{'a': 1}",
        "eval('1')",
        "exec('1')",
        "compile('1', 'f', 'eval')",
        "open('/etc/passwd')",
        "getattr(span, 'real')",
        "a if b else c",
        "x := 1",
        "1; 2",
        "f'{x}'",
        "`x`",
        "30 [10**10**10]",
        "30 [m**99999999]",
        "datasets.a.b.__class__",
    ],
)
def test_refuses_python_tricks(text):
    with pytest.raises(ExpressionError):
        parse(text).evaluate(MappingResolver({"x": 1, "y": 2, "span": 3}))


def test_refuses_very_long_input():
    with pytest.raises(ExpressionError, match="too long"):
        parse("1 + " * (MAX_LENGTH // 4) + "1")


@pytest.mark.parametrize(
    "text",
    ["(" * 200 + "1" + ")" * 200, "-" * 500 + "1", "not " * 200 + "true", "abs(" * 100 + "1" + ")" * 100, "1 + " * 400 + "1"],
)
def test_refuses_deep_nesting(text):
    with pytest.raises(ExpressionError, match="nested too deeply|too complex"):
        parse(text)


def test_accepts_reasonable_nesting():
    assert value("(" * 40 + "1" + ")" * 40) == 1


@pytest.mark.parametrize("text", ["2 ** 10000", "9 ** 9 ** 9", "(10 ** 99) ** 99", "2 ** 1e300"])
def test_refuses_huge_exponents(text):
    with pytest.raises(ExpressionError, match="too large"):
        value(text)


def test_package_never_calls_eval_exec_or_compile():
    forbidden = {"eval", "exec", "compile", "__import__"}
    package = pathlib.Path(expressions.__file__).parent
    sources = sorted(package.glob("*.py"))
    assert len(sources) >= 4
    for path in sources:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                owner = getattr(getattr(func, "value", None), "id", None)
                assert not (isinstance(func, ast.Name) and name in forbidden), f"{path.name}:{node.lineno} calls {name}"
                assert not (owner == "builtins" and name in forbidden), f"{path.name}:{node.lineno}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert "ast" not in modules, f"{path.name} imports ast"
        assert not re.search(r"\bbuiltins\b", path.read_text()), path.name
