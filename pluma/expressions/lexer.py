"""Tokenizer: expression text -> list of tokens (never evaluates anything)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .diagnostics import error_at

__all__ = ["Token", "tokenize", "KEYWORDS", "NUMBER", "STRING", "NAME", "KEYWORD", "UNIT", "OP", "END"]

NUMBER, STRING, NAME, KEYWORD, UNIT, OP, END = "number", "string", "name", "keyword", "unit", "op", "end"

KEYWORDS = frozenset({"and", "or", "not", "true", "false"})

_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_INTEGER = re.compile(r"\d+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("**", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "<", ">", "(", ")", ",", ".")
_HINTS = {
    "=": "use '==' to test equality",
    "!": "use 'not' for negation and '!=' for 'not equal'",
    "&": "use 'and'",
    "|": "use 'or'",
    "^": "use '**' for powers",
    "]": "units in brackets look like 500 [kg/m**2]",
    "{": "braces are not part of the language",
    "}": "braces are not part of the language",
    ":": "lambdas, slices and dict literals are not part of the language",
    ";": "write a single expression",
}
_NOT_KEYWORDS = {"True": "true", "False": "false"}

# Inside [ ... ]: unit names, * / ** ^ ( ) and small exponents only, so pint never
# has to evaluate a large number (its parser computes 10**10**10 eagerly).
_UNIT_PART = re.compile(r"\s*(?:(?P<name>[^\W\d]\w*)|(?P<num>\d+(?:\.\d+)?)|(?P<op>\*\*|[*/^()\-]))")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: object  # int/float for numbers, str otherwise
    pos: int  # 0-based offset of the first character

    def describe(self) -> str:
        if self.kind == END:
            return "the end of the expression"
        if self.kind == NUMBER:
            return f"number {self.value}"
        if self.kind == STRING:
            return f"text {self.value!r}"
        if self.kind == NAME:
            return f"name {self.value!r}"
        if self.kind == UNIT:
            return f"unit [{self.value}]"
        return f"'{self.value}'"


def check_unit_text(unit: str) -> str | None:
    """Return why ``unit`` (the inside of [...]) is refused, or None if it looks like a unit."""
    if not unit.strip():
        return "empty unit brackets"
    parts: list[tuple[str, str]] = []
    i = 0
    while i < len(unit):
        if unit[i:].strip() == "":
            break
        m = _UNIT_PART.match(unit, i)
        if not m:
            return f"{unit[i:].strip()[0]!r} is not allowed in a unit"
        kind = m.lastgroup or ""
        parts.append((kind, m.group(kind)))
        i = m.end()
    for k, (kind, value) in enumerate(parts):
        if kind != "num":
            continue
        prev = parts[k - 1][1] if k >= 1 else None
        if prev == "-":
            prev = parts[k - 2][1] if k >= 2 else None
        nxt = parts[k + 1][1] if k + 1 < len(parts) else None
        if prev in ("**", "^"):
            if len(value) > 4 or nxt in ("**", "^"):
                return f"exponent {value!r} in a unit is too large or chained"
        elif not (k == 0 and value == "1" and nxt == "/"):
            return "numbers in a unit may only be exponents (m**2) or a leading 1 (1/s)"
    return None


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raise ExpressionError at the first character that fits no token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            assert m is not None
            raw = m.group()
            value: int | float = int(raw) if _INTEGER.fullmatch(raw) else float(raw)
            if isinstance(value, float) and not math.isfinite(value):
                raise error_at(text, i, f"number {raw} is too large")
            tokens.append(Token(NUMBER, value, i))
            i = m.end()
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            m = _IDENT.match(text, i)
            assert m is not None
            word = m.group()
            if word in _NOT_KEYWORDS:
                raise error_at(text, i, f"unknown name {word!r}: write {_NOT_KEYWORDS[word]} in lowercase")
            tokens.append(Token(KEYWORD if word in KEYWORDS else NAME, word, i))
            i = m.end()
        elif ch in "'\"":
            i = _string(text, i, tokens)
        elif ch == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise error_at(text, i, "unclosed '[': write units in brackets like 500 [kg/m**2]")
            unit = text[i + 1 : end]
            problem = check_unit_text(unit)
            if problem:
                raise error_at(text, i, f"invalid unit [{unit}]: {problem}")
            tokens.append(Token(UNIT, unit.strip(), i))
            i = end + 1
        else:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    tokens.append(Token(OP, op, i))
                    i += len(op)
                    break
            else:
                hint = _HINTS.get(ch)
                raise error_at(text, i, f"unexpected character {ch!r}" + (f" ({hint})" if hint else ""))
    tokens.append(Token(END, "", n))
    return tokens


def _string(text: str, start: int, tokens: list[Token]) -> int:
    quote = text[start]
    buf: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            buf.append(text[i + 1])
            i += 2
        elif c == quote:
            tokens.append(Token(STRING, "".join(buf), start))
            return i + 1
        else:
            buf.append(c)
            i += 1
    raise error_at(text, start, f"unterminated text: add the closing {quote}")
