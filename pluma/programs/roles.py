"""Program roles and what each may do (DESIGN.md, "Who may do what")."""

from __future__ import annotations

from ..errors import InvalidInputError

__all__ = ["ROLES", "PERMISSIONS", "roles_for", "validate_roles"]

ROLES = ("viewer", "engineer", "chief_engineer", "quality", "program_manager", "finance")

#: operation -> roles allowed to do it (approval roles come from the gate definition)
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "write": frozenset({"engineer", "chief_engineer"}),
    "advance": frozenset({"chief_engineer", "program_manager"}),
    "rework": frozenset({"chief_engineer", "program_manager"}),
    "hold": frozenset({"chief_engineer", "program_manager"}),
    "resume": frozenset({"chief_engineer", "program_manager"}),
    "declare_params": frozenset({"chief_engineer", "program_manager"}),
    "kill": frozenset({"program_manager"}),
    "manage_members": frozenset({"program_manager"}),
    "set_gate": frozenset({"program_manager"}),
    "approve_capacity": frozenset({"finance"}),
    "request_capacity": frozenset({"chief_engineer", "program_manager"}),
}

_DESCRIPTIONS = {
    "read": "read this program",
    "write": "change the working context",
    "advance": "advance the program",
    "rework": "send the program back to an earlier phase",
    "hold": "put the program on hold",
    "resume": "resume the program",
    "declare_params": "declare program parameters",
    "kill": "kill the program",
    "manage_members": "manage members",
    "set_gate": "override gate definitions",
    "approve_capacity": "approve capacity requests",
    "request_capacity": "request capacity",
}


def describe(operation: str) -> str:
    return _DESCRIPTIONS.get(operation, operation)


def validate_roles(roles: object, who: str) -> list[str]:
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, (list, tuple, set, frozenset)) or not roles:
        raise InvalidInputError(f"roles for {who} must be a non-empty list such as ['engineer']")
    out = []
    for role in roles:
        if role not in ROLES:
            raise InvalidInputError(f"unknown role {role!r} for {who}: use {', '.join(ROLES)}")
        if role not in out:
            out.append(role)
    return out


def roles_for(operation: str) -> frozenset[str]:
    return PERMISSIONS[operation]
