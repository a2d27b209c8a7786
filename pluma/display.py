"""HTML for notebooks: every object a notebook user touches shows itself clearly.

Small, dependency-free tables with escaped content; one style block per object.
"""

from __future__ import annotations

from html import escape
from typing import Any, Iterable

__all__ = ["context_html", "frozen_html", "program_html", "report_html", "workspace_html"]

_STYLE = (
    "<style>.pluma{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px}"
    ".pluma table{border-collapse:collapse;margin:4px 0}.pluma th,.pluma td{border:1px solid #ccc;"
    "padding:2px 8px;text-align:left}.pluma th{background:#f3f3f3}.pluma .ok{color:#17803d;font-weight:bold}"
    ".pluma .bad{color:#b42318;font-weight:bold}.pluma .muted{color:#777}.pluma h4{margin:4px 0}</style>"
)


def _e(value: Any) -> str:
    return escape(str(value))


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]], raw_cols: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if i in raw_cols else _e(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badge(ok: bool, yes: str = "pass", no: str = "FAIL") -> str:
    return f"<span class='ok'>{yes}</span>" if ok else f"<span class='bad'>{no}</span>"


def _fmt(value: Any, unit: str | None) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    return f"{text} {unit}" if unit not in (None, "", "1") else text


def _context_body(view) -> str:
    params = view.params
    rows = []
    for name in params:
        info = params.info(name)
        rows.append((name, _fmt(info.value, info.unit), info.label, info.author, info.time[:19], info.message))
    parts = [f"<h4>Parameters ({len(rows)})</h4>", _table(["name", "value", "label", "by", "when", "message"], rows)
             if rows else "<p class='muted'>none</p>"]
    ds_rows = []
    for name in view.datasets:
        info = view._manifest["datasets"][name]
        dims = ", ".join(f"{k}: {v}" for k, v in info.get("dims", {}).items())
        ds_rows.append((name, dims, ", ".join(info.get("variables", [])), info.get("label"), info.get("author")))
    parts += [f"<h4>Datasets ({len(ds_rows)})</h4>",
              _table(["name", "dims", "variables", "label", "by"], ds_rows) if ds_rows else "<p class='muted'>none</p>"]
    art_rows = [(n, view._manifest["artifacts"][n].get("filename"), view._manifest["artifacts"][n].get("size"),
                 view._manifest["artifacts"][n].get("label")) for n in view.artifacts]
    if art_rows:
        parts += [f"<h4>Artifacts ({len(art_rows)})</h4>", _table(["name", "file", "bytes", "label"], art_rows)]
    return "".join(parts)


def context_html(view) -> str:
    return (f"{_STYLE}<div class='pluma'><h4>{_e(view.label)}</h4>"
            f"<p class='muted'>snapshot {_e(view.snapshot_id)}, rev {view.rev}</p>{_context_body(view)}</div>")


def frozen_html(fc) -> str:
    report = fc.report
    head = (f"<h4>Frozen context {_e(fc.ref)}</h4><p>id <code>{_e(fc.id)}</code> · frozen by {_e(fc.user)} at "
            f"{_e(fc.time[:19])} · {_e(fc.message)} · gate {_badge(report.passed, 'passed', 'not passed')}</p>")
    return f"{_STYLE}<div class='pluma'>{head}{_context_body(fc)}</div>"


def report_html(report) -> str:
    rows = []
    for item in report.items:
        rows.append((f"required {item.kind}", item.name, _badge(item.present, "present", "MISSING"), ""))
    for c in report.checks:
        badge = "<span class='muted'>n/a</span>" if c.skipped else _badge(c.passed)
        evidence = c.error or ", ".join(f"{k} = {v}" for k, v in c.evidence.items())
        rows.append(("check", f"{c.id}: {c.expr}", badge, evidence))
    for a in report.approvals:
        rows.append(("approval", f"{a['role']} by {a['user']}", _badge(a.get("valid"), "valid", "void"),
                     a.get("comment") or a.get("reason", "")))
    for role in report.approvals_needed:
        rows.append(("approval", role, "<span class='bad'>needed</span>", ""))
    if not report.separation_of_duties.get("ok", True):
        rows.append(("separation of duties", "", _badge(False), report.separation_of_duties.get("detail", "")))
    head = (f"<h4>{_e(report.program)} — {_e(report.phase)} gate: {_badge(report.passed, 'PASSED', 'NOT PASSED')}</h4>"
            f"<p class='muted'>evaluated by {_e(report.evaluated_by)} at {_e(report.evaluated_at[:19])}, "
            f"context rev {report.context_rev}, definition: {_e(report.definition_source)}</p>")
    return f"{_STYLE}<div class='pluma'>{head}{_table(['what', 'item', 'status', 'evidence'], rows, {2})}</div>"


def program_html(program) -> str:
    info = program.info
    members = ", ".join(f"{u} ({', '.join(r)})" for u, r in sorted(info["members"].items()))
    quotas = ", ".join(f"{k}={v}" for k, v in info["quotas"].items()) or "none"
    phases = []
    from .programs.phases import Phase

    for p in Phase:
        style = "ok" if p.value == info["phase"] else "muted"
        phases.append(f"<span class='{style}'>{p.value}</span>")
    rows = [("phase", " → ".join(phases)), ("status", _e(info["status"]) + (f" ({_e(info['status_reason'])})" if info["status_reason"] else "")),
            ("priority", _e(info["priority"])), ("classification", _e(info["classification"])),
            ("domains", _e(", ".join(info["domains"]) or "none")), ("quotas", _e(quotas)), ("members", _e(members))]
    history = program.history()
    hist = _table(["ref", "id", "by", "when", "message"],
                  [(fc.ref, fc.id, fc.user, fc.time[:19], fc.message) for fc in history]) if history else "<p class='muted'>no frozen contexts yet</p>"
    return (f"{_STYLE}<div class='pluma'><h4>Program {_e(program.name)}</h4>"
            f"{_table(['', ''], rows, {1})}<h4>History</h4>{hist}</div>")


def workspace_html(ws) -> str:
    rows = []
    for program in ws.programs():
        info = program.info
        rows.append((program.name, info["phase"], info["status"], info["classification"], info["priority"],
                     len(info["members"])))
    table = _table(["program", "phase", "status", "classification", "priority", "members"], rows) if rows else "<p class='muted'>no programs you may read</p>"
    return (f"{_STYLE}<div class='pluma'><h4>PLUMA workspace</h4><p class='muted'>{_e(ws.location)} · acting as "
            f"{_e(ws.user)}{' (admin)' if ws.is_admin else ''}</p>{table}</div>")


def diff_html(d) -> str:
    rows = []
    for name, ch in d.params["changed"].items():
        unit = "" if ch.get("unit") in (None, "1") else f" {ch['unit']}"
        rows.append(("param changed", name, f"{ch['old']} → {ch['new']}{unit}"))
    for name, rec in d.params["added"].items():
        rows.append(("param added", name, _fmt(rec["value"], rec.get("unit"))))
    for name, rec in d.params["removed"].items():
        rows.append(("param removed", name, _fmt(rec["value"], rec.get("unit"))))
    for name in d.datasets["added"]:
        rows.append(("dataset added", name, ""))
    for name in d.datasets["removed"]:
        rows.append(("dataset removed", name, ""))
    for name, ch in d.datasets["changed"].items():
        for var, info in ch["arrays"].items():
            parts = [f"{k}: {v['old']} → {v['new']}" for k, v in info.items() if k in ("shape", "dtype")]
            if info.get("attrs"):
                parts.append("attrs: " + ", ".join(info["attrs"]))
            if info.get("chunks"):
                parts.append(f"{len(info['chunks'])} chunk(s) differ")
            rows.append(("dataset changed", f"{name}.{var}", "; ".join(parts)))
        for var in ch["arrays_added"]:
            rows.append(("array added", f"{name}.{var}", ""))
        for var in ch["arrays_removed"]:
            rows.append(("array removed", f"{name}.{var}", ""))
    for kind in ("added", "removed", "changed"):
        for name in d.artifacts[kind]:
            rows.append((f"artifact {kind}", name, ""))
    body = _table(["change", "item", "detail"], rows) if rows else "<p class='muted'>no differences</p>"
    return (f"{_STYLE}<div class='pluma'><h4>{_e(d.a)} → {_e(d.b)}</h4><p class='muted'>compared through "
            f"{_e(d.method)}{' (bytes compared)' if d.deep else ''}</p>{body}</div>")
