"""The nine CAx phases and the legal moves between them."""

from __future__ import annotations

from enum import Enum

from ..errors import InvalidInputError

__all__ = ["Phase", "Status", "CLASSIFICATIONS", "PRIORITIES", "DOMAINS", "QUOTA_KEYS", "classification_rank"]


class Phase(str, Enum):
    """A lifecycle phase. Ordered: ``Phase.CAD < Phase.CAE``; ``Phase.parse("cae")``."""

    CAD = "CAD"  # design
    CAE = "CAE"  # engineering analysis
    CAI = "CAI"  # integration
    CAO = "CAO"  # optimization
    CAM = "CAM"  # manufacturing
    CAP = "CAP"  # production planning
    CAV = "CAV"  # verification & validation
    CMP = "CMP"  # compliance & certification
    CAS = "CAS"  # services & sustainment

    @property
    def index(self) -> int:
        return list(Phase).index(self)

    @property
    def title(self) -> str:
        return _TITLES[self]

    @property
    def next(self) -> "Phase | None":
        phases = list(Phase)
        return phases[self.index + 1] if self.index + 1 < len(phases) else None

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Phase):
            return NotImplemented
        return self.index < other.index

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Phase):
            return NotImplemented
        return self.index <= other.index

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: "Phase | str") -> "Phase":
        if isinstance(value, Phase):
            return value
        if isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        raise InvalidInputError(f"unknown phase {value!r}: use one of {', '.join(p.value for p in cls)}")


_TITLES = {
    Phase.CAD: "design",
    Phase.CAE: "engineering analysis",
    Phase.CAI: "integration",
    Phase.CAO: "optimization",
    Phase.CAM: "manufacturing",
    Phase.CAP: "production planning",
    Phase.CAV: "verification & validation",
    Phase.CMP: "compliance & certification",
    Phase.CAS: "services & sustainment",
}


class Status(str, Enum):
    ACTIVE = "active"
    HOLD = "hold"
    KILLED = "killed"

    def __str__(self) -> str:
        return self.value


CLASSIFICATIONS = ("PUBLIC", "EAR99", "EAR", "ITAR")
PRIORITIES = {"standard": 1.0, "research": 1.2, "defense": 1.5}
DOMAINS = ("AAA", "AAP", "CCC", "CQH", "DDD", "EDI", "EEE", "EER", "IIF", "IIS", "LCC", "LIB", "MMM", "OOO", "PPP")
QUOTA_KEYS = ("cores", "memory_gb", "gpus", "storage_tb", "qubits")


def classification_rank(label: str) -> int:
    return CLASSIFICATIONS.index(label)


def validate_classification(value: object, what: str = "classification") -> str:
    if isinstance(value, str) and value.upper() in CLASSIFICATIONS:
        return value.upper()
    raise InvalidInputError(f"unknown {what} {value!r}: use one of {', '.join(CLASSIFICATIONS)}")


def validate_priority(value: object) -> str:
    if isinstance(value, str) and value.lower() in PRIORITIES:
        return value.lower()
    raise InvalidInputError(f"unknown priority {value!r}: use one of {', '.join(PRIORITIES)}")


def validate_domains(values: object) -> list[str]:
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        raise InvalidInputError(f"domains must be a list of codes such as ['AAA', 'PPP'], got {values!r}")
    out = []
    for v in values:
        code = v.upper() if isinstance(v, str) else v
        if code not in DOMAINS:
            raise InvalidInputError(f"unknown domain {v!r}: use codes from {', '.join(DOMAINS)}")
        if code not in out:
            out.append(code)
    return out


def validate_quotas(quotas: object) -> dict[str, float]:
    if quotas is None:
        return {}
    if not isinstance(quotas, dict):
        raise InvalidInputError(f"quotas must be a mapping of {', '.join(QUOTA_KEYS)} to numbers")
    out = {}
    for key, value in quotas.items():
        if key not in QUOTA_KEYS:
            raise InvalidInputError(f"unknown quota {key!r}: use {', '.join(QUOTA_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
            raise InvalidInputError(f"quota {key} must be a number >= 0, got {value!r}")
        out[key] = int(value) if float(value).is_integer() else float(value)
    return out
