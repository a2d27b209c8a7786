"""PLUMA — a Jupyter-centric engineering analytics workbench for aerospace programs.

>>> import pluma
>>> ws = pluma.open()                       # doctest: +SKIP
>>> prog = ws.program("AMPEL360")           # doctest: +SKIP
"""

from .context.diff import ContextDiff, diff
from .context.frozen import FrozenContext
from .context.params import ParamInfo, ParamSpec, Params
from .context.view import ContextView
from .context.working import Context, Transaction
from .errors import (
    AccessDenied,
    ConflictError,
    ExpressionError,
    GateNotPassed,
    InvalidInputError,
    MissingDependencyError,
    NotFoundError,
    PlumaError,
    PlumaWarning,
    StaleContextError,
    StateError,
    StorageError,
    UnitError,
)
from .gates.definition import GateDefinition, default_gate
from .gates.gate import Gate
from .gates.report import GateReport
from .programs.phases import Phase, Status
from .programs.program import Program
from .templates.recording import record
from .workspace import Workspace, open_workspace as open

__version__ = "0.1.0"

__all__ = sorted([
    "AccessDenied",
    "ConflictError",
    "Context",
    "ContextDiff",
    "ContextView",
    "ExpressionError",
    "FrozenContext",
    "Gate",
    "GateDefinition",
    "GateNotPassed",
    "GateReport",
    "InvalidInputError",
    "MissingDependencyError",
    "NotFoundError",
    "ParamInfo",
    "ParamSpec",
    "Params",
    "Phase",
    "PlumaError",
    "PlumaWarning",
    "Program",
    "record",
    "StaleContextError",
    "StateError",
    "Status",
    "StorageError",
    "Transaction",
    "UnitError",
    "Workspace",
    "default_gate",
    "diff",
    "open",
])
