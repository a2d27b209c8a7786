"""What the capacity history's generator knows and no forecaster can: ``generate_history(latents=True)`` and the
oracle-vs-baseline analysis in ``benchmarks/capacity_ceiling.py`` that bounds the model's accuracy goal."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from pluma.capacity.evaluate import baseline_predict, mdape
from pluma.capacity.history import (
    DEFAULT_CATALOG,
    FEATURE_COLUMNS_RAW,
    LATENT_COLUMNS,
    RESOURCES,
    generate_history,
)
from pluma.capacity.model import split_programs

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "capacity_ceiling.py"


def test_latents_add_columns_without_changing_the_history():
    plain = generate_history(n_programs=60, seed=4)
    full = generate_history(n_programs=60, seed=4, latents=True)
    assert full[plain.columns].equals(plain)  # no extra draw: the shipped data do not depend on the flag
    oracle_cols = [f"{p}{r}" for p in ("oracle_", "program_oracle_") for r in RESOURCES]
    assert list(full.columns) == list(FEATURE_COLUMNS_RAW) + list(RESOURCES) + list(LATENT_COLUMNS) + oracle_cols
    # the program effect is one draw per program; the row factor differs from row to row
    assert (full.groupby("program")["program_effect"].nunique() == 1).all()
    assert full["row_factor"].nunique() > full["program"].nunique()
    assert ((full["runaway"] == 0) | (full["runaway"] > -1)).all() and (full["runaway"] == 0).mean() > 0.8
    # a resource never used where the generator cannot use it; the oracles forecast usage if used
    for r in ("gpu_hours", "qubits"):
        assert (full.loc[full[f"oracle_{r}"] == 0, r] == 0).all()
        assert (full[f"program_oracle_{r}"] > 0).sum() == (full[f"oracle_{r}"] > 0).sum()
    for r in RESOURCES:
        assert (full[f"oracle_{r}"] >= 0).all() and (full[f"program_oracle_{r}"] >= 0).all()


def test_shipped_history_is_the_generator_default():
    shipped = (DEFAULT_CATALOG.with_name("capacity_history.csv")).read_text()
    buf = io.StringIO()
    generate_history().to_csv(buf, index=False, lineterminator="\n")
    assert buf.getvalue() == shipped  # so the ceiling computed from the generator is the shipped data's


def test_oracles_rank_as_their_knowledge():
    """The row oracle knows more than the program oracle, which knows more than the baseline's neighbours:
    their errors on held-out programs must come out in that order for the continuous resources."""
    full = generate_history(n_programs=200, seed=7, latents=True)
    history = full[list(FEATURE_COLUMNS_RAW) + list(RESOURCES)]
    rest, holdout = split_programs(history, 0.25, 0)
    base = baseline_predict(rest, holdout.reset_index(drop=True))
    for r in ("core_hours", "storage_tb", "memory_gb"):
        actual = holdout[r].to_numpy(dtype=float)
        row = mdape(full.loc[holdout.index, f"oracle_{r}"].to_numpy(), actual)[0]
        program = mdape(full.loc[holdout.index, f"program_oracle_{r}"].to_numpy(), actual)[0]
        naive = mdape(base[r].to_numpy(), actual)[0]
        assert row < program < naive, (r, row, program, naive)


def test_ceiling_script_reports_both_oracles_and_the_goal():
    done = subprocess.run([sys.executable, str(SCRIPT), "--programs", "120", "--seeds", "0,3", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert [r["split_seed"] for r in results] == [0, 3]
    for result in results:
        assert result["goal_max_ratio"] == 0.70 and result["median_ratio_model"] is None
        rows = {r["resource"]: r for r in result["resources"]}
        assert list(rows) == list(RESOURCES)
        for r in rows.values():
            # the best scale is chosen with hindsight, so it can only help the oracle
            assert 0.6 <= r["scale_oracle"] <= 1.65 and r["mdape_oracle"] <= r["mdape_baseline"] * 1.5
            assert np.isclose(r["ratio_oracle"], r["mdape_oracle"] / r["mdape_baseline"])
        assert rows["core_hours"]["ratio_oracle"] < rows["core_hours"]["ratio_program_oracle"] < 1.0
        assert result["oracle_meets_goal"] == sum(r["ratio_oracle"] <= 0.70 for r in rows.values())
    text = subprocess.run([sys.executable, str(SCRIPT), "--programs", "120", "--seeds", "0"],
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "program oracle/base" in text.stdout and "row oracle/base" in text.stdout
