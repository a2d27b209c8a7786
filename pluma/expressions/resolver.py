"""Where an expression's names get their values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["MissingValue", "Resolver", "MappingResolver"]


class MissingValue(LookupError):
    """Raised by a resolver when a parameter or dataset variable has no value.

    Internal signal, not a PlumaError: the evaluation then reports the name in
    ``Evaluation.missing`` and does not pass.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no value for {self.name}"


@runtime_checkable
class Resolver(Protocol):
    """Supplies values to :meth:`Expression.evaluate`.

    ``param(name)`` returns a parameter's value: a pint Quantity (in the declared
    unit) for a parameter with a unit, otherwise a plain number, str or bool.
    ``dataset_var(dataset, var)`` returns a dataset variable as a numpy array, or a
    pint Quantity wrapping a numpy array when the variable has a unit.
    Both raise :class:`MissingValue` when there is no value (returning None counts
    as missing too).
    """

    def param(self, name: str) -> Any: ...

    def dataset_var(self, dataset: str, var: str) -> Any: ...


class MappingResolver:
    """A :class:`Resolver` over plain dicts (tests, queries over already-loaded rows).

    >>> from pluma.units import ureg
    >>> r = MappingResolver({"span": 36 * ureg.m}, {"wing_loads": {"margin_of_safety": [0.2, 0.5]}})
    >>> print(r.param("span"))
    36 m
    """

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        datasets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.params = dict(params or {})
        self.datasets = {name: dict(variables) for name, variables in (datasets or {}).items()}

    def param(self, name: str) -> Any:
        value = self.params.get(name)
        if value is None:
            raise MissingValue(name)
        return value

    def dataset_var(self, dataset: str, var: str) -> Any:
        value = self.datasets.get(dataset, {}).get(var)
        if value is None:
            raise MissingValue(f"datasets.{dataset}.{var}")
        return value

    def __repr__(self) -> str:
        return f"MappingResolver(params={sorted(self.params)}, datasets={sorted(self.datasets)})"
