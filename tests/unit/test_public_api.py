"""The public API is small and deliberate; errors form one tree and pickle."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import pluma
from pluma import errors


def test_all_is_sorted_and_complete():
    assert pluma.__all__ == sorted(pluma.__all__)
    public = {name for name in dir(pluma) if not name.startswith("_")}
    modules = {"context", "errors", "gates", "memory", "programs", "units", "names", "workspace", "display",
               "identity", "expressions", "engineering", "demo", "cli", "query", "catalog", "capacity", "kpis", "analysis", "sweeps", "quantum", "scheduling", "gateway",
               "audit", "integrity", "federation", "templates"}
    assert public - modules - {"annotations"} == set(pluma.__all__)


@pytest.mark.parametrize("name", [n for n in errors.__all__ if n not in ("PlumaWarning",)])
def test_every_error_is_a_pluma_error_with_a_kind_and_pickles(name):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.PlumaError)
    err = cls("what happened and what to do")
    assert isinstance(err.kind, str) and err.kind
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls and str(back) == "what happened and what to do"


def test_error_categories_follow_builtin_handlers():
    assert issubclass(pluma.InvalidInputError, ValueError)
    assert issubclass(pluma.NotFoundError, KeyError)
    assert issubclass(pluma.AccessDenied, PermissionError)
    assert issubclass(pluma.StorageError, OSError)
    assert str(pluma.NotFoundError("no program 'X'")) == "no program 'X'"  # not KeyError's quoted form


def test_import_pluma_stays_light():
    code = "import sys, pluma; heavy = [m for m in ('dask', 'distributed', 'papermill', 'qiskit', 'xarray', 'icechunk', 'zarr') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
