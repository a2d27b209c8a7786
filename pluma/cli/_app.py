"""Shared machinery of the ``pluma`` command line: the invocation state (where,
who, how to print), error reporting with exit codes, and output helpers.

Only click is imported here; rich and the heavier parts of PLUMA are imported
when a command needs them, so ``pluma --help`` stays quick.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import click

from ..errors import AccessDenied, ConflictError, NotFoundError, PlumaError

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from ..programs.program import Program
    from ..workspace import Workspace

__all__ = [
    "EXIT_ACCESS_DENIED",
    "EXIT_CONFLICT",
    "EXIT_ERROR",
    "EXIT_INTERNAL",
    "EXIT_NOT_FOUND",
    "PlumaGroup",
    "State",
    "exit_code",
    "fmt_time",
    "fmt_value",
    "json_option",
    "parse_pairs",
    "parse_scalar",
    "pass_state",
    "report_error",
]

EXIT_ERROR = 2  # any PlumaError not listed below (and click usage errors)
EXIT_ACCESS_DENIED = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_INTERNAL = 70  # an unexpected exception: a bug (EX_SOFTWARE)


def exit_code(exc: BaseException) -> int:
    """The process exit code for a PLUMA error."""
    if isinstance(exc, AccessDenied):
        return EXIT_ACCESS_DENIED
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, ConflictError):
        return EXIT_CONFLICT
    return EXIT_ERROR


@dataclass
class State:
    """What the root options said: where the workspace is, who acts, how to print."""

    home: str | None = None
    user: str | None = None
    json: bool = False
    debug: bool = False
    storage_options: dict[str, Any] = field(default_factory=dict)
    _console: "Console | None" = None
    _ws: "Workspace | None" = None

    # -- the workspace ------------------------------------------------------
    def root(self):
        from ..memory import parse_root

        return parse_root(self.home, self.storage_options or None)

    def workspace_exists(self) -> bool:
        from ..memory import Enclave
        from ..workspace import DEFAULT_ENCLAVE

        return Enclave.exists(self.root(), DEFAULT_ENCLAVE)

    def open(self, *, create: bool = False) -> "Workspace":
        """Open the workspace as the acting user. Unless ``create``, a location
        that holds no workspace is an error (a mistyped --home must not quietly
        become a new workspace with the caller as its admin)."""
        if self._ws is None:
            import pluma

            self._ws = pluma.open(self.home, user=self.user, storage_options=self.storage_options or None,
                                  create=create)
        return self._ws

    def program(self, name: str) -> "Program":
        return self.open().program(name)

    # -- output ---------------------------------------------------------------
    @property
    def console(self) -> "Console":
        if self._console is None:
            from rich.console import Console

            stream = sys.stdout  # looked up now: click's test runner swaps it
            tty = hasattr(stream, "isatty") and stream.isatty()
            width = None if tty or os.environ.get("COLUMNS") else 160
            self._console = Console(file=stream, highlight=False, width=width, soft_wrap=False)
        return self._console

    def emit_json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))

    def say(self, text: str) -> None:
        """One line for humans (suppressed under --json, where stdout is JSON only)."""
        if not self.json:
            click.echo(text)

    def table(self, title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(title, style="bold") if title else None, title_justify="left",
                      show_lines=False, header_style="bold")
        for column in columns:
            table.add_column(Text(column), overflow="fold")
        for row in rows:
            table.add_row(*(c if isinstance(c, Text) else Text("" if c is None else str(c)) for c in row))
        self.console.print(table)

    def fields(self, title: str | None, pairs: Iterable[tuple[str, Any]]) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(title, style="bold") if title else None, title_justify="left",
                      show_header=False, box=None, padding=(0, 2, 0, 0))
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in pairs:
            table.add_row(Text(key), value if isinstance(value, Text) else Text("" if value is None else str(value)))
        self.console.print(table)


def _json_default(value: Any) -> Any:
    import datetime

    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


pass_state = click.make_pass_decorator(State, ensure=True)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).json = True


def json_option(f: Callable) -> Callable:
    """``--json`` on a command too, so ``pluma program list --json`` works like ``pluma --json program list``."""
    return click.option("--json", "json_", is_flag=True, expose_value=False, callback=_set_json,
                        help="Print JSON (same as `pluma --json ...`).")(f)


# -- errors -------------------------------------------------------------------
def report_error(exc: BaseException, state: State, kind: str | None = None) -> None:
    """Print ``exc`` on stderr: one line, or JSON under --json; the traceback first under --debug."""
    if state.debug:
        traceback.print_exception(exc, file=sys.stderr)
    message = str(exc) if isinstance(exc, PlumaError) else f"{type(exc).__name__}: {exc}"
    kind = kind or getattr(exc, "kind", "error")
    if isinstance(exc, PlumaError):
        line = message
    else:
        line = f"internal error ({message}); this is a bug in PLUMA" + ("" if state.debug else ", --debug shows the traceback")
    if state.json:
        payload: dict[str, Any] = {"error": kind, "message": line}
        report = getattr(exc, "report", None)
        if report is not None and hasattr(report, "to_dict"):
            payload["report"] = report.to_dict()
        click.echo(json.dumps(payload, default=_json_default, ensure_ascii=False), err=True)
    else:
        click.echo(f"error: {' '.join(line.split())}", err=True)


class PlumaGroup(click.Group):
    """The root group: turns every PlumaError into a clean message and an exit code,
    and lists commands in workflow order rather than alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except PlumaError as exc:
            report_error(exc, ctx.ensure_object(State))
            ctx.exit(exit_code(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: say so in one line unless --debug
            report_error(exc, ctx.ensure_object(State), kind="internal")
            ctx.exit(EXIT_INTERNAL)


# -- formatting -----------------------------------------------------------------
def fmt_value(value: Any, unit: str | None = None) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    if unit not in (None, "", "1", "-") and not isinstance(value, bool):
        text = f"{text} {unit}"
    return text


def fmt_time(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    return str(value)[:19].replace("T", " ")


def parse_pairs(values: Iterable[str], what: str, example: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` strings -> pairs; a malformed one is a usage error."""
    out = []
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{raw!r} is not KEY=VALUE (e.g. {example})", param_hint=what)
        out.append((key.strip(), value.strip()))
    return out


def parse_scalar(text: str) -> Any:
    """A command-line value: an integer, else a number, else true/false, else the text itself."""
    import re

    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?", text):
        return float(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text

