"""Recursive-descent parser: tokens -> syntax tree (see nodes.py).

Grammar, loosest binding first::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := additive (("<" | "<=" | ">" | ">=" | "==" | "!=") additive)*
    additive   := term (("+" | "-") term)*
    term       := unary (("*" | "/" | "%") unary)*
    unary      := ("-" | "+") unary | power
    power      := primary ("**" unary)?
    primary    := NUMBER [UNIT | NAME ["**" ["-"] NUMBER]] | STRING | "true" | "false"
                | NAME "(" [expr ("," expr)*] ")"          (whitelisted functions only)
                | "datasets" "." NAME "." NAME | NAME | "(" expr ")"
"""

from __future__ import annotations

from contextlib import contextmanager

from ..errors import ExpressionError, UnitError
from ..units import parse_unit
from . import nodes as n
from .diagnostics import error_at
from .functions import ALLOWED, ARITY
from .lexer import END, KEYWORD, NAME, NUMBER, OP, STRING, UNIT, Token, tokenize

__all__ = ["parse_tree", "MAX_LENGTH", "MAX_NESTING", "MAX_DEPTH"]

MAX_LENGTH = 2000  # characters
MAX_NESTING = 50  # parentheses, calls, unary operators, powers inside each other
MAX_DEPTH = 100  # height of the syntax tree (long chains like a+b+c+... count too)

_COMPARE_OPS = ("<", "<=", ">", ">=", "==", "!=")
_VALUE = "a value (a number, text, name, function call or '(')"


def parse_tree(text: str) -> n.Node:
    """Parse ``text`` into a syntax tree; raise ExpressionError with a caret on any problem."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression is too long: {len(text)} characters (the limit is {MAX_LENGTH}); split it into several checks"
        )
    if not text.strip():
        raise ExpressionError("empty expression: write a condition such as 'span <= 36 m'")
    try:
        tree = _Parser(text).parse()
    except RecursionError:
        raise ExpressionError(f"expression is nested too deeply (the limit is {MAX_NESTING} levels)") from None
    if n.depth(tree) > MAX_DEPTH:
        raise ExpressionError(
            f"expression is too complex: more than {MAX_DEPTH} operations inside each other; split it into several checks"
        )
    return tree


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.nesting = 0

    # -- token helpers -------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def advance(self) -> Token:
        t = self.tokens[self.i]
        if t.kind != END:
            self.i += 1
        return t

    def at_op(self, *ops: str, tok: Token | None = None) -> bool:
        t = tok or self.tok
        return t.kind == OP and t.value in ops

    def at_kw(self, kw: str) -> bool:
        return self.tok.kind == KEYWORD and self.tok.value == kw

    def fail(self, message: str, pos: int | None = None) -> ExpressionError:
        return error_at(self.text, self.tok.pos if pos is None else pos, message)

    def expected(self, what: str) -> ExpressionError:
        return self.fail(f"expected {what}, found {self.tok.describe()}")

    @contextmanager
    def nested(self, tok: Token):
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.fail(f"expression is nested too deeply (the limit is {MAX_NESTING} levels)", tok.pos)
        try:
            yield
        finally:
            self.nesting -= 1

    # -- grammar -------------------------------------------------------------
    def parse(self) -> n.Node:
        node = self.or_expr()
        if self.tok.kind != END:
            if self.at_op(")"):
                raise self.fail("unmatched ')'")
            raise self.expected("an operator or the end of the expression")
        return node

    def or_expr(self) -> n.Node:
        return self._bool_chain("or", self.and_expr)

    def and_expr(self) -> n.Node:
        return self._bool_chain("and", self.not_expr)

    def _bool_chain(self, kw: str, operand) -> n.Node:
        first = operand()
        if not self.at_kw(kw):
            return first
        pos = self.tok.pos
        operands = [first]
        while self.at_kw(kw):
            self.advance()
            operands.append(operand())
        return n.BoolOp(pos, kw, tuple(operands))

    def not_expr(self) -> n.Node:
        if self.at_kw("not"):
            t = self.advance()
            with self.nested(t):
                return n.Not(t.pos, self.not_expr())
        return self.comparison()

    def comparison(self) -> n.Node:
        first = self.additive()
        operands, ops, positions = [first], [], []
        while self.at_op(*_COMPARE_OPS):
            t = self.advance()
            ops.append(t.value)
            positions.append(t.pos)
            operands.append(self.additive())
        if not ops:
            return first
        return n.Compare(positions[0], tuple(operands), tuple(ops), tuple(positions))

    def additive(self) -> n.Node:
        node = self.term()
        while self.at_op("+", "-"):
            t = self.advance()
            node = n.Binary(t.pos, t.value, node, self.term())
        return node

    def term(self) -> n.Node:
        node = self.unary()
        while self.at_op("*", "/", "%"):
            t = self.advance()
            node = n.Binary(t.pos, t.value, node, self.unary())
        return node

    def unary(self) -> n.Node:
        if self.at_op("-", "+"):
            t = self.advance()
            with self.nested(t):
                return n.Unary(t.pos, t.value, self.unary())
        return self.power()

    def power(self) -> n.Node:
        base = self.primary()
        if self.at_op("**"):
            t = self.advance()
            with self.nested(t):
                return n.Binary(t.pos, "**", base, self.unary())
        return base

    def primary(self) -> n.Node:
        t = self.tok
        if t.kind == NUMBER:
            self.advance()
            return self._number(t)
        if t.kind == STRING:
            self.advance()
            return n.String(t.pos, t.value)
        if t.kind == KEYWORD and t.value in ("true", "false"):
            self.advance()
            return n.Bool(t.pos, t.value == "true")
        if t.kind == NAME:
            if self.at_op("(", tok=self.peek()):
                return self._call()
            if t.value == "datasets":
                return self._dataset_var()
            self.advance()
            if self.at_op("."):
                raise self.fail("attribute access is not allowed: only datasets.NAME.VAR may contain '.'")
            return n.Name(t.pos, t.value)
        if self.at_op("("):
            self.advance()
            with self.nested(t):
                node = self.or_expr()
            if not self.at_op(")"):
                raise self.expected(f"')' to close the '(' at column {t.pos + 1}")
            self.advance()
            return node
        if t.kind == UNIT:
            raise self.fail("a unit in brackets must follow a number, e.g. 500 [kg/m**2]")
        raise self.expected(_VALUE)

    def _number(self, t: Token) -> n.Node:
        u = self.tok
        is_unit_name = u.kind == NAME and not self.at_op("(", ".", tok=self.peek())
        if u.kind != UNIT and not is_unit_name:
            return n.Number(t.pos, t.value)
        self.advance()
        unit = str(u.value)
        if u.kind == NAME and self.at_op("**"):  # 3 m**2 is 3 square metres, not (3 m)**2
            sign = "-" if self.at_op("-", tok=self.peek()) else ""
            exp = self.peek(2 if sign else 1)
            if exp.kind == NUMBER:
                if exp.value > 99:
                    raise self.fail(f"unit exponent {exp.value} is too large", exp.pos)
                unit = f"{unit}**{sign}{exp.value}"
                self.i += 3 if sign else 2
        try:
            parse_unit(unit)
        except UnitError:
            raise self.fail(
                f"unknown unit {unit!r} after the number {t.value}: use a unit pint understands, "
                "e.g. 30 m, 118 ft, 500 [kg/m**2]",
                u.pos,
            ) from None
        return n.Number(t.pos, t.value, unit)

    def _call(self) -> n.Node:
        name_tok = self.advance()
        name = name_tok.value
        if name not in ARITY:
            raise self.fail(f"unknown function {name!r}: the allowed functions are {', '.join(ALLOWED)}", name_tok.pos)
        open_tok = self.advance()  # "("
        args: list[n.Node] = []
        with self.nested(open_tok):
            if not self.at_op(")"):
                while True:
                    args.append(self.or_expr())
                    if not self.at_op(","):
                        break
                    self.advance()
        if not self.at_op(")"):
            raise self.expected(f"',' or ')' to close the call to {name}()")
        self.advance()
        low, high = ARITY[name]
        if len(args) < low or (high is not None and len(args) > high):
            want = f"exactly {low}" if low == high else f"at least {low}"
            plural = "" if low == 1 else "s"
            raise self.fail(f"{name}() takes {want} argument{plural}, got {len(args)}", name_tok.pos)
        return n.Call(name_tok.pos, name, tuple(args))

    def _dataset_var(self) -> n.Node:
        start = self.advance()  # "datasets"
        parts = []
        for what in ("a dataset name", "a variable name"):
            if not self.at_op("."):
                raise self.expected(f"'.' then {what} (write datasets.NAME.VAR)")
            self.advance()
            if self.tok.kind not in (NAME, KEYWORD):
                raise self.expected(f"{what} (write datasets.NAME.VAR)")
            parts.append(self.advance().value)
        if self.at_op("."):
            raise self.fail("datasets.NAME.VAR has exactly two parts after 'datasets'")
        if self.at_op("("):
            raise self.fail("dataset variables cannot be called")
        return n.DatasetVar(start.pos, parts[0], parts[1])
