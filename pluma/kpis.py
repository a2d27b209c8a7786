"""The organisation's scalability KPIs, measured from the system's own records.

Each KPI says what it rests on (``records``) and where it came from. A KPI with
no records says so (value None) instead of inventing a number.

Sources: program states (PTR), clone records (CRR), ``template_run`` events
(parameter reuse share, template p95), ``usage`` events of sweeps (parallel
efficiency; MSE from the scale-up of clusters started on a Dask Gateway),
probe queries (query p95), federation exchange records (FSL).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .workspace import Workspace

__all__ = ["KPI", "KPIReport", "kpis"]


@dataclass(frozen=True)
class KPI:
    name: str
    title: str
    value: float | None
    unit: str
    records: int
    source: str
    note: str = ""


@dataclass
class KPIReport:
    workspace: str
    measured_at: str
    items: list[KPI] = field(default_factory=list)

    def __getitem__(self, name: str) -> KPI:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(name)

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame([vars(k) for k in self.items]).set_index("name")

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "measured_at": self.measured_at, "kpis": [vars(k) for k in self.items]}

    def plot(self, ax=None):
        """Bar chart of the KPIs that have a value (matplotlib); returns the axes."""
        import matplotlib

        if ax is None:
            matplotlib.use(matplotlib.get_backend())
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(7, 3))
        shown = [k for k in self.items if k.value is not None]
        ax.barh([k.title for k in shown], [k.value for k in shown])
        for i, k in enumerate(shown):
            ax.text(k.value, i, f" {k.value:.3g} {k.unit} (n={k.records})", va="center", fontsize=8)
        ax.set_title(f"PLUMA KPIs — {self.workspace}")
        return ax

    def __str__(self) -> str:
        lines = [f"KPIs of {self.workspace} at {self.measured_at}"]
        for k in self.items:
            value = "no records" if k.value is None else f"{k.value:.4g} {k.unit}".rstrip()
            lines.append(f"  {k.title:<36} {value:<22} n={k.records:<6} {k.source}" + (f" — {k.note}" if k.note else ""))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td>{escape(k.title)}</td><td>{'<i>no records</i>' if k.value is None else escape(f'{k.value:.4g} {k.unit}')}</td>"
            f"<td>{k.records}</td><td>{escape(k.source)}</td><td>{escape(k.note)}</td></tr>"
            for k in self.items
        )
        return ("<table><thead><tr><th>KPI</th><th>value</th><th>records</th><th>source</th><th>note</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")


def _none(name: str, title: str, unit: str, why: str) -> KPI:
    return KPI(name, title, None, unit, 0, "no records", why)


def _events(program) -> list[dict[str, Any]]:
    try:
        return program.events()
    except Exception:  # noqa: BLE001 - a program the user can list but not read has no records for them
        return []


def _quantile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.quantile(np.asarray(values, dtype=float), q))


def _sweep_kpis(usage: list[dict[str, Any]]) -> list[KPI]:
    """Parallel efficiency (core-seconds of work / core-seconds held, over every metered sweep)
    and MSE (seconds for a cluster started for a sweep to reach its N workers)."""
    out = []
    held = [(float(u.get("core_seconds", 0)), float(u.get("wall_seconds", 0)) * int(u.get("cores", 0)))
            for u in usage if float(u.get("wall_seconds", 0)) > 0 and int(u.get("cores", 0)) > 0]
    if held:
        work, capacity = sum(h[0] for h in held), sum(h[1] for h in held)
        best = max(u.get("parallel_efficiency", 0) for u in usage)
        out.append(KPI("parallel_efficiency", "Parallel efficiency (sweeps)", work / capacity, "", len(held),
                       "sweep usage records", f"core-seconds computed / core-seconds held over {len(held)} sweep(s); "
                       f"best single sweep {best:.3f}"))
    else:
        out.append(_none("parallel_efficiency", "Parallel efficiency (sweeps)", "", "no sweeps recorded"))
    scale = [float(u["scale_up_seconds"]) for u in usage if u.get("scale_up_seconds") is not None]
    if scale:
        out.append(KPI("mse", "Cluster scale-up time (MSE)", _quantile(scale, 0.5), "s", len(scale),
                       "sweep usage records", f"median time from 0 to N workers; slowest {max(scale):.2f} s"))
    else:
        out.append(_none("mse", "Cluster scale-up time (MSE)", "s", "no cluster scale-ups recorded (sweeps on a "
                         "Dask Gateway record them)"))
    return out


def _federation_kpis(ws: "Workspace") -> list[KPI]:
    """FSL p50 / p99 over the successful exchanges this workspace recorded (as sender, the
    latency its receivers reported; as receiver, the one it measured)."""
    try:
        from .federation.status import exchanges

        fsl = [float(e["fsl_ms"]) for e in exchanges(ws)
               if e.get("outcome") == "ok" and e.get("fsl_ms") is not None]
    except Exception:  # noqa: BLE001 - no federation set up (or not readable): no records
        fsl = []
    if not fsl:
        why = "no federation exchanges recorded"
        return [_none("fsl_p50", "Federation sync latency p50", "ms", why),
                _none("fsl_p99", "Federation sync latency p99", "ms", why)]
    note = "from the freeze at the sender to queryable at the receiver"
    return [KPI("fsl_p50", "Federation sync latency p50", _quantile(fsl, 0.5), "ms", len(fsl),
                "federation exchange records", note),
            KPI("fsl_p99", "Federation sync latency p99", _quantile(fsl, 0.99), "ms", len(fsl),
                "federation exchange records", note)]


def _template_kpis(runs: list[dict[str, Any]]) -> list[KPI]:
    """Template parameter reuse share (parameters taken from contexts / all parameters) and run p95."""
    sources = [src for r in runs for src in (r.get("param_sources") or {}).values()]
    if sources:
        reused = sum(src in ("context", "frozen") for src in sources)
        share = KPI("param_reuse", "Template parameter reuse share", reused / len(sources), "", len(runs),
                    "template run records", f"{reused} of {len(sources)} parameters came from contexts")
    else:
        share = _none("param_reuse", "Template parameter reuse share", "", "no template runs recorded")
    durations = [float(r["duration_s"]) for r in runs if r.get("duration_s") is not None]
    if durations:
        p95 = KPI("template_p95", "Template run p95", _quantile(durations, 0.95), "s", len(durations),
                  "template run records", f"{sum(r.get('status') == 'ok' for r in runs)} of {len(runs)} runs ok")
    else:
        p95 = _none("template_p95", "Template run p95", "s", "no template runs recorded")
    return [share, p95]


def kpis(ws: "Workspace", *, query_probes: int = 20) -> KPIReport:
    """Measure the KPIs of ``ws`` from what it has recorded (programs the user may read)."""
    from ._time import now

    programs = ws.programs()
    states = [p.info for p in programs]
    in_flight = [s for s in states if s.get("status") in ("active", "hold")]
    items = [KPI("ptr", "Programs in flight (PTR)", float(len(in_flight)), "programs", len(states),
                 "program states", f"{len(states) - len(in_flight)} killed")]

    clones = [s["origin"]["reuse"] for s in states if s.get("origin") and s["origin"].get("reuse")]
    if clones:
        shared = sum(r["shared_bytes"] for r in clones)
        total = sum(r["total_bytes"] for r in clones)
        items.append(KPI("crr", "Context Reuse Ratio (CRR)", shared / total if total else 1.0, "", len(clones),
                         "clone records", f"bytes shared / total over {len(clones)} clone(s); "
                         f"lowest {min(r['ratio'] for r in clones):.3f}"))
    else:
        items.append(_none("crr", "Context Reuse Ratio (CRR)", "", "no program was cloned yet"))

    events = [e for p in programs for e in _events(p)]
    items.extend(_template_kpis([e for e in events if e.get("kind") == "template_run"]))
    items.extend(_federation_kpis(ws))
    items.extend(_sweep_kpis([e for e in events if e.get("kind") == "usage"]))

    frozen = ws.query()
    if len(frozen) and query_probes > 0:
        phases = sorted(set(frozen["phase"]))
        latencies = []
        for i in range(query_probes):
            t0 = time.perf_counter()
            ws.query(phase=phases[i % len(phases)])
            latencies.append((time.perf_counter() - t0) * 1000)
        p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else latencies[0]
        items.append(KPI("query_p95", "Frozen-context query p95", p95, "ms", len(latencies), "probe queries now",
                         f"over {len(frozen)} frozen contexts"))
    else:
        items.append(_none("query_p95", "Frozen-context query p95", "ms", "no frozen contexts to query"))
    items.append(_none("dashboard_regen", "Dashboard regeneration time", "s", "no dashboards generated yet"))
    return KPIReport(ws.location, now(), items)
