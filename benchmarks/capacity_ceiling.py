"""How low can any forecaster push the capacity error on the shipped history? An oracle vs the naive baseline.

``pluma capacity evaluate`` asks the model's median absolute percentage error
(MdAPE of p50) to be at most 0.70 of the naive baseline's (mean usage of the
5 most similar past programs in the same phase). This script measures, on the
same held-out programs, what two **oracles** achieve — the generator's own
forecasts, made with draws no real forecaster sees
(``generate_history(latents=True)``):

* the **program oracle** (``program_oracle_<resource>``) knows what is fixed
  for a program — its latent design complexity and its program effect — plus
  the row's observable volumes, and takes the row's shared factor and runaway
  as 0. A model sees neither latent; it can only estimate them from the
  context volumes and the program's earlier phases;
* the **row oracle** (``oracle_<resource>``) knows, in addition, the row's
  shared factor and its runaway blow-up: everything except each resource's own
  noise. No forecaster can know the row factor; the observable volumes of the
  phase reveal only part of it.

Where a resource is used only by chance (GPU-hours, qubits) both forecast the
usage *if* used, which is what MdAPE (rows with use only) rewards. Each
forecast is scaled by the one factor per resource (grid ``exp(-0.5 ... 0.5)``)
that gives the lowest MdAPE on the held-out rows themselves — chosen with
hindsight, which flatters the oracles further.

The program oracle's ratio to the baseline is a practical floor for a model
fitted on observable features; the row oracle's is a hard one: if it misses
0.70 for a resource, no model will meet that goal for it on this data. With
``--model`` the script also fits the capacity model (as ``pluma capacity
evaluate`` does, one step ahead with prior usage) and prints its ratio
alongside.

    .venv/bin/python benchmarks/capacity_ceiling.py                 # seeds 0 and 1, ~2 s
    .venv/bin/python benchmarks/capacity_ceiling.py --model         # + the fitted model, ~1-2 min per seed
    .venv/bin/python benchmarks/capacity_ceiling.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")  # HistGradientBoosting's threads crawl on a busy 2-core machine

from pluma.capacity.evaluate import GOALS, baseline_predict, evaluate, mdape  # noqa: E402
from pluma.capacity.history import FEATURE_COLUMNS_RAW, RESOURCES, generate_history  # noqa: E402
from pluma.capacity.model import split_programs  # noqa: E402

_SCALES = np.exp(np.linspace(-0.5, 0.5, 101))


def best_scale(forecast: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    """(MdAPE, factor) of the factor on the grid that gives ``forecast * factor`` the lowest MdAPE."""
    errors = [mdape(forecast * s, actual)[0] for s in _SCALES]
    i = int(np.nanargmin(errors))
    return float(errors[i]), float(_SCALES[i])


def ceiling(n_programs: int = 400, data_seed: int = 0, split_seed: int = 0, holdout_fraction: float = 0.25,
            k: int = 5, with_model: bool = False) -> dict:
    """Per resource: baseline, oracle and best-scaled oracle MdAPE on one program split, their ratios, and
    (``with_model``) the capacity model's ratio from :func:`pluma.capacity.evaluate.evaluate` on the same split."""
    full = generate_history(n_programs=n_programs, seed=data_seed, latents=True)
    history = full[list(FEATURE_COLUMNS_RAW) + list(RESOURCES)]
    rest, holdout = split_programs(history, holdout_fraction, split_seed)
    oracle = full.loc[holdout.index]
    holdout = holdout.reset_index(drop=True)
    base = baseline_predict(rest, holdout, k=k)
    model_ratio = {}
    if with_model:
        report = evaluate(history, holdout_fraction, split_seed, k=k)
        model_ratio = {r["resource"]: r["ratio"] for r in report.resources}
    rows = []
    for resource in RESOURCES:
        actual = holdout[resource].to_numpy(dtype=float)
        b_err, n = mdape(base[resource].to_numpy(dtype=float), actual)
        row = {"resource": resource, "rows": n, "mdape_baseline": b_err}
        for name in ("program_oracle", "oracle"):
            err, factor = best_scale(oracle[f"{name}_{resource}"].to_numpy(dtype=float), actual)
            row.update({f"mdape_{name}": err, f"scale_{name}": factor, f"ratio_{name}": err / b_err})
        row["ratio_model"] = model_ratio.get(resource, float("nan"))
        rows.append(row)
    goal = GOALS["max_ratio"]
    return {"n_programs": n_programs, "data_seed": data_seed, "split_seed": split_seed,
            "holdout_fraction": holdout_fraction, "k": k, "goal_max_ratio": goal, "resources": rows,
            "median_ratio_program_oracle": float(np.median([r["ratio_program_oracle"] for r in rows])),
            "median_ratio_oracle": float(np.median([r["ratio_oracle"] for r in rows])),
            "median_ratio_model": float(np.median([r["ratio_model"] for r in rows])) if with_model else None,
            "program_oracle_meets_goal": sum(r["ratio_program_oracle"] <= goal for r in rows),
            "oracle_meets_goal": sum(r["ratio_oracle"] <= goal for r in rows)}


def _print(result: dict) -> None:
    goal = result["goal_max_ratio"]
    print(f"split seed {result['split_seed']}: {result['n_programs']} programs (history seed {result['data_seed']}), "
          f"{100 * result['holdout_fraction']:.0f} % held out, baseline = mean of {result['k']} nearest")
    head = ("resource", "rows", "MdAPE base", "program oracle", "row oracle", "model/base", "program oracle/base",
            "row oracle/base")

    def ratio(v: float) -> str:
        return "n/a" if v != v else f"{v:.2f}" + (" >goal" if v > goal else "")

    lines = [(r["resource"], str(r["rows"]), f"{r['mdape_baseline']:.1f} %", f"{r['mdape_program_oracle']:.1f} %",
              f"{r['mdape_oracle']:.1f} %", ratio(r["ratio_model"]), ratio(r["ratio_program_oracle"]),
              ratio(r["ratio_oracle"])) for r in result["resources"]]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*head))
    for line in lines:
        print(fmt.format(*line))
    model = result["median_ratio_model"]
    n = len(result["resources"])
    print("median ratio over resources: " + ("" if model is None else f"model {model:.2f}, ")
          + f"program oracle {result['median_ratio_program_oracle']:.2f}, row oracle "
            f"{result['median_ratio_oracle']:.2f}. Ratio <= {goal:.2f} met by the program oracle on "
            f"{result['program_oracle_meets_goal']}/{n} resources, by the row oracle on "
            f"{result['oracle_meets_goal']}/{n}.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=400, help="programs in the history (400 = the shipped one)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the history (0 = the shipped one)")
    parser.add_argument("--seeds", default="0,1", help="program-split seeds, as for `pluma capacity evaluate --seed`")
    parser.add_argument("--holdout", type=float, default=0.25, help="share of programs held out")
    parser.add_argument("--model", action="store_true", help="also fit the capacity model and print its ratio")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    results = [ceiling(args.programs, args.data_seed, s, args.holdout, with_model=args.model) for s in seeds]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
