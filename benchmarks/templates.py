"""Template runs: p95 of single runs, and a batch on 2 Dask workers against the papermill CLI.

In one run, on one fresh workspace of N programs (each with CAD parameters):

1. ``pluma.templates.run`` one after another for one program, K times after a first
   (cold) run that starts the process's spare kernel: p50 / p95
   (end to end: permission and binding, execution in a warm kernel, HTML report,
   storing outputs and artifacts, the ``template_run`` event). Goal p95 < 5 s.
2. ``pluma.templates.run_batch`` of the template for all N programs on an embedded
   LocalCluster of 2 worker processes (cluster start included), against
3. the same N runs with the ``papermill`` command line, one after another (an
   interpreter and a kernel started per run; it stores nothing back).

Prints the ratio (3) / (2). Goal: >= 2.5x.

    .venv/bin/python benchmarks/templates.py            # N = 20, K = 10, cae_wing_analysis
    .venv/bin/python benchmarks/templates.py --quick    # N = 4, K = 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CAD = dict(span=35.8, wing_area=122.6, aspect_ratio=35.8**2 / 122.6, sweep_quarter_chord=25.0, mtow=78000.0,
           oew=42600.0, thrust_to_weight=0.31, cruise_mach=0.78)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def build(root: Path, n: int):
    import pluma

    admin = pluma.open(root, user="admin")
    names = [f"P{i:03d}" for i in range(n)]
    for i, name in enumerate(names):
        admin.create_program(name, members={"ana": ["engineer"]})
    ana = pluma.open(root, user="ana")
    for i, name in enumerate(names):
        scale = 1.0 + 0.02 * i
        ana.program(name).context.set_params(**{**CAD, "span": CAD["span"] * scale ** 0.5,
                                                "wing_area": CAD["wing_area"] * scale,
                                                "aspect_ratio": CAD["span"] ** 2 / CAD["wing_area"],
                                                "mtow": CAD["mtow"] * scale})
    return ana, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 programs, 3 single runs")
    parser.add_argument("--programs", type=int, default=20)
    parser.add_argument("--singles", type=int, default=10)
    parser.add_argument("--template", default="cae_wing_analysis")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    n, k = (4, 3) if args.quick else (args.programs, args.singles)

    from pluma import templates
    from pluma.templates.library import get_template
    from pluma.templates.kernels import shutdown_pools

    os.environ.setdefault("ICECHUNK_LOG", "error")
    tpl = get_template(args.template)
    with tempfile.TemporaryDirectory(prefix="pluma-bench-templates-") as tmp:
        root = Path(tmp) / "ws"
        ws, names = build(root, n)
        out_dir = Path(tmp) / "reports"

        prog = ws.program(names[0])
        t0 = time.perf_counter()
        templates.run(prog, args.template, output_dir=out_dir)  # cold: no spare kernel yet
        cold = time.perf_counter() - t0
        singles = []
        for _ in range(k):  # a spare kernel is warming while each run executes
            t0 = time.perf_counter()
            templates.run(prog, args.template, output_dir=out_dir)
            singles.append(time.perf_counter() - t0)
        shutdown_pools()

        t0 = time.perf_counter()
        batch = templates.run_batch(ws, args.template, names, workers=2, progress=False, output_dir=out_dir)
        batch_s = time.perf_counter() - t0
        if not batch.ok:
            print(batch.summary().to_string(), file=sys.stderr)
            raise SystemExit("the batch had failures")

        exe = Path(sys.executable).with_name("papermill")
        env = {**os.environ, "PLUMA_USER": "ana"}
        t0 = time.perf_counter()
        for name in names:
            subprocess.run([str(exe), str(tpl.path), str(Path(tmp) / f"cli-{name}.ipynb"), "-p", "program", name,
                            "-p", "workspace", str(root), "-k", "python3", "--no-progress-bar"],
                           check=True, env=env, capture_output=True)
        cli_s = time.perf_counter() - t0

    result = {
        "template": args.template, "programs": n, "single_runs": k,
        "single_p50_s": round(statistics.median(singles), 3), "single_p95_s": round(percentile(singles, 95), 3),
        "single_cold_s": round(cold, 3),
        "batch_wall_s": round(batch_s, 3), "batch_per_run_s": round(batch_s / n, 3),
        "papermill_cli_wall_s": round(cli_s, 3), "papermill_cli_per_run_s": round(cli_s / n, 3),
        "batch_speedup": round(cli_s / batch_s, 2),
        "goal_p95_s": 5.0, "goal_speedup": 2.5,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"template {args.template}, {n} programs, {os.cpu_count()} cores")
    print(f"  single run (pluma.templates.run, end to end, warm kernel): p50 {result['single_p50_s']:.2f} s, "
          f"p95 {result['single_p95_s']:.2f} s over {k} runs (the first, cold: {result['single_cold_s']:.2f} s)"
          f"  goal p95 < 5 s: {'met' if result['single_p95_s'] < 5 else 'NOT met'}")
    print(f"  batch on 2 Dask workers (cluster start, store and events included): {batch_s:.1f} s "
          f"({batch_s / n:.2f} s per run)")
    print(f"  papermill CLI one after another (stores nothing):                    {cli_s:.1f} s "
          f"({cli_s / n:.2f} s per run)")
    print(f"  ratio CLI / batch: {result['batch_speedup']:.2f}x  goal >= 2.5x: "
          f"{'met' if result['batch_speedup'] >= 2.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
