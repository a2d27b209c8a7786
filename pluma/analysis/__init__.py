"""Engineering analyses shaped for parameter sweeps (CAE).

Every public analysis takes scalar keyword arguments (SI units, angles in
degrees, each documented) and returns a flat ``dict[str, float]`` of named
results, so that ``pluma.sweeps.run(func, grid=...)`` can call
``func(**point)`` at each grid point. Inputs outside a model's validity raise
:class:`pluma.errors.InvalidInputError`; results that are computed but outside
the theory are flagged (``valid = 0.0`` for the lifting line beyond stall).

- :func:`wing_lifting_line` / :func:`solve_lifting_line`: Prandtl lifting line
  (Glauert series) for straight tapered or elliptic wings.
- :func:`spar_bending`: wing spar at limit load as an Euler-Bernoulli cantilever.
- :func:`breguet_range`: Breguet range of a jet.

The closed forms live in :mod:`pluma.engineering`; see
``/work/shared/ENGINEERING.md`` for the reference results.
"""

from __future__ import annotations

from .lifting_line import LiftingLineSolution, solve_lifting_line, wing_lifting_line
from .range import breguet_range
from .spar import spar_bending

__all__ = ["LiftingLineSolution", "breguet_range", "solve_lifting_line", "spar_bending", "wing_lifting_line"]
