"""``run_demo``: build a workspace that shows the whole lifecycle with real engineering data.

The demo plays a small organisation: an admin registers six people, creates
three aircraft programs and their teams move them through phase gates. Every
number comes from :mod:`pluma.demo.datasets` (which computes it with
:mod:`pluma.engineering`); engineers record it, reviewers approve, chief
engineers and program managers take the gate decisions:

* **AMPEL360** (narrowbody, research, EAR99): CAD -> CAE -> CAI -> CAO. Its
  first CAE attempt records an undersized spar (negative margins) and a drag
  rise; ``advance`` refuses with the gate report; the engineer fixes the data,
  the reviewers approve again and the gate passes.
* **ATR-NEO** (regional turboprop, standard, PUBLIC): the CAE analyses show a
  cruise L/D below the requirement, so the chief engineer reworks the program
  back to CAD; the engineer grows the span and the program freezes CAD#2.
* **SKYJET** (business jet, standard, EAR): put on hold for a budget review
  (writes are refused meanwhile), resumed, then through the CAE gate.

``small=True`` builds AMPEL360 up to CAI and ATR-NEO up to its CAD#2 (with
the hold), for tests.
"""

from __future__ import annotations

import html
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import GateNotPassed, StateError
from ..memory.storage import WorkspaceRoot, parse_root

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from ..programs.program import Program
    from ..workspace import Workspace

__all__ = ["DemoResult", "run_demo"]

ADMIN = "admin"

#: demo users: name, display name, the program role they hold in every demo program
USERS: tuple[tuple[str, str, str], ...] = (
    ("ana", "Ana Ortega", "engineer"),
    ("raj", "Raj Iyer", "chief_engineer"),
    ("lin", "Lin Wu", "quality"),
    ("pam", "Pam Okafor", "program_manager"),
    ("fin", "Fin Larsen", "finance"),
    ("vic", "Vic Moreau", "viewer"),
)
ROLE_USER = {role: name for name, _, role in USERS}
ENGINEER = ROLE_USER["engineer"]
CHIEF = ROLE_USER["chief_engineer"]
MANAGER = ROLE_USER["program_manager"]

_APPROVAL_COMMENTS = {
    "chief_engineer": "design data reviewed against the requirements",
    "quality": "evidence complete and traceable",
    "program_manager": "schedule and budget consistent",
}


@dataclass(frozen=True)
class _ProgramSpec:
    name: str
    kind: str
    priority: str
    classification: str
    domains: tuple[str, ...]
    quotas: Mapping[str, float]


# Program domains use the workspace's domain codes (pluma.programs.phases.DOMAINS); the
# CAI interface matrix is built between the program's own domains.
PROGRAMS: tuple[_ProgramSpec, ...] = (
    _ProgramSpec("AMPEL360", "narrowbody", "research", "EAR99", ("AAA", "AAP", "CCC", "EEE", "PPP", "LCC"),
                 {"cores": 80, "memory_gb": 160, "gpus": 2, "storage_tb": 1, "qubits": 64}),
    _ProgramSpec("ATR-NEO", "regional_turboprop", "standard", "PUBLIC", ("AAA", "CCC", "EEE", "PPP", "MMM"),
                 {"cores": 32, "memory_gb": 64, "storage_tb": 1}),
    _ProgramSpec("SKYJET", "bizjet", "standard", "EAR", ("AAA", "AAP", "DDD", "EEE", "PPP", "OOO"),
                 {"cores": 48, "memory_gb": 96, "gpus": 1, "storage_tb": 1}),
)


@dataclass
class DemoResult:
    """What :func:`run_demo` built."""

    location: str
    """Where the workspace is (folder or ``s3://bucket/prefix``)."""
    programs: list[str]
    """Programs created, in order."""
    frozen: dict[str, list[str]] = field(default_factory=dict)
    """Frozen-context references per program, oldest first (``AMPEL360@CAD#1`` ...)."""
    summary_lines: list[str] = field(default_factory=list)
    """The closing summary: each program's phase, status and freezes; where; what to try next."""
    duration: float = 0.0
    """Seconds the build took."""


# ---------------------------------------------------------------------------------------------
# Where to build
# ---------------------------------------------------------------------------------------------


def _prepare_location(root: WorkspaceRoot, fresh: bool, storage_options: Mapping[str, Any] | None) -> bool:
    """Refuse to overwrite an existing demo unless ``fresh``; with ``fresh`` remove it
    (local folders only). Returns True when an earlier workspace was removed."""
    from ..memory.enclave import Enclave
    from ..workspace import DEFAULT_ENCLAVE

    if root.is_local:
        folder = Path(root.location)
        pluma_dirs = [folder / "enclaves", folder / "locks"]
        looks_like_pluma = (folder / "enclaves").is_dir()
        exists = (folder / "enclaves" / DEFAULT_ENCLAVE).exists()
    else:
        folder = None
        pluma_dirs = []
        looks_like_pluma = exists = Enclave.exists(root, DEFAULT_ENCLAVE)

    names: list[str] = []
    if exists and not (fresh and root.is_local):  # a local fresh run never needs to read what it removes
        from ..workspace import open_workspace

        names = open_workspace(root.uri, user=ADMIN, storage_options=storage_options).program_names()

    if not fresh:
        if names:
            raise StateError(
                f"a PLUMA workspace with programs {', '.join(names)} already exists at {root.uri}; "
                "run `pluma demo --fresh` to replace it or `pluma demo --home <another folder>`"
            )
        return False

    if not root.is_local:
        if exists:
            raise StateError(
                f"{root.uri} already holds a PLUMA workspace"
                + (f" with programs {', '.join(names)}" if names else "")
                + "; the demo does not delete data in object stores: choose a new prefix "
                "(`pluma demo --home s3://bucket/<new prefix>`)"
            )
        return False

    assert folder is not None
    if not looks_like_pluma:
        if folder.is_dir() and any(folder.iterdir()):
            raise StateError(
                f"{folder} is not empty and holds no PLUMA workspace (no enclaves/ folder); the demo will not "
                "delete it: run `pluma demo --home <another folder>` (a new or empty one)"
            )
        return False
    import shutil

    for path in pluma_dirs:  # only what PLUMA made; anything else in the folder stays
        if path.is_dir():
            shutil.rmtree(path)
    return True


# ---------------------------------------------------------------------------------------------
# Engineering artifacts
# ---------------------------------------------------------------------------------------------


def sizing_sheet_html(program: str, params: Mapping[str, Any], *, revision: int = 1) -> bytes:
    """A one-page HTML sizing sheet computed from the CAD parameters (attached as an artifact)."""
    from ..engineering.aerodynamics import cruise_lift_coefficient, max_lift_to_drag
    from ..engineering.atmosphere import G0, true_airspeed

    b, s, lam = float(params["span"]), float(params["wing_area"]), float(params["taper_ratio"])
    mtow, oew = float(params["mtow"]), float(params["oew"])
    root_chord = 2.0 * s / (b * (1.0 + lam))
    mac = 2.0 / 3.0 * root_chord * (1.0 + lam + lam**2) / (1.0 + lam)
    oswald = 0.80  # stated assumption of the sheet
    ld = max_lift_to_drag(float(params["cd0"]), float(params["aspect_ratio"]), oswald)
    cl_cruise = float(cruise_lift_coefficient(mtow, s, float(params["cruise_mach"]), float(params["cruise_altitude"])))
    tas = float(true_airspeed(float(params["cruise_mach"]), float(params["cruise_altitude"])))
    rows = [
        ("Geometry", "span", f"{b:.2f} m"),
        ("Geometry", "wing area", f"{s:.1f} m²"),
        ("Geometry", "aspect ratio b²/S", f"{b * b / s:.2f}"),
        ("Geometry", "taper ratio", f"{lam:.2f}"),
        ("Geometry", "root / tip chord", f"{root_chord:.2f} m / {lam * root_chord:.2f} m"),
        ("Geometry", "mean aerodynamic chord", f"{mac:.2f} m"),
        ("Geometry", "quarter-chord sweep", f"{float(params['sweep_quarter_chord']):.1f}°"),
        ("Mass", "MTOW", f"{mtow:,.0f} kg"),
        ("Mass", "OEW", f"{oew:,.0f} kg ({oew / mtow:.1%} of MTOW)"),
        ("Mass", "wing loading MTOW/S", f"{mtow / s:.0f} kg/m²"),
        ("Propulsion", "thrust-to-weight", f"{float(params['thrust_to_weight']):.2f}"
                                            f" ({float(params['thrust_to_weight']) * mtow * G0 / 1000:.0f} kN)"),
        ("Cruise", "Mach / altitude", f"{float(params['cruise_mach']):.2f} / {float(params['cruise_altitude']):,.0f} m"),
        ("Cruise", "true airspeed", f"{tas:.0f} m/s"),
        ("Cruise", "lift coefficient at MTOW", f"{cl_cruise:.3f}"),
        ("Cruise", f"(L/D)max (CD0 {float(params['cd0']):.3f}, e {oswald})", f"{ld.ld_max:.1f} at CL {ld.cl:.2f}"),
        ("Cruise", "required L/D", f"{float(params['ld_required']):.1f}"),
    ]
    body = "\n".join(
        f"<tr><td>{html.escape(g)}</td><td>{html.escape(k)}</td><td style='text-align:right'>{html.escape(v)}</td></tr>"
        for g, k, v in rows
    )
    title = f"{program} sizing sheet, revision {revision}"
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>\n<h1>{html.escape(title)}</h1>\n"
        "<table border='1' cellpadding='4'>\n<tr><th>group</th><th>quantity</th><th>value</th></tr>\n"
        f"{body}\n</table>\n<p>Computed by pluma.engineering from the CAD parameters.</p>\n</body></html>\n"
    ).encode()


def _findings_markdown(report, fix: str) -> bytes:
    return (
        f"# {report.program} {report.phase} gate review\n\n"
        f"Evaluated by {report.evaluated_by} at {report.evaluated_at} (context rev {report.context_rev}): "
        f"**NOT PASSED**.\n\n```\n{report.summary()}\n```\n\n## Corrective action\n\n{fix}\n"
    ).encode()


# ---------------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, root: WorkspaceRoot, storage_options, console: "Console", small: bool) -> None:
        self.root = root
        self.storage_options = storage_options
        self.console = console
        self.small = small
        self.specs = {spec.name: spec for spec in (PROGRAMS[:2] if small else PROGRAMS)}
        self.frozen: dict[str, list[str]] = {name: [] for name in self.specs}
        self._ws: dict[str, "Workspace"] = {}
        self._admin: str = ADMIN
        self._progress = None
        self._findings: dict[str, Any] = {}

    # -- plumbing --------------------------------------------------------
    def ws(self, user: str) -> "Workspace":
        if user not in self._ws:
            from ..workspace import open_workspace

            self._ws[user] = open_workspace(self.root.uri, user=user, storage_options=self.storage_options)
        return self._ws[user]

    def prog(self, user: str, name: str) -> "Program":
        return self.ws(user).program(name)

    def say(self, text: str, style: str | None = None) -> None:
        out = self._progress.console if self._progress is not None else self.console
        out.print(text, style=style, markup=False, highlight=False, soft_wrap=True)

    # -- the plan ----------------------------------------------------------
    def plan(self) -> list[tuple[str, Callable[[], None]]]:
        steps: list[tuple[str, Callable[[], None]]] = [("register users", self.create_users)]
        steps += [(f"create {name}", partial(self.create_program, spec)) for name, spec in self.specs.items()]

        a = "AMPEL360"
        steps += self.gate_steps(a, "CAD")
        steps += [
            (f"{a}: CAE analyses", partial(self.record, a, "CAE", passing=False,
                                           message="CAE loads and polars v1")),
            (f"{a}: CAE reviews", partial(self.approve, a)),
            (f"{a}: CAE gate decision", partial(self.advance_refused, a, CHIEF)),
            (f"{a}: CAE corrections", partial(self.record, a, "CAE", message="CAE v2: spar resized, drag clean-up",
                                              findings=True)),
        ]
        steps += self.gate_steps(a, "CAE", record=False)
        if not self.small:
            steps += self.gate_steps(a, "CAI", by=MANAGER)
            steps += [(f"{a}: CAO trade study", partial(self.record, a, "CAO", message="wing AR/material trade study")),
                      (f"{a}: CAO gate status", partial(self.status, a))]

        t = "ATR-NEO"
        steps += self.gate_steps(t, "CAD", by=MANAGER)
        if self.small:
            steps += [(f"{t}: hold", partial(self.hold, t)), (f"{t}: resume", partial(self.resume, t))]
        steps += [
            (f"{t}: CAE analyses", partial(self.record, t, "CAE", passing=False, message="CAE loads and polars v1")),
            (f"{t}: CAE review", partial(self.review_and_rework, t)),
            (f"{t}: CAD resize", partial(self.resize, t)),
            (f"{t}: CAD reviews", partial(self.approve, t)),
            (f"{t}: CAD gate decision", partial(self.advance, t, CHIEF)),
        ]
        if not self.small:
            steps += self.gate_steps(t, "CAE", message="CAE loads and polars for the resized wing")

            j = "SKYJET"
            steps += self.gate_steps(j, "CAD")
            steps += [(f"{j}: hold", partial(self.hold, j)), (f"{j}: resume", partial(self.resume, j))]
            steps += self.gate_steps(j, "CAE", by=MANAGER)
        return steps

    def gate_steps(self, name: str, phase: str, *, by: str = CHIEF, record: bool = True,
                   message: str | None = None) -> list[tuple[str, Callable[[], None]]]:
        steps = []
        if record:
            steps.append((f"{name}: {phase} data", partial(self.record, name, phase, message=message)))
        steps.append((f"{name}: {phase} reviews", partial(self.approve, name)))
        steps.append((f"{name}: {phase} gate decision", partial(self.advance, name, by)))
        return steps

    # -- steps -------------------------------------------------------------
    def create_users(self) -> None:
        admin_ws = self.ws(ADMIN)
        if not admin_ws.is_admin:  # an existing, empty workspace made by someone else: act as one of its admins
            admins = [u["name"] for u in admin_ws.users() if u.get("admin")]
            if not admins:  # pragma: no cover - a workspace always has an admin
                raise StateError(f"the workspace at {self.root.uri} has no admin")
            self._admin = admins[0]
        existing = {u["name"].lower() for u in self.ws(self._admin).users()}
        added = []
        for name, display, _ in USERS:
            if name not in existing:
                self.ws(self._admin).add_user(name, display_name=display)
                added.append(f"{name} ({display})")
        self.say(f"workspace {self.root.uri}: {self._admin} is admin; users " + (", ".join(added) or "already registered"))

    def create_program(self, spec: _ProgramSpec) -> None:
        members = {name: [role] for name, _, role in USERS}
        self.ws(self._admin).create_program(
            spec.name, priority=spec.priority, classification=spec.classification, domains=list(spec.domains),
            quotas=dict(spec.quotas), members=members,
        )
        self.say(f"{spec.name}: created ({spec.kind.replace('_', ' ')}, {spec.priority}, {spec.classification}, "
                 f"domains {' '.join(spec.domains)})")

    def record(self, name: str, phase: str, *, passing: bool = True, message: str | None = None,
               findings: bool = False) -> None:
        """The engineer records what the phase produced (one commit)."""
        from .datasets import phase_results

        spec = self.specs[name]
        prog = self.prog(ENGINEER, name)
        ctx = prog.context
        current = ctx.params.to_dict()
        params, datasets = phase_results(spec.kind, phase, current or None, passing,
                                         domains=list(spec.domains) if phase == "CAI" else None)
        with ctx.transaction(message=message or f"{phase} results") as tx:
            tx.set_params(**params)
            for ds_name, ds in datasets.items():
                tx.put_dataset(ds_name, ds)
            if phase == "CAD":
                tx.attach("sizing_sheet", sizing_sheet_html(name, {**current, **params}),
                          filename="sizing_sheet.html", media_type="text/html")
            attached = ["sizing_sheet"] if phase == "CAD" else []
            if findings and name in self._findings:
                attached.append(f"{phase.lower()}_gate_findings")
                tx.attach(attached[-1], self._findings.pop(name),
                          filename=f"{attached[-1]}.md", media_type="text/markdown")
        what = ", ".join([*datasets, *attached])
        n = len(params)
        self.say(f"{name}: {ENGINEER} recorded {phase} results: {n} parameter{'s' if n != 1 else ''}, {what} "
                 f"(context rev {ctx.rev})")

    def approve(self, name: str) -> None:
        gate = self.prog(ENGINEER, name).gate()
        given = []
        for role in gate.definition.approvals:
            user = ROLE_USER[role]
            self.prog(user, name).gate().approve(role=role, comment=_APPROVAL_COMMENTS.get(role, "reviewed"))
            given.append(f"{user} ({role})")
        self.say(f"{name}: {gate.phase.value} gate approved by {', '.join(given)}")

    def advance(self, name: str, by: str) -> None:
        prog = self.prog(by, name)
        phase = prog.phase.value
        frozen = prog.advance(message=f"{phase} gate passed")
        self.frozen[name].append(frozen.ref)
        self.say(f"{name}: {phase} gate passed, frozen {frozen.ref} (id {frozen.id}) by {by}; now in {prog.phase.value}",
                 style="green")

    def advance_refused(self, name: str, by: str) -> None:
        prog = self.prog(by, name)
        phase = prog.phase.value
        try:
            prog.advance(message=f"{phase} gate passed")
        except GateNotPassed as exc:
            report = exc.report
            self.say(f"{name}: {phase} gate NOT passed: {'; '.join(report.reasons)}", style="bold red")
            for line in report.summary().splitlines():
                self.say("    " + line, style="dim")
            self._findings[name] = _findings_markdown(
                report, "Spar caps thickened (root second moment of area increased) and the excrescence drag "
                        "removed; loads and polars recomputed.")
            return
        raise RuntimeError(f"demo: the {phase} gate of {name} passed with data meant to fail it")  # pragma: no cover

    def status(self, name: str) -> None:
        report = self.prog(CHIEF, name).gate().evaluate()
        checks = "checks pass" if report.checks_passed else "checks fail: " + "; ".join(report.reasons)
        waiting = f"; awaiting approval by {', '.join(report.approvals_needed)}" if report.approvals_needed else ""
        self.say(f"{name}: {report.phase} gate {checks}{waiting} (left open for you)")

    def hold(self, name: str) -> None:
        reason = "budget review: next funding tranche not yet released"
        self.prog(MANAGER, name).hold(reason)
        self.say(f"{name}: put on hold by {MANAGER} ({reason})", style="yellow")
        try:
            self.prog(ENGINEER, name).context.set_params(cruise_mach=0.8, message="tweak while on hold")
        except StateError as exc:
            self.say(f"{name}: {ENGINEER}'s change refused while on hold: {exc}", style="yellow")
        else:  # pragma: no cover
            raise RuntimeError(f"demo: {name} accepted a change while on hold")

    def resume(self, name: str) -> None:
        self.prog(MANAGER, name).resume("funding released")
        self.say(f"{name}: resumed by {MANAGER} (funding released)")

    def review_and_rework(self, name: str) -> None:
        prog = self.prog(CHIEF, name)
        report = prog.gate().evaluate()
        if report.checks_passed:  # pragma: no cover
            raise RuntimeError(f"demo: the CAE checks of {name} pass with data meant to fail them")
        failed = ", ".join(c.id for c in report.failed_checks)
        self.say(f"{name}: CAE gate NOT passed on review by {CHIEF}: checks {failed} failed", style="red")
        ev = next((c.evidence for c in report.failed_checks if c.id == "cruise_lift_to_drag"), {})
        detail = f" ({', '.join(f'{k}={v}' for k, v in ev.items())})" if ev else ""
        reason = (f"cruise L/D below the requirement{detail} from nacelle/wing interference drag: re-baseline "
                  "the configuration in CAD (nacelles moved forward, span +3 %); spar re-sized in CAE")
        prog.rework("CAD", reason)
        self.say(f"{name}: reworked CAE -> CAD by {CHIEF}: {reason}", style="yellow")

    def resize(self, name: str) -> None:
        """The engineer grows the span by 3 % at constant area; the wing mass grows as AR**0.6."""
        from ..engineering.sizing import DEFAULT_OEW_FRACTIONS, aspect_ratio
        from .datasets import PROGRAM_KINDS, mass_breakdown

        spec = self.specs[name]
        ctx = self.prog(ENGINEER, name).context
        p = ctx.params.to_dict()
        span = round(float(p["span"]) * 1.03, 2)
        ar_old, ar_new = float(p["aspect_ratio"]), float(aspect_ratio(span, p["wing_area"]))
        oew = round(float(p["oew"]) + DEFAULT_OEW_FRACTIONS["wing"] * float(p["oew"]) * ((ar_new / ar_old) ** 0.6 - 1.0))
        new = {"span": span, "aspect_ratio": round(ar_new, 4), "oew": float(oew)}
        with ctx.transaction(message=f"CAD rev 2: span {p['span']} -> {span} m") as tx:
            tx.set_params(**new)
            tx.put_dataset("mass_breakdown", mass_breakdown(oew, seed=1000 * PROGRAM_KINDS.index(spec.kind) + 1))
            tx.attach("sizing_sheet", sizing_sheet_html(name, {**p, **new}, revision=2),
                      filename="sizing_sheet.html", media_type="text/html")
        self.say(f"{name}: {ENGINEER} resized the wing: span {p['span']} -> {span} m, aspect ratio "
                 f"{ar_old:.2f} -> {ar_new:.2f}, OEW {p['oew']:,.0f} -> {oew:,.0f} kg (context rev {ctx.rev})")

    # -- the end -----------------------------------------------------------
    def summary(self) -> list[str]:
        lines = []
        ws = self.ws(self._admin)
        for name in self.specs:
            prog = ws.program(name)
            info = prog.info
            status = info["status"] + (f" ({info['status_reason']})" if info.get("status_reason") else "")
            refs = ", ".join(self.frozen[name]) or "none"
            lines.append(f"{name}: phase {info['phase']}, {status}; frozen: {refs}")
        where = self.root.uri
        lines.append(f"workspace: {where}")
        home = f"--home {where}"
        lines += [
            "try next:",
            f"  pluma {home} --user admin program list",
            f"  pluma {home} --user raj history AMPEL360",
            f"  pluma {home} --user raj events ATR-NEO",
            "  python:",
            "    import pluma",
            f"    prog = pluma.open({where!r}, user=\"ana\"{', storage_options=...' if not self.root.is_local else ''})"
            ".program(\"AMPEL360\")",
            "    print(prog.frozen(\"CAE#1\").report.summary()); prog.frozen(\"CAE#1\").dataset(\"wing_loads\")",
        ]
        return lines


def run_demo(
    location: str | os.PathLike | None = None,
    *,
    small: bool = False,
    fresh: bool = False,
    console: "Console | None" = None,
    storage_options: Mapping[str, Any] | None = None,
) -> DemoResult:
    """Build the demo workspace and return what it built.

    Parameters
    ----------
    location : str or path, optional
        Folder or ``s3://bucket/prefix``; default ``$PLUMA_HOME``, else ``./pluma-home``.
    small : bool, default False
        Two programs and fewer gates (about a third of the work; what the tests use).
    fresh : bool, default False
        Replace a workspace that is already there (local folders only; only a
        folder that holds a PLUMA workspace is cleared, and only its
        ``enclaves/`` and ``locks/``).
    console : rich.console.Console, optional
        Where progress and the summary go (default: a new Console).
    storage_options : mapping, optional
        Object-store options (see :func:`pluma.open`).

    Raises
    ------
    StateError
        The location holds a workspace with programs and ``fresh`` is False;
        ``fresh`` on an object store that holds a workspace; ``fresh`` on a
        non-empty folder that is not a PLUMA workspace.

    Examples
    --------
    >>> from pluma.demo import run_demo
    >>> result = run_demo("/tmp/demo", fresh=True)          # doctest: +SKIP
    >>> result.frozen["AMPEL360"]                           # doctest: +SKIP
    ['AMPEL360@CAD#1', 'AMPEL360@CAE#1', 'AMPEL360@CAI#1']
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    started = time.perf_counter()
    root = parse_root(location, storage_options)
    console = console if console is not None else Console()
    removed = _prepare_location(root, fresh, storage_options)
    if removed:
        console.print(f"removed the earlier workspace at {root.uri}", markup=False, highlight=False, soft_wrap=True)

    builder = _Builder(root, dict(storage_options) if storage_options else None, console, small)
    steps = builder.plan()
    with Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        builder._progress = progress
        task = progress.add_task("PLUMA demo", total=len(steps))
        for description, step in steps:
            progress.update(task, description=description)
            step()
            progress.advance(task)
        progress.update(task, description="PLUMA demo: done")
        builder._progress = None

    summary_lines = builder.summary()
    table = Table(title=f"PLUMA demo workspace at {root.uri}", title_justify="left")
    for column in ("program", "phase", "status", "frozen contexts"):
        table.add_column(column)
    ws = builder.ws(builder._admin)
    for name in builder.specs:
        info = ws.program(name).info
        table.add_row(name, info["phase"], info["status"], ", ".join(builder.frozen[name]) or "none")
    console.print(table)
    for line in summary_lines[len(builder.specs) + 1:]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    duration = time.perf_counter() - started
    console.print(f"built in {duration:.1f} s", markup=False, highlight=False)
    return DemoResult(location=root.uri, programs=list(builder.specs), frozen={k: list(v) for k, v in builder.frozen.items()},
                      summary_lines=summary_lines, duration=duration)
