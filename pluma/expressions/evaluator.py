"""Tree-walking evaluator over the syntax tree (no Python eval/exec anywhere)."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any

import numpy as np
import pint

from ..errors import ExpressionError
from ..units import parse_unit, ureg
from . import functions
from . import nodes as n
from .diagnostics import error_at
from .values import EvalProblem, describe, is_array, kind_of, magnitude, to_python, unify

__all__ = ["evaluate_tree", "MAX_EXPONENT"]

MAX_EXPONENT = 100  # |exponent| allowed in a ** b

_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod}
_VERB = {"+": "add", "-": "subtract", "%": "take the remainder of"}
_COMPARE = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}
_NUMERIC_ERRORS = (TypeError, ValueError, ArithmeticError, pint.errors.PintError)


def evaluate_tree(tree: n.Node, env: Mapping[Any, Any], text: str) -> Any:
    """Evaluate ``tree``; ``env`` maps parameter names and (dataset, var) pairs to values."""
    with np.errstate(all="ignore"):
        try:
            return to_python(_Evaluator(env, text).visit(tree))
        except RecursionError:  # cannot happen within parse()'s depth limit; never crash
            raise ExpressionError(f"expression is too complex to evaluate: {text!r}") from None


class _Evaluator:
    def __init__(self, env: Mapping[Any, Any], text: str) -> None:
        self.env = env
        self.text = text

    def fail(self, pos: int, message: str) -> ExpressionError:
        return error_at(self.text, pos, message)

    def visit(self, node: n.Node) -> Any:
        match node:
            case n.Number(value=v, unit=None):
                return v
            case n.Number(value=v, unit=u):
                return ureg.Quantity(v, parse_unit(u))
            case n.String(value=v) | n.Bool(value=v):
                return v
            case n.Name(name=name):
                return self.env[name]
            case n.DatasetVar(dataset=ds, var=var):
                return self.env[(ds, var)]
            case n.Unary():
                return self.unary(node)
            case n.Binary(op="**"):
                return self.power(node)
            case n.Binary():
                return self.arith(node)
            case n.Compare():
                return self.compare(node)
            case n.BoolOp():
                return self.bool_op(node)
            case n.Not():
                return self.not_(node)
            case n.Call():
                return self.call(node)
        raise TypeError(f"unknown node {node!r}")  # pragma: no cover - parser builds only the above

    # -- arithmetic ------------------------------------------------------------
    def unary(self, node: n.Unary) -> Any:
        v = self.visit(node.operand)
        if kind_of(v) != "number":
            raise self.fail(node.pos, f"cannot apply unary '{node.op}' to {describe(v)}")
        return -v if node.op == "-" else v

    def arith(self, node: n.Binary) -> Any:
        a, b = self.visit(node.left), self.visit(node.right)
        if kind_of(a) != "number" or kind_of(b) != "number":
            raise self.fail(node.pos, f"cannot apply '{node.op}' to {describe(a)} and {describe(b)}")
        try:
            if node.op in _VERB:
                a, b = unify(a, n.is_bare(node.left), b, n.is_bare(node.right), _VERB[node.op])
            return _ARITH[node.op](a, b)
        except EvalProblem as p:
            raise self.fail(node.pos, str(p)) from None
        except ZeroDivisionError:
            raise self.fail(node.pos, "division by zero") from None
        except OverflowError:
            raise self.fail(node.pos, "number too large") from None
        except ExpressionError:
            raise
        except _NUMERIC_ERRORS as exc:
            raise self.fail(node.pos, f"cannot compute {describe(a)} {node.op} {describe(b)}: {exc}") from None

    def power(self, node: n.Binary) -> Any:
        a, b = self.visit(node.left), self.visit(node.right)
        if kind_of(a) != "number":
            raise self.fail(node.pos, f"cannot raise {describe(a)} to a power")
        if kind_of(b) != "number" or is_array(b):
            raise self.fail(node.pos, f"the exponent of '**' must be a single number, got {describe(b)}")
        if isinstance(b, pint.Quantity):
            if not b.dimensionless:
                raise self.fail(node.pos, f"the exponent of '**' must have no unit, got {describe(b)}")
            b = b.to("dimensionless").magnitude
        exp = float(b)
        if not math.isfinite(exp) or abs(exp) > MAX_EXPONENT:
            raise self.fail(node.pos, f"exponent {exp:g} is too large (the limit is {MAX_EXPONENT})")
        exponent: int | float = int(exp) if exp.is_integer() else exp
        base = _as_float(a)
        try:
            result = base**exponent
        except ZeroDivisionError:
            raise self.fail(node.pos, "division by zero (0 to a negative power)") from None
        except OverflowError:
            raise self.fail(node.pos, "number too large") from None
        except ExpressionError:
            raise
        except _NUMERIC_ERRORS as exc:
            raise self.fail(node.pos, f"cannot compute {describe(a)} ** {exponent}: {exc}") from None
        m = magnitude(result)
        if isinstance(m, complex) or (isinstance(m, np.ndarray) and m.dtype.kind == "c"):
            raise self.fail(node.pos, f"{describe(a)} ** {exponent} is not a real number")
        return result

    # -- comparisons and logic -------------------------------------------------
    def compare(self, node: n.Compare) -> Any:
        left_node = node.operands[0]
        left = self.visit(left_node)
        result: Any = None
        for op, pos, right_node in zip(node.ops, node.op_pos, node.operands[1:]):
            right = self.visit(right_node)
            r = self.compare_pair(pos, op, left, n.is_bare(left_node), right, n.is_bare(right_node))
            result = r if result is None else self.combine("and", result, r, pos)
            if _is_false_scalar(result):
                return False
            left, left_node = right, right_node
        return result

    def compare_pair(self, pos: int, op: str, a: Any, a_bare: bool, b: Any, b_bare: bool) -> Any:
        ka, kb = kind_of(a), kind_of(b)
        try:
            if ka == kb == "number":
                a, b = unify(a, a_bare, b, b_bare, "compare")
            elif ka == kb == "bool":
                if op not in ("==", "!="):
                    raise EvalProblem(f"'{op}' cannot order true/false values; use == or !=")
            elif not (ka == kb == "text"):
                raise EvalProblem(f"cannot compare {describe(a)} with {describe(b)}")
            result = _COMPARE[op](a, b)
        except EvalProblem as p:
            raise self.fail(pos, str(p)) from None
        except ExpressionError:
            raise
        except _NUMERIC_ERRORS as exc:
            raise self.fail(pos, f"cannot compare {describe(a)} with {describe(b)}: {exc}") from None
        return to_python(result)

    def combine(self, op: str, a: Any, b: Any, pos: int) -> Any:
        if not is_array(a) and not is_array(b):
            return bool(a and b) if op == "and" else bool(a or b)
        try:
            return (np.logical_and if op == "and" else np.logical_or)(a, b)
        except ValueError as exc:
            raise self.fail(pos, f"cannot combine {describe(a)} '{op}' {describe(b)}: {exc}") from None

    def bool_op(self, node: n.BoolOp) -> Any:
        acc: Any = None
        for operand in node.operands:
            v = self.visit(operand)
            if kind_of(v) != "bool":
                raise self.fail(operand.pos, f"'{node.op}' needs true/false values, got {describe(v)}")
            acc = v if acc is None else self.combine(node.op, acc, v, node.pos)
            if not is_array(acc) and bool(acc) == (node.op == "or"):
                return bool(acc)  # short-circuit: false and ..., true or ...
        return acc

    def not_(self, node: n.Not) -> Any:
        v = self.visit(node.operand)
        if kind_of(v) != "bool":
            raise self.fail(node.pos, f"'not' needs a true/false value, got {describe(v)}")
        return np.logical_not(v) if is_array(v) else not v

    # -- functions -------------------------------------------------------------
    def call(self, node: n.Call) -> Any:
        args = [(self.visit(a), n.is_bare(a)) for a in node.args]
        try:
            return functions.call(node.func, args)
        except EvalProblem as p:
            raise self.fail(node.pos, str(p)) from None
        except ExpressionError:
            raise
        except _NUMERIC_ERRORS as exc:
            shown = ", ".join(describe(v) for v, _ in args)
            raise self.fail(node.pos, f"cannot compute {node.func}({shown}): {exc}") from None


def _is_false_scalar(v: Any) -> bool:
    return not is_array(v) and not bool(v)


def _as_float(v: Any) -> Any:
    """Powers are computed in floating point so that integer powers cannot grow without bound."""
    m = magnitude(v)
    if isinstance(m, np.ndarray):
        fm = m.astype(float) if m.dtype.kind in "iu" else m
    else:
        fm = float(m)
    if fm is m:
        return v
    return ureg.Quantity(fm, v.units) if isinstance(v, pint.Quantity) else fm
