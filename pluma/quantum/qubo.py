"""Trade spaces (choose one option per subsystem under limits) as QUBOs.

A :class:`TradeSpace` holds subsystems, each with a list of :class:`Option`
(name plus numeric attributes such as ``mass`` in kg, ``cost``,
``performance``), optional limits on attribute totals and an objective to
minimise. :func:`to_qubo` turns it into a :class:`QUBO`::

    E(x) = xᵀ Q x + offset          (Q upper triangular, x ∈ {0, 1}ⁿ)

with one binary ``x[s=o]`` per subsystem ``s`` and option ``o`` (variable
names ``"subsystem=option"``), followed by the slack bits of the limits.

Encoding
--------
Objective
    ``Σ c[s,o]·x[s,o]`` with ``c`` the objective attribute (or the weighted sum
    of attributes), plus optional pairwise ``interactions`` ``I[a,b]·x[a]·x[b]``
    between options of different subsystems. Each subsystem's coefficients are
    shifted so that its cheapest option costs 0 (``c' = c − min_o c``; the
    shift goes into the offset, which changes nothing for selections with
    exactly one option per subsystem). So every linear coefficient is in
    ``[0, swing_s]`` with ``swing_s = max_o c − min_o c``.
One-hot
    ``P·(Σ_o x[s,o] − 1)²`` per subsystem.
Limits
    **Slack bits**, not a one-sided quadratic penalty: ``max(0, g − B)²`` is
    not a polynomial in ``x`` and the plain ``(g − B)²`` would also punish
    selections *under* budget. With slack ``u ≥ 0`` (binary-encoded),
    ``λ·((g(x) + u − B)/r)²`` for an upper limit ``g ≤ B`` (``g − u`` for a
    lower limit) is zero for every feasible selection with the right slack
    and ≥ λ for every violation of at least one resolution step ``r``. The
    slack range ``U = B − Σ_s min_o a[s,o]`` takes ``⌈log₂(U/r + 1)⌉`` bits
    (bounded-coefficient encoding: 1, 2, 4, …, and a last coefficient that
    makes the total exactly ``U/r``, so every integer 0…U/r is representable).
    ``r`` is the largest step of which every attribute value and the limit are
    integer multiples (found from the data, e.g. 1 for whole kg), so the
    encoding is exact; data that need more than ``max_slack_bits`` bits are
    encoded with a coarser step and a :class:`~pluma.errors.PlumaWarning`.
    A limit that no selection can break costs no bits; a limit no selection
    can meet is an :class:`~pluma.errors.InvalidInputError`.

Penalty weight
    ``W = Σ_s swing_s + Σ |I|`` is the largest objective swing (exactly the
    largest difference in objective between two selections when there are no
    interactions, an upper bound otherwise). Above the offset, the shifted
    objective of any bit pattern is ≥ ``−Σ_{I<0} |I|`` and that of the optimum
    is ≤ ``Σ_s swing_s + Σ_{I>0} I``; a pattern that breaks a one-hot
    constraint pays ≥ ``P`` and one that breaks a limit by at least one step
    pays ≥ ``λ``. Hence ``P > W`` and ``λ > W`` guarantee that **every
    infeasible bit pattern costs more than the feasible optimum**, i.e. the
    QUBO's ground state is the best feasible selection. The automatic choice is
    ``P = λ = 1.25·W`` (``1`` when every selection has the same objective); a
    larger ``P`` only makes the penalties dominate the energy scale, which
    hurts QAOA. A ``penalty`` given by the caller must also exceed ``W``.

Everything is checked against brute force for small cases (:func:`brute_force`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .._checks import finite_scalar
from ..errors import InvalidInputError, MissingDependencyError, warn

__all__ = [
    "BruteForceResult",
    "Option",
    "QUBO",
    "SelectionEvaluation",
    "SlackEncoding",
    "TradeSpace",
    "brute_force",
    "evaluate_selection",
    "to_ising",
    "to_qubo",
]

MAX_BRUTE_FORCE_VARIABLES = 20
MAX_ENUMERATED_SELECTIONS = 1 << 20
PENALTY_MARGIN = 1.25
_BANNED = set("=,:")


def _finite(name: str, value: Any) -> float:
    return finite_scalar(name, value)


def _label(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"{what} name must be non-empty text, got {name!r}")
    name = name.strip()
    bad = _BANNED & set(name)
    if bad:
        raise InvalidInputError(f"{what} name {name!r} may not contain {' '.join(sorted(bad))} (used in variable names)")
    return name


# ---------------------------------------------------------------------------------------------
# options and trade spaces
# ---------------------------------------------------------------------------------------------


class Option:
    """One choice for a subsystem: a name and numeric attributes.

    >>> Option("CFRP", mass=410.0, cost=2.6)
    Option('CFRP', mass=410.0, cost=2.6)
    >>> Option("Al", {"mass": 480.0, "cost": 1.9})["mass"]
    480.0
    """

    __slots__ = ("name", "attributes")

    def __init__(self, name: str, attributes: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        self.name = _label(name, "option")
        merged = dict(attributes or {})
        overlap = set(merged) & set(more)
        if overlap:
            raise InvalidInputError(f"option {self.name}: attribute(s) {sorted(overlap)} given twice")
        merged.update(more)
        attrs: dict[str, float] = {}
        for key, value in merged.items():
            if not isinstance(key, str) or not key:
                raise InvalidInputError(f"option {self.name}: attribute names must be text, got {key!r}")
            attrs[key] = _finite(f"option {self.name}: attribute {key}", value)
        self.attributes = attrs

    def __getitem__(self, key: str) -> float:
        try:
            return self.attributes[key]
        except KeyError:
            raise InvalidInputError(f"option {self.name} has no attribute {key!r} (has: {', '.join(self.attributes) or 'none'})") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Option) and (self.name, self.attributes) == (other.name, other.attributes)

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.attributes.items()))))

    def __repr__(self) -> str:
        attrs = "".join(f", {k}={v!r}" for k, v in self.attributes.items())
        return f"Option({self.name!r}{attrs})"

    @classmethod
    def coerce(cls, raw: Any, where: str) -> "Option":
        """An Option from an Option, ``{"name": ..., attr: ...}`` or ``(name, {attr: ...})``."""
        if isinstance(raw, Option):
            return raw
        if isinstance(raw, Mapping):
            raw = dict(raw)
            if "name" not in raw:
                raise InvalidInputError(f"{where}: an option given as a mapping needs a 'name' key, got {sorted(raw)}")
            name = raw.pop("name")
            nested = raw.pop("attributes", None)
            return cls(name, nested, **raw)
        if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[1], Mapping):
            return cls(raw[0], raw[1])
        raise InvalidInputError(f"{where}: expected an Option, a mapping with 'name' or (name, attributes), got {raw!r}")


def _limit(attr: str, raw: Any) -> tuple[float | None, float | None]:
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"min", "max"}
        if unknown:
            raise InvalidInputError(f"limit {attr}: unknown key(s) {sorted(unknown)}; use 'min' and/or 'max'")
        lo = None if raw.get("min") is None else _finite(f"limit {attr} min", raw["min"])
        hi = None if raw.get("max") is None else _finite(f"limit {attr} max", raw["max"])
        if lo is None and hi is None:
            raise InvalidInputError(f"limit {attr} needs 'min' or 'max'")
        if lo is not None and hi is not None and lo > hi:
            raise InvalidInputError(f"limit {attr}: min {lo:g} is above max {hi:g}")
        return lo, hi
    return None, _finite(f"limit {attr}", raw)


class TradeSpace:
    """Choose exactly one option per subsystem, minimising an objective under limits.

    Parameters
    ----------
    subsystems : mapping of str to list of Option
        Options per subsystem, in order. Options may also be given as mappings
        ``{"name": "CFRP", "mass": 410, "cost": 2.6}``, as ``(name, attributes)``
        or as a mapping ``{option_name: {attr: value}}`` per subsystem.
    limits : mapping, optional
        Limits on attribute totals over the selection: a number is an upper
        limit (``{"mass": 1200}`` means total mass ≤ 1200), a mapping gives
        ``{"min": ..., "max": ...}``.
    objective : str or mapping of str to float, default "mass"
        The attribute whose total is minimised, or weights ``{attr: w}``
        minimising ``Σ w·attr`` (a negative weight maximises, e.g.
        ``{"cost": 1.0, "performance": -0.5}``).
    interactions : mapping of (variable, variable) to float, optional
        Objective change (objective units) when two options of *different*
        subsystems are selected together, e.g. integration cost or mass
        ``{("wing=CFRP", "engine=B"): 40.0}`` (a negative value is a synergy).
        These are the quadratic terms of the objective.

    Examples
    --------
    >>> ts = TradeSpace({"wing": [Option("Al", mass=480, cost=2), Option("CFRP", mass=410, cost=3)],
    ...                  "engine": [Option("A", mass=900, cost=5), Option("B", mass=850, cost=7)]},
    ...                 limits={"cost": 9}, objective="mass")
    >>> ts.variables
    ('wing=Al', 'wing=CFRP', 'engine=A', 'engine=B')
    """

    def __init__(
        self,
        subsystems: Mapping[str, Sequence[Any] | Mapping[str, Mapping[str, Any]]],
        limits: Mapping[str, Any] | None = None,
        objective: str | Mapping[str, float] = "mass",
        interactions: Mapping[tuple[str, str], float] | None = None,
    ) -> None:
        if not isinstance(subsystems, Mapping) or not subsystems:
            raise InvalidInputError("a trade space needs at least one subsystem: {'wing': [Option(...), ...], ...}")
        subs: dict[str, tuple[Option, ...]] = {}
        for sname, raw in subsystems.items():
            sname = _label(sname, "subsystem")
            if sname in subs:
                raise InvalidInputError(f"subsystem {sname!r} given twice")
            if isinstance(raw, Mapping):
                opts = []
                for oname, attrs in raw.items():
                    if not isinstance(attrs, Mapping):
                        raise InvalidInputError(f"subsystem {sname}: option {oname!r} needs a mapping of attributes")
                    opts.append(Option(oname, attrs))
            elif isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
                raise InvalidInputError(f"subsystem {sname}: give a list of options, got {raw!r}")
            else:
                opts = [Option.coerce(o, f"subsystem {sname}") for o in raw]
            if not opts:
                raise InvalidInputError(f"subsystem {sname} has no options")
            names = [o.name for o in opts]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise InvalidInputError(f"subsystem {sname}: option name(s) {dupes} appear more than once")
            subs[sname] = tuple(opts)
        self.subsystems: dict[str, tuple[Option, ...]] = subs

        if isinstance(objective, str):
            weights = {objective: 1.0}
        elif isinstance(objective, Mapping) and objective:
            weights = {str(k): _finite(f"objective weight {k}", v) for k, v in objective.items()}
            if not any(weights.values()):
                raise InvalidInputError("objective weights are all zero: nothing to optimise")
        else:
            raise InvalidInputError(f"objective must be an attribute name or a mapping of weights, got {objective!r}")
        self.objective: dict[str, float] = weights

        self.limits: dict[str, tuple[float | None, float | None]] = {}
        if limits is not None:
            if not isinstance(limits, Mapping):
                raise InvalidInputError(f"limits must be a mapping such as {{'mass': 1200.0}}, got {limits!r}")
            for attr, raw in limits.items():
                if not isinstance(attr, str) or not attr:
                    raise InvalidInputError(f"limit names must be attribute names, got {attr!r}")
                self.limits[attr] = _limit(attr, raw)

        names = self.variables
        group_of = {v: k for k, g in enumerate(self._groups()) for v in (names[i] for i in g)}
        self.interactions: dict[tuple[int, int], float] = {}
        if interactions is not None:
            if not isinstance(interactions, Mapping):
                raise InvalidInputError("interactions must map (variable, variable) pairs to objective changes")
            for pair, value in interactions.items():
                if not (isinstance(pair, tuple) and len(pair) == 2):
                    raise InvalidInputError(f"interaction keys are pairs of variables like ('wing=CFRP', 'engine=B'), got {pair!r}")
                for v in pair:
                    if v not in group_of:
                        raise InvalidInputError(f"interaction names unknown variable {v!r}; variables are {', '.join(names)}")
                if group_of[pair[0]] == group_of[pair[1]]:
                    raise InvalidInputError(f"interaction {pair!r} joins two options of one subsystem, which are never selected together")
                i, j = sorted((names.index(pair[0]), names.index(pair[1])))
                self.interactions[(i, j)] = self.interactions.get((i, j), 0.0) + _finite(f"interaction {pair!r}", value)

        needed = set(self.objective) | set(self.limits)
        for sname, opts in subs.items():
            for o in opts:
                missing = needed - set(o.attributes)
                if missing:
                    raise InvalidInputError(
                        f"option {sname}={o.name} lacks attribute(s) {sorted(missing)} used by the objective or a limit"
                    )

    # -- structure -------------------------------------------------------
    @property
    def variables(self) -> tuple[str, ...]:
        """Selection variable names ``"subsystem=option"`` in QUBO order."""
        return tuple(f"{s}={o.name}" for s, opts in self.subsystems.items() for o in opts)

    @property
    def num_variables(self) -> int:
        return sum(len(o) for o in self.subsystems.values())

    @property
    def num_selections(self) -> int:
        return math.prod(len(o) for o in self.subsystems.values())

    def attribute(self, name: str) -> np.ndarray:
        """Attribute ``name`` of every option, in variable order."""
        return np.array([o[name] for opts in self.subsystems.values() for o in opts], dtype=float)

    def objective_coefficients(self) -> np.ndarray:
        """Objective coefficient of every option, in variable order (unshifted)."""
        return sum(w * self.attribute(a) for a, w in self.objective.items())

    def _groups(self) -> list[np.ndarray]:
        out, start = [], 0
        for opts in self.subsystems.values():
            out.append(np.arange(start, start + len(opts)))
            start += len(opts)
        return out

    def objective_swing(self) -> float:
        """``W = Σ_s (max_o c − min_o c) + Σ |interactions|``: a bound on the objective
        difference between any two selections (exact without interactions)."""
        c = self.objective_coefficients()
        return float(sum(c[g].max() - c[g].min() for g in self._groups()) + sum(abs(v) for v in self.interactions.values()))

    def objective_value(self, x: Any) -> np.ndarray | float:
        """Objective of a 0/1 vector over the selection variables (or of each row of a 2-D array)."""
        xb = np.asarray(x, dtype=float)
        out = xb @ self.objective_coefficients()
        for (i, j), v in self.interactions.items():
            out = out + v * xb[..., i] * xb[..., j]
        return float(out) if np.ndim(out) == 0 else out

    def describe_objective(self) -> str:
        if len(self.objective) == 1 and next(iter(self.objective.values())) == 1.0:
            return f"total {next(iter(self.objective))} (minimise)"
        return "minimise " + " + ".join(f"{w:g}·{a}" for a, w in self.objective.items())

    # -- selections ------------------------------------------------------
    def selection(self, raw: Any) -> dict[str, str]:
        """Normalise a selection: ``{subsystem: option}``, option names in subsystem
        order, or a 0/1 vector over the selection variables (must be one-hot)."""
        if isinstance(raw, Mapping):
            out = {}
            for s, opts in self.subsystems.items():
                if s not in raw:
                    raise InvalidInputError(f"selection lacks subsystem {s!r}")
                name = raw[s]
                if name not in {o.name for o in opts}:
                    raise InvalidInputError(f"subsystem {s} has no option {name!r} (has: {', '.join(o.name for o in opts)})")
                out[s] = name
            extra = set(raw) - set(self.subsystems)
            if extra:
                raise InvalidInputError(f"selection names unknown subsystem(s) {sorted(extra)}")
            return out
        bits = _as_bits(raw, None)
        if bits is not None:
            if bits.size < self.num_variables:
                raise InvalidInputError(f"a bit selection needs {self.num_variables} bits, got {bits.size}")
            out = {}
            for (s, opts), g in zip(self.subsystems.items(), self._groups()):
                on = np.flatnonzero(bits[g])
                if on.size != 1:
                    raise InvalidInputError(f"bits select {on.size} options for subsystem {s}; exactly one is needed")
                out[s] = opts[int(on[0])].name
            return out
        seq = list(raw)
        if len(seq) != len(self.subsystems):
            raise InvalidInputError(f"a selection names one option for each of {len(self.subsystems)} subsystems, got {seq!r}")
        return self.selection(dict(zip(self.subsystems, seq)))

    def bits(self, selection: Any) -> np.ndarray:
        """The 0/1 vector over the selection variables of a selection."""
        sel = self.selection(selection)
        x = np.zeros(self.num_variables, dtype=np.int8)
        for (s, opts), g in zip(self.subsystems.items(), self._groups()):
            x[g[[o.name for o in opts].index(sel[s])]] = 1
        return x

    @staticmethod
    def label(selection: Mapping[str, str]) -> str:
        """``"wing=CFRP,engine=B"``: the name of a whole selection (dataset ``option`` coordinate)."""
        return ",".join(f"{s}={o}" for s, o in selection.items())

    def enumerate(self) -> dict[str, Any]:
        """Every selection (one option per subsystem) with objective, totals and feasibility.

        Returns a dict with ``labels`` (list of str), ``choices`` (int array,
        selections × subsystems), ``objective``, ``feasible`` and ``totals``
        (``{attribute: array}`` for every limited attribute).
        """
        count = self.num_selections
        if count > MAX_ENUMERATED_SELECTIONS:
            raise InvalidInputError(f"the trade space has {count} selections; enumeration stops at {MAX_ENUMERATED_SELECTIONS}")
        sizes = [len(o) for o in self.subsystems.values()]
        choices = np.array(list(itertools.product(*(range(k) for k in sizes))), dtype=np.int64).reshape(count, len(sizes))
        offsets = np.cumsum([0, *sizes[:-1]])
        idx = choices + offsets  # variable index per subsystem
        c = self.objective_coefficients()
        objective = c[idx].sum(axis=1)
        if self.interactions:
            x = np.zeros((count, self.num_variables), dtype=np.int8)
            np.put_along_axis(x, idx, 1, axis=1)
            objective = self.objective_value(x)
        feasible = np.ones(count, dtype=bool)
        totals = {}
        for attr, (lo, hi) in self.limits.items():
            t = self.attribute(attr)[idx].sum(axis=1)
            totals[attr] = t
            tol = 1e-9 * max(1.0, abs(lo or 0.0), abs(hi or 0.0))
            if lo is not None:
                feasible &= t >= lo - tol
            if hi is not None:
                feasible &= t <= hi + tol
        opts = list(self.subsystems.values())
        labels = [
            ",".join(f"{s}={opts[j][k].name}" for j, (s, k) in enumerate(zip(self.subsystems, row)))
            for row in choices.tolist()
        ]
        return {"labels": labels, "choices": choices, "objective": objective, "feasible": feasible, "totals": totals}

    def __repr__(self) -> str:
        subs = ", ".join(f"{s}: {len(o)}" for s, o in self.subsystems.items())
        lim = ", ".join(
            f"{a} {'≥ %g' % lo if lo is not None else ''}{' ' if lo is not None and hi is not None else ''}{'≤ %g' % hi if hi is not None else ''}"
            for a, (lo, hi) in self.limits.items()
        )
        return f"TradeSpace({subs}; objective {self.describe_objective()}{'; limits ' + lim if lim else ''})"


# ---------------------------------------------------------------------------------------------
# QUBO
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackEncoding:
    """How one limit is encoded: ``λ·((g ± Σ cₖ·uₖ·r − B)/r)²``."""

    attribute: str
    bound: str  # "max" | "min"
    limit: float
    step: float  # resolution r (attribute units per slack unit)
    coefficients: tuple[int, ...]  # slack bit weights, in units of r
    first_variable: int
    exact: bool

    @property
    def num_bits(self) -> int:
        return len(self.coefficients)


@dataclass(frozen=True, eq=False)
class QUBO:
    """``E(x) = xᵀ·Q·x + offset`` over binary ``x`` (``Q`` upper triangular).

    For a QUBO built from a trade space, the first ``trade_space.num_variables``
    variables are the ``"subsystem=option"`` selection bits; the rest are slack
    bits of the limits (names ``"slack:<attribute>:<max|min>:<k>"``).
    """

    matrix: np.ndarray
    offset: float = 0.0
    variables: tuple[str, ...] = ()
    trade_space: TradeSpace | None = None
    penalty: float | None = None
    objective_swing: float | None = None
    slack: tuple[SlackEncoding, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        q = np.asarray(self.matrix, dtype=float)
        if q.ndim != 2 or q.shape[0] != q.shape[1]:
            raise InvalidInputError(f"a QUBO matrix must be square, got shape {q.shape}")
        if not np.all(np.isfinite(q)):
            raise InvalidInputError("a QUBO matrix must be finite")
        q = np.triu(q) + np.tril(q, -1).T  # fold the lower triangle onto the upper one
        q.setflags(write=False)
        object.__setattr__(self, "matrix", q)
        object.__setattr__(self, "offset", _finite("QUBO offset", self.offset))
        names = tuple(self.variables) or tuple(f"x{i}" for i in range(q.shape[0]))
        if len(names) != q.shape[0]:
            raise InvalidInputError(f"{len(names)} variable names for a {q.shape[0]}-variable QUBO")
        object.__setattr__(self, "variables", names)

    @classmethod
    def from_matrix(cls, matrix: Any, offset: float = 0.0, variables: Sequence[str] = ()) -> "QUBO":
        """A QUBO from any square matrix (symmetric or triangular; ``E = xᵀQx + offset``)."""
        return cls(np.asarray(matrix, dtype=float), offset, tuple(variables))

    @property
    def num_variables(self) -> int:
        return self.matrix.shape[0]

    @property
    def num_selection_variables(self) -> int:
        return self.trade_space.num_variables if self.trade_space is not None else self.num_variables

    def energy(self, x: Any) -> np.ndarray | float:
        """Energy of one bit vector (or bitstring) or of each row of a 2-D 0/1 array."""
        bits = _as_bits(x, self.num_variables)
        if bits is None:
            raise InvalidInputError("energy() needs a 0/1 vector, a bitstring or a 2-D 0/1 array")
        xb = bits.astype(float)
        if xb.ndim == 1:
            return float(xb @ self.matrix @ xb + self.offset)
        return np.einsum("ki,ij,kj->k", xb, self.matrix, xb) + self.offset

    def decode(self, x: Any) -> dict[str, Any]:
        """Selection and slack bits of a bit vector: ``{"bits", "selection" (or None), "one_hot"}``."""
        bits = _as_bits(x, self.num_variables)
        if bits is None or bits.ndim != 1:
            raise InvalidInputError("decode() needs one 0/1 vector or bitstring")
        out: dict[str, Any] = {"bits": bits, "selection": None, "one_hot": None}
        if self.trade_space is not None:
            sel = bits[: self.num_selection_variables]
            groups = self.trade_space._groups()
            out["one_hot"] = bool(all(sel[g].sum() == 1 for g in groups))
            if out["one_hot"]:
                out["selection"] = self.trade_space.selection(sel)
        return out

    def to_ising(self):
        """See :func:`to_ising`."""
        return to_ising(self)

    def __repr__(self) -> str:
        what = f" from {self.trade_space!r}" if self.trade_space is not None else ""
        return f"QUBO({self.num_variables} variables, offset {self.offset:g}{what})"


def _as_bits(x: Any, n: int | None) -> np.ndarray | None:
    """0/1 int8 array from a bitstring (``"0101"``, variable 0 first) or an array; None if not bits."""
    if isinstance(x, str):
        if not x or set(x) - {"0", "1"}:
            return None
        arr = np.frombuffer(x.encode(), dtype=np.uint8) - ord("0")
        arr = arr.astype(np.int8)
    else:
        if isinstance(x, Mapping):
            return None
        try:
            arr = np.asarray(x)
        except Exception:  # noqa: BLE001 - anything not array-like is "not bits"
            return None
        if arr.dtype.kind not in "biu" and not (arr.dtype.kind == "f" and arr.size and np.all(np.isin(arr, (0.0, 1.0)))):
            return None
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            return None
        arr = arr.astype(np.int8)
    if n is not None and arr.shape[-1] != n:
        raise InvalidInputError(f"expected {n} bits, got {arr.shape[-1]}")
    return arr


def _resolution(values: Sequence[float], max_units: float | None = None) -> float | None:
    """Largest r such that every value is an integer multiple of r (decimal data up to 6 places)."""
    for places in range(0, 7):
        scale = 10**places
        ints = []
        ok = True
        for v in values:
            s = v * scale
            k = round(s)
            if abs(s - k) > 1e-9 * max(1.0, abs(s)):
                ok = False
                break
            ints.append(abs(int(k)))
        if ok:
            g = 0
            for k in ints:
                g = math.gcd(g, k)
            return float(Fraction(g if g else 1, scale))
    return None


def _add_square(q: np.ndarray, idx: Sequence[int], weights: Sequence[float], const: float, scale: float) -> float:
    """Add ``scale·(Σ wᵢ·x[idxᵢ] + const)²`` to ``q`` (upper triangular); return the constant part."""
    idx = list(idx)
    w = np.asarray(weights, dtype=float)
    for a in range(len(idx)):
        i = idx[a]
        q[i, i] += scale * (w[a] * w[a] + 2.0 * const * w[a])
        for b in range(a + 1, len(idx)):
            j = idx[b]
            lo, hi = (i, j) if i < j else (j, i)
            q[lo, hi] += 2.0 * scale * w[a] * w[b]
    return scale * const * const


def _slack_coefficients(units: int) -> tuple[int, ...]:
    """Bounded-coefficient binary encoding of every integer 0…units."""
    if units <= 0:
        return ()
    k = int(math.floor(math.log2(units))) + 1  # bits so that 2^k - 1 >= units
    coeffs = [1 << i for i in range(k - 1)]
    coeffs.append(units - (sum(coeffs)))
    return tuple(coeffs)


def to_qubo(trade_space: TradeSpace, penalty: float | None = None, *, max_slack_bits: int = 8) -> QUBO:
    """The QUBO of a trade space (see the module docstring for the encoding).

    Parameters
    ----------
    trade_space : TradeSpace
    penalty : float, optional
        Weight ``P`` of the one-hot and limit penalties. Default ``1.25·W``
        with ``W`` the largest objective swing (:meth:`TradeSpace.objective_swing`);
        a given value must exceed ``W``, otherwise an infeasible bit pattern
        could beat the feasible optimum.
    max_slack_bits : int, default 8
        Most slack bits per limit; finer data use a coarser step (with a warning).

    Returns
    -------
    QUBO
        With ``variables`` ``"subsystem=option"`` then ``"slack:…"`` names,
        ``penalty`` and ``objective_swing`` recorded.
    """
    if not isinstance(trade_space, TradeSpace):
        raise InvalidInputError(f"to_qubo needs a TradeSpace, got {type(trade_space).__name__}")
    if not isinstance(max_slack_bits, int) or max_slack_bits < 1:
        raise InvalidInputError(f"max_slack_bits must be a positive whole number, got {max_slack_bits!r}")
    ts = trade_space
    groups = ts._groups()
    n_sel = ts.num_variables
    c = ts.objective_coefficients()
    swing = ts.objective_swing()
    if penalty is None:
        p = PENALTY_MARGIN * swing if swing > 0 else 1.0
    else:
        p = _finite("penalty", penalty)
        if p <= swing or p <= 0:
            raise InvalidInputError(
                f"penalty {p:g} must exceed the largest objective swing W = {swing:g} "
                "(otherwise an infeasible selection can beat the feasible optimum); leave it out for 1.25·W"
            )

    # plan the limits first: each needs a number of slack bits
    plans = []
    n_total = n_sel
    for attr, (lo, hi) in ts.limits.items():
        a = ts.attribute(attr)
        amin = float(sum(a[g].min() for g in groups))
        amax = float(sum(a[g].max() for g in groups))
        for bound, limit in (("max", hi), ("min", lo)):
            if limit is None:
                continue
            span = limit - amin if bound == "max" else amax - limit
            tol = 1e-9 * max(1.0, abs(limit))
            if span < -tol:
                best = amin if bound == "max" else amax
                raise InvalidInputError(
                    f"limit {attr} {'≤' if bound == 'max' else '≥'} {limit:g} cannot be met: the "
                    f"{'smallest' if bound == 'max' else 'largest'} possible total is {best:g}"
                )
            if (bound == "max" and amax <= limit + tol) or (bound == "min" and amin >= limit - tol):
                continue  # no selection can break it: no penalty, no bits
            step = _resolution([*a.tolist(), limit])
            exact = step is not None
            span = max(span, 0.0)
            if exact:
                units = int(round(span / step))
                if units >= (1 << max_slack_bits):
                    exact = False
            if not exact:
                units = (1 << max_slack_bits) - 1
                step = span / units
                warn(
                    f"limit {attr} {bound} {limit:g}: data need a finer step than {max_slack_bits} slack bits allow; "
                    f"encoded with step {step:.4g}, so the QUBO may misjudge selections within one step of the limit "
                    "(feasibility is still evaluated exactly)"
                )
            coeffs = _slack_coefficients(units)
            plans.append((attr, bound, float(limit), float(step), coeffs, n_total, exact, a))
            n_total += len(coeffs)

    q = np.zeros((n_total, n_total))
    offset = 0.0
    # objective, shifted per subsystem so each cheapest option costs 0
    for g in groups:
        cmin = float(c[g].min())
        offset += cmin
        q[g, g] += c[g] - cmin
    for (i, j), v in ts.interactions.items():
        q[i, j] += v
    # one-hot
    for g in groups:
        offset += _add_square(q, g, np.ones(len(g)), -1.0, p)
    # limits with slack bits, in units of the step
    encodings = []
    names = list(ts.variables)
    for attr, bound, limit, step, coeffs, first, exact, a in plans:
        sign = 1.0 if bound == "max" else -1.0
        idx = list(range(n_sel)) + [first + k for k in range(len(coeffs))]
        weights = list(a / step) + [sign * k for k in coeffs]
        offset += _add_square(q, idx, weights, -limit / step, p)
        names += [f"slack:{attr}:{bound}:{k}" for k in range(len(coeffs))]
        encodings.append(SlackEncoding(attr, bound, limit, step, coeffs, first, exact))
    return QUBO(q, offset, tuple(names), ts, p, swing, tuple(encodings))


def to_ising(qubo: QUBO):
    """The QUBO as an Ising operator: ``(op, constant)`` with ``E(x) = ⟨x|op|x⟩ + constant``.

    ``x_i = (1 − z_i)/2`` with ``z_i = ±1`` the eigenvalue of ``Z`` on qubit
    ``i`` (variable ``i`` is qubit ``i``; in Qiskit bitstrings qubit 0 is the
    rightmost character). ``op`` is a ``qiskit.quantum_info.SparsePauliOp``
    of ``Z`` and ``ZZ`` terms without the identity; an all-constant QUBO gives
    the zero operator.
    """
    try:
        from qiskit.quantum_info import SparsePauliOp
    except ImportError as exc:  # pragma: no cover - qiskit is installed here
        raise MissingDependencyError("the Ising form needs Qiskit: pip install 'pluma[quantum]'") from exc
    if not isinstance(qubo, QUBO):
        raise InvalidInputError(f"to_ising needs a QUBO, got {type(qubo).__name__}")
    q = qubo.matrix
    n = q.shape[0]
    const = qubo.offset
    h = np.zeros(n)
    terms = []
    for i in range(n):
        const += q[i, i] / 2.0
        h[i] -= q[i, i] / 2.0
        for j in range(i + 1, n):
            qij = q[i, j]
            if qij == 0.0:
                continue
            const += qij / 4.0
            h[i] -= qij / 4.0
            h[j] -= qij / 4.0
            terms.append(("ZZ", [i, j], qij / 4.0))
    terms = [("Z", [i], h[i]) for i in range(n) if h[i] != 0.0] + terms
    if not terms:
        terms = [("Z", [0], 0.0)]
    op = SparsePauliOp.from_sparse_list(terms, num_qubits=n).simplify(atol=1e-12)
    return op, float(const)


# ---------------------------------------------------------------------------------------------
# evaluation and brute force
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SelectionEvaluation:
    """A selection judged against the trade space (exactly, not through the QUBO)."""

    selection: dict[str, str] | None  # None when the bits are not one option per subsystem
    objective: float
    feasible: bool
    one_hot: bool
    constraints: dict[str, float]  # attribute totals of the limited attributes
    violations: dict[str, float]  # how far each limit is broken (0 when met)
    energy: float | None = None  # QUBO energy, when evaluated through a QUBO with bits


def evaluate_selection(space: TradeSpace | QUBO, selection: Any) -> SelectionEvaluation:
    """Objective, feasibility and constraint totals of a selection.

    ``selection`` is ``{subsystem: option}``, option names in subsystem order,
    or bits (array or bitstring with variable 0 first) over the selection
    variables — or over all QUBO variables when ``space`` is a QUBO. Bits
    that do not pick exactly one option per subsystem are infeasible; their
    objective and totals are the sums over the picked options.
    """
    qubo = space if isinstance(space, QUBO) else None
    ts = qubo.trade_space if qubo is not None else space
    if not isinstance(ts, TradeSpace):
        raise InvalidInputError("evaluate_selection needs a TradeSpace or a QUBO built by to_qubo")
    energy = None
    bits = None if isinstance(selection, Mapping) else _as_bits(selection, None)  # None for option names
    if bits is not None and bits.ndim == 1 and bits.size > 0:
        if qubo is not None and bits.size == qubo.num_variables:
            energy = float(qubo.energy(bits))
        if bits.size < ts.num_variables:
            raise InvalidInputError(f"a bit selection needs at least {ts.num_variables} bits, got {bits.size}")
        x = bits[: ts.num_variables].astype(float)
        one_hot = bool(all(x[g].sum() == 1 for g in ts._groups()))
        sel = ts.selection(x.astype(np.int8)) if one_hot else None
    else:
        sel = ts.selection(selection)
        x = ts.bits(sel).astype(float)
        one_hot = True
    objective = float(ts.objective_value(x))
    totals, violations = {}, {}
    feasible = one_hot
    for attr, (lo, hi) in ts.limits.items():
        t = float(ts.attribute(attr) @ x)
        totals[attr] = t
        tol = 1e-9 * max(1.0, abs(lo or 0.0), abs(hi or 0.0))
        v = 0.0
        if hi is not None and t > hi + tol:
            v = t - hi
        if lo is not None and t < lo - tol:
            v = lo - t
        violations[attr] = v
        feasible = feasible and v == 0.0
    return SelectionEvaluation(sel, objective, bool(feasible), one_hot, totals, violations, energy)


@dataclass(frozen=True)
class BruteForceResult:
    """The exact optimum by enumeration.

    For a trade space: the best feasible ``selection`` and its ``objective``,
    the worst feasible objective (for approximation ratios) and counts. For a
    QUBO also its ground state ``bits`` and ``energy`` (and the largest
    energy ``max_energy``), and whether the ground state decodes to the best
    feasible selection (``ground_state_is_optimum``).
    """

    selection: dict[str, str] | None
    objective: float | None
    feasible: bool
    worst_feasible_objective: float | None = None
    num_feasible: int = 0
    num_evaluated: int = 0
    optimal_selections: tuple[str, ...] = ()  # labels of every selection tied at the optimum
    bits: np.ndarray | None = None
    energy: float | None = None
    max_energy: float | None = None
    ground_state_is_optimum: bool | None = None


def _qubo_extremes(qubo: QUBO) -> tuple[np.ndarray, float, float]:
    n = qubo.num_variables
    if n > MAX_BRUTE_FORCE_VARIABLES:
        raise InvalidInputError(f"brute force stops at {MAX_BRUTE_FORCE_VARIABLES} variables; this QUBO has {n}")
    best_e, best_k, max_e = math.inf, 0, -math.inf
    powers = np.arange(n)
    block = 1 << 14
    for start in range(0, 1 << n, block):
        ks = np.arange(start, min(start + block, 1 << n))
        xs = ((ks[:, None] >> powers) & 1).astype(np.int8)  # variable i = bit i of k
        e = qubo.energy(xs) if n else np.full(len(ks), qubo.offset)
        k = int(np.argmin(e))
        if e[k] < best_e - 1e-12:
            best_e, best_k = float(e[k]), int(ks[k])
        max_e = max(max_e, float(e.max()))
    bits = ((best_k >> np.arange(n)) & 1).astype(np.int8)
    return bits, best_e, max_e


def brute_force(problem: TradeSpace | QUBO) -> BruteForceResult:
    """Exact optimum by enumeration (trade spaces up to 2²⁰ selections, QUBOs up to 20 variables).

    A trade space enumerates its selections (one option per subsystem) and
    returns the best feasible one. A QUBO enumerates all ``2ⁿ`` bit patterns
    (``n ≤ 20``); when it was built from a trade space the trade-space optimum
    is reported too, with ``ground_state_is_optimum``.
    """
    if isinstance(problem, QUBO):
        bits, e_min, e_max = _qubo_extremes(problem)
        if problem.trade_space is None:
            return BruteForceResult(None, None, False, num_evaluated=1 << problem.num_variables,
                                    bits=bits, energy=e_min, max_energy=e_max)
        base = brute_force(problem.trade_space)
        decoded = problem.decode(bits)
        ok = decoded["selection"] is not None and TradeSpace.label(decoded["selection"]) in base.optimal_selections
        return BruteForceResult(base.selection, base.objective, base.feasible, base.worst_feasible_objective,
                                base.num_feasible, base.num_evaluated, base.optimal_selections,
                                bits=bits, energy=e_min, max_energy=e_max, ground_state_is_optimum=bool(ok))
    if not isinstance(problem, TradeSpace):
        raise InvalidInputError(f"brute_force needs a TradeSpace or a QUBO, got {type(problem).__name__}")
    table = problem.enumerate()
    feas = table["feasible"]
    count = len(table["labels"])
    if not feas.any():
        return BruteForceResult(None, None, False, None, 0, count)
    obj = table["objective"]
    fobj = obj[feas]
    best = float(fobj.min())
    tol = 1e-9 * max(1.0, abs(best))
    ties = np.flatnonzero(feas & (obj <= best + tol))
    k = int(ties[0])
    sel = dict(zip(problem.subsystems, (problem.subsystems[s][i].name for s, i in zip(problem.subsystems, table["choices"][k]))))
    return BruteForceResult(sel, best, True, float(fobj.max()), int(feas.sum()), count,
                            tuple(table["labels"][i] for i in ties))
