"""Parsed expressions and their evaluation results."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import ExpressionError
from . import nodes as n
from .evaluator import evaluate_tree
from .parser import parse_tree
from .resolver import MissingValue, Resolver
from .values import EvalProblem, describe, format_value, is_array, normalize

__all__ = ["Expression", "Evaluation", "parse"]


@dataclass(frozen=True)
class Evaluation:
    """The outcome of :meth:`Expression.evaluate`.

    ``value`` is a Python bool/int/float/str, a numpy array or a pint Quantity, or
    None when something was missing. ``evidence`` maps every referenced name to a
    readable value ("36 m", "min 0.12, max 2.3 (40 values)", "missing").
    ``missing`` lists the referenced names the resolver had no value for.
    """

    text: str
    value: Any
    evidence: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True only when nothing was missing and the value is the boolean ``true``."""
        return not self.missing and self.value is True

    def truth(self) -> bool:
        """The value as a check result: False when something is missing, else the boolean value.

        Raises ExpressionError when the expression does not give a single true/false
        (e.g. a number, or an array that needs all(...) or any(...)).
        """
        if self.missing:
            return False
        if isinstance(self.value, bool):
            return self.value
        hint = " (wrap it in all(...) or any(...))" if is_array(self.value) else ""
        raise ExpressionError(
            f"a check must be true or false, but {self.text!r} gives {describe(self.value)}{hint}"
        )


@dataclass(frozen=True)
class Expression:
    """A parsed expression; immutable and safe to share. Build it with :func:`parse`."""

    text: str
    tree: n.Node = field(repr=False)
    references: tuple[str, ...] = field(repr=False)  # labels in order of first appearance
    names: frozenset[str] = field(repr=False)
    dataset_refs: frozenset[tuple[str, str]] = field(repr=False)

    def evaluate(self, resolver: Resolver) -> Evaluation:
        """Evaluate with values from ``resolver``.

        Every referenced value is looked up first. If any is missing, nothing is
        computed: the result has ``value=None``, ``passed=False`` and ``missing``
        filled. Type and unit errors raise ExpressionError.
        """
        env: dict[Any, Any] = {}
        evidence: dict[str, str] = {}
        missing: list[str] = []
        for label, key in _lookups(self.tree):
            if key in env or label in missing:
                continue
            try:
                raw = resolver.param(key) if isinstance(key, str) else resolver.dataset_var(*key)
                value = normalize(raw)
            except MissingValue:
                value = None
            except EvalProblem as p:
                raise ExpressionError(f"{label} {p} (in {self.text!r})") from None
            if value is None:
                missing.append(label)
            else:
                env[key] = value
            evidence[label] = format_value(value)
        if missing:
            return Evaluation(self.text, None, evidence, missing)
        return Evaluation(self.text, evaluate_tree(self.tree, env, self.text), evidence, [])

    def __str__(self) -> str:
        return self.text


def _lookups(tree: n.Node):
    """(label, env key) for each name reference in order: 'span' -> 'span'; datasets.a.b -> ('a', 'b')."""
    for node in n.walk(tree):
        if isinstance(node, n.Name):
            yield node.name, node.name
        elif isinstance(node, n.DatasetVar):
            yield node.label, (node.dataset, node.var)


def parse(text: str) -> Expression:
    """Parse a gate-check or query expression.

    The language has numbers, quantities (``30 m``, ``118 ft``, ``500 [kg/m**2]``),
    text in quotes, ``true``/``false``, parameter names, dataset variables
    ``datasets.NAME.VAR``, ``+ - * / % **``, comparisons (chainable),
    ``and or not``, parentheses and the functions abs, all, any, len, max, mean,
    min, sum. A bare number next to a quantity takes its unit. Nothing is ever
    handed to Python's eval: the text is tokenized and parsed into a small tree.

    Raises ExpressionError (with the column and a caret line) when the text does
    not parse, names an unknown function or unit, or exceeds the size limits.

    Examples
    --------
    >>> from pluma.units import ureg
    >>> from pluma.expressions import MappingResolver
    >>> expr = parse("span <= 120 ft and 0.2 <= taper <= 0.5")
    >>> sorted(expr.names)
    ['span', 'taper']
    >>> result = expr.evaluate(MappingResolver({"span": 36 * ureg.m, "taper": 0.3}))
    >>> result.passed, result.evidence
    (True, {'span': '36 m', 'taper': '0.3'})
    >>> parse("all(datasets.wing_loads.margin_of_safety >= 0)").dataset_refs
    frozenset({('wing_loads', 'margin_of_safety')})
    >>> parse("span > 30").evaluate(MappingResolver({})).missing
    ['span']
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, got {type(text).__name__}")
    return _parse_cached(text)


@lru_cache(maxsize=1024)
def _parse_cached(text: str) -> Expression:
    tree = parse_tree(text)
    labels: list[str] = []
    names: set[str] = set()
    refs: set[tuple[str, str]] = set()
    for label, key in _lookups(tree):
        if label not in labels:
            labels.append(label)
        if isinstance(key, str):
            names.add(key)
        else:
            refs.add(key)
    return Expression(text, tree, tuple(labels), frozenset(names), frozenset(refs))
