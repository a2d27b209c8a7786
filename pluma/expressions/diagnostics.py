"""Positioned error messages: the expression, a 1-based column and a caret line."""

from __future__ import annotations

from ..errors import ExpressionError

__all__ = ["error_at", "locate"]

_WINDOW = 100  # longest excerpt shown under a message


def locate(text: str, pos: int) -> tuple[int, int]:
    """Return the 1-based (line, column) of the 0-based offset ``pos`` in ``text``."""
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, column


def _excerpt(line_text: str, column: int) -> tuple[str, int]:
    if len(line_text) <= _WINDOW:
        return line_text, column
    start = max(0, column - 1 - _WINDOW // 2)
    end = min(len(line_text), start + _WINDOW)
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(line_text) else ""
    return prefix + line_text[start:end] + suffix, column - start + len(prefix)


def error_at(text: str, pos: int, message: str) -> ExpressionError:
    """Build an ExpressionError for ``message`` at offset ``pos`` of ``text``.

    The message ends with the offending line and a caret under the column::

        expected a value ..., found '*' at column 8:
            span + * 3
                   ^
    """
    line, column = locate(text, pos)
    where = f"line {line}, column {column}" if "\n" in text else f"column {column}"
    line_start = text.rfind("\n", 0, max(0, min(pos, len(text)))) + 1
    line_end = text.find("\n", line_start)
    line_text = text[line_start : len(text) if line_end < 0 else line_end]
    shown, caret_col = _excerpt(line_text.replace("\t", " ").replace("\r", " "), column)
    err = ExpressionError(f"{message} at {where}:\n    {shown}\n    {' ' * (caret_col - 1)}^")
    err.expression = text
    err.line = line
    err.column = column
    return err
