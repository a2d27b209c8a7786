"""Phase gates: YAML definitions, evaluation with evidence, approvals."""

from .definition import GateDefinition, default_gate
from .report import GateReport

__all__ = ["GateDefinition", "GateReport", "default_gate"]
