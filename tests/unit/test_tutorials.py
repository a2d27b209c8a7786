"""Every notebook in notebooks/tutorials/ runs from top to bottom (with nbclient, on the
registered ``python3`` kernel) in a temporary folder, so the tutorials always work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nbformat  # noqa: E402
import nbclient  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((ROOT / "notebooks" / "tutorials").glob("*.ipynb"))
CELL_TIMEOUT = 120  # seconds per cell


def test_there_are_tutorials():
    assert [p.name for p in TUTORIALS][:1] == ["01-getting-started.ipynb"]


def _parameters_cell(nb) -> int | None:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    return None


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_committed_without_outputs_and_with_a_home_parameter(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"clear the outputs of {path.name}"
    index = _parameters_cell(nb)
    assert index is not None, f"{path.name} needs a code cell tagged 'parameters'"
    assert re.search(r"^home\s*=", nb.cells[index].source, re.M), "the parameters cell sets home"


def _execute(path: Path, workdir: Path, home: Path):
    """Run the notebook in ``workdir`` with ``home`` injected after its parameters cell."""
    nb = nbformat.read(path, as_version=4)
    injected = nbformat.v4.new_code_cell(f"home = {str(home)!r}", metadata={"tags": ["injected-parameters"]})
    index = _parameters_cell(nb)
    nb.cells.insert(0 if index is None else index + 1, injected)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return nb


def _text(nb) -> str:
    """Everything the notebook printed or displayed as text."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.data.get("text/plain", ""))
    return "\n".join(parts)


def _check_getting_started(nb, text: str, home: Path) -> None:
    assert (home / "enclaves").is_dir()  # the workspace went where the parameter said
    assert "AMPEL360: phase CAI, active" in text
    # roles decide what each person sees and may do
    assert "vic    admin=False  roles: {'AMPEL360': ['viewer']" in text
    assert "refused: vic may not change the working context" in text
    assert "refused: ana may not approve as chief_engineer" in text
    # the gate: first missing data, then passed and frozen
    assert "AMPEL360 CAI gate: NOT PASSED" in text and "missing dataset interfaces" in text
    assert "AMPEL360@CAI#1" in text and "AMPEL360 is now in CAO" in text
    # time travel: the first CAE attempt had negative margins
    then, now = map(float, re.search(r"min margin of safety then: ([-+.\d]+), now: ([-+.\d]+)", text).groups())
    assert then < 0 < now
    # the clone shares almost everything with its source, and the diff shows the overrides
    ratio = float(re.search(r"context reuse ratio: ([.\d]+)", text).group(1))
    assert 0.9 < ratio < 1.0
    assert "param span: 35.8 -> 37.5 m" in text
    deep = text[text.index("(common ancestor, deep)"):]
    assert "dataset wing_loads.stress: 1 chunk(s) differ" in deep
    assert "wing_loads.shear" not in deep.split("<ContextDiff")[0]  # unchanged values are no difference
    # HTML reprs were displayed (program, context, gate report, frozen context, diff)
    html = [out for cell in nb.cells for out in cell.get("outputs", []) if "text/html" in out.get("data", {})]
    assert len(html) >= 5


CHECKS = {"01-getting-started": _check_getting_started}


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path, monkeypatch):
    for var in ("PLUMA_HOME", "PLUMA_USER", "JUPYTERHUB_USER"):  # the kernel inherits the environment
        monkeypatch.delenv(var, raising=False)
    workdir = tmp_path / "work"
    workdir.mkdir()
    home = tmp_path / "home"
    nb = _execute(path, workdir, home)
    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out.output_type == "error"]
    assert not errors, errors
    check = CHECKS.get(path.stem)
    if check is not None:
        check(nb, _text(nb), home)
