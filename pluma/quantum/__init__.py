"""Quantum trade studies (CAO): trade spaces as QUBOs, solved with QAOA on Qiskit 2.

>>> from pluma.quantum import Option, TradeSpace, to_qubo, brute_force, qaoa_trade_study
>>> ts = TradeSpace({"wing": [Option("Al", mass=520, cost=2), Option("CFRP", mass=430, cost=3)],
...                  "engine": [Option("A", mass=1900, cost=5), Option("B", mass=1840, cost=7)]},
...                 limits={"cost": 9}, objective="mass")
>>> brute_force(ts).selection
{'wing': 'CFRP', 'engine': 'A'}

* :mod:`pluma.quantum.qubo` — :class:`Option`, :class:`TradeSpace`, :func:`to_qubo`
  (one-hot and slack-bit limit penalties), :func:`brute_force`,
  :func:`evaluate_selection`, :func:`to_ising` (Qiskit ``SparsePauliOp``).
* :mod:`pluma.quantum.qaoa` — :func:`energy_landscape` (every ``(γ, β)`` in one
  batched Estimator call), :func:`optimize`, :func:`sample` (Aer primitives when
  installed, Qiskit's reference primitives otherwise).
* :mod:`pluma.quantum.trade_study` — :func:`qaoa_trade_study`: depth sweep,
  exact judging of the samples, the ``trade_study`` dataset, storage in a
  program's context (``selected_feasible``, ``optimality_gap``).

Qiskit is imported only when a quantum function needs it; the QUBO side works
with numpy alone.
"""

from __future__ import annotations

from .qaoa import QAOAResult, energy_landscape, evaluate_energies, optimize, sample
from .qubo import (
    QUBO,
    BruteForceResult,
    Option,
    SelectionEvaluation,
    TradeSpace,
    brute_force,
    evaluate_selection,
    to_ising,
    to_qubo,
)
from .trade_study import DepthResult, TradeStudyResult, qaoa_trade_study

__all__ = [
    "BruteForceResult",
    "DepthResult",
    "Option",
    "QAOAResult",
    "QUBO",
    "SelectionEvaluation",
    "TradeSpace",
    "TradeStudyResult",
    "brute_force",
    "energy_landscape",
    "evaluate_energies",
    "evaluate_selection",
    "optimize",
    "qaoa_trade_study",
    "sample",
    "to_ising",
    "to_qubo",
]
