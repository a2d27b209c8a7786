"""Federation fixtures: organisations (workspaces with an identity) in tmp_path,
their federation servers on 127.0.0.1, and programs with a frozen context."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pluma
from pluma.federation import Federation

PHASES = ("CAD", "CAE", "CAI", "CAO", "CAM", "CAP", "CAV", "CMP", "CAS")
LEVELS = ["PUBLIC", "EAR99", "EAR"]
OPEN_RULES = {"export": [{"name": "all-but-itar", "allow": {"classifications": LEVELS}}],
              "import": [{"name": "all-but-itar", "allow": {"classifications": LEVELS}}]}


class Org:
    """One organisation: a workspace, its federation side, maybe a running server."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.root = root / name
        self.ws = pluma.open(self.root, user="admin")
        self.fed = Federation(self.ws)
        self.fed.keygen(name)
        self.server = None

    @property
    def url(self) -> str:
        if self.server is None:
            self.server = self.fed.start_server()
        return self.server.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def files(self) -> list[Path]:
        return [Path(d) / f for d, _, fs in os.walk(self.root) for f in fs]

    def __repr__(self) -> str:
        return f"<Org {self.name}>"


def connect(a: Org, b: Org, *, export=OPEN_RULES, accept=OPEN_RULES, url: bool = True) -> None:
    """``a`` knows ``b`` (rules ``export`` for what goes to b) and ``b`` knows ``a`` (``accept``)."""
    a.fed.add_peer(b.name, url=b.url if url else None, drop=None if url else str(a.root.parent / "drop"),
                   key=b.fed.public_key, rules=export)
    b.fed.add_peer(a.name, url=a.url if url else None, drop=None if url else str(a.root.parent / "drop"),
                   key=a.fed.public_key, rules=accept)


@pytest.fixture
def orgs(tmp_path):
    """orgs("prime", "supplier") -> the organisations, servers stopped at the end."""
    made: list[Org] = []

    def make(*names: str) -> list[Org]:
        out = [Org(tmp_path, n) for n in names]
        made.extend(out)
        return out

    yield make
    for org in made:
        org.stop()


def loads(n: int = 120_000, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    ds = xr.Dataset({"load": (("station",), rng.random(n), {"units": "N"})}, coords={"station": np.arange(n)})
    ds["load"].encoding["chunks"] = (16_384,)
    return ds


def new_program(org: Org, name: str = "AMPEL360", classification: str = "EAR", *, phases=PHASES,
                **kwargs) -> pluma.Program:
    """A program whose gates (``phases``) always pass: each advance() freezes."""
    prog = org.ws.create_program(name, classification=classification, domains=kwargs.pop("domains", ["AAA"]),
                                 members={"admin": ["program_manager", "engineer"]}, **kwargs)
    for phase in phases:
        prog.set_gate(phase, {"phase": phase})
    return prog


def frozen_program(org: Org, name: str = "AMPEL360", classification: str = "EAR"):
    """A program with a span (PUBLIC), wing loads (EAR99), a cruise Mach (EAR), a cost
    report (PUBLIC) and a design note (EAR99); returns (program, its CAD frozen context)."""
    prog = new_program(org, name, classification)
    ctx = prog.context
    ctx.set_params(span=35.8, label="PUBLIC")
    if classification != "PUBLIC":
        ctx.set_params(cruise_mach=0.78, label="EAR" if classification in ("EAR", "ITAR") else classification)
    ctx.put_dataset("wing_loads", loads(), label="EAR99" if classification != "PUBLIC" else "PUBLIC")
    ctx.attach("cost_report", b"unit cost 41.2 MUSD", label="PUBLIC")
    ctx.attach("design_note", b"rib spacing 0.6 m", label="PUBLIC")
    return prog, prog.advance("CAD frozen")
