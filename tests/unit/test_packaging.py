"""pyproject.toml and environment.yml stay consistent; the CI script runs the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _name(req: str) -> str:
    return re.split(r"[<>=!\[ ;]", req, maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        reqs += [r for r in items if not r.startswith("pluma[")]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pinned = {_name(r): r for r in pip if not r.startswith("-e")}
    assert {_name(r): r for r in reqs} == pinned
    assert "-e .[all]" in pip
    assert project["requires-python"] == ">=3.12"
    assert "python>=3.12" in env["dependencies"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "bash env/setup.sh && .venv/bin/python -m pytest"
    assert command in readme and command in ci
    assert "bash env/setup.sh && .venv/bin/pluma demo" in readme
