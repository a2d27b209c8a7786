"""Federation documents: JSON documents on the ``federation`` branch of the
default enclave (peers, exchanges, seen bundles, this workspace's public identity).

The branch is separate from the registry so that frequent exchange records do not
contend with program changes; every change goes through ``Enclave.update``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from ..workspace import Workspace

__all__ = ["BRANCH", "read_doc", "update_docs"]

BRANCH = "federation"
T = TypeVar("T")


def _enclave(ws: "Workspace"):
    import icechunk

    enclave = ws._default
    if BRANCH not in enclave.repo.list_branches():
        try:
            enclave.create_branch(BRANCH, enclave.initial_snapshot())
        except icechunk.IcechunkError:
            if BRANCH not in enclave.repo.list_branches():
                raise
    return enclave


def read_doc(ws: "Workspace", path: str, default: Any = None) -> Any:
    """The federation document ``path`` (``default`` when there is none)."""
    enclave = ws._default
    if BRANCH not in enclave.repo.list_branches():
        return default
    return enclave.snapshot(branch=BRANCH).doc(path, default)


def update_docs(ws: "Workspace", change: Callable[[Any], T], *, message: str, kind: str = "federation") -> T:
    """Run ``change(txn)`` on the federation branch and commit once (nothing if it raises)."""
    _, result = _enclave(ws).update(BRANCH, change, message=message, metadata={"author": ws.user, "kind": kind})
    return result
