"""Enterprise Memory: Icechunk repositories ("enclaves") under one workspace root.

``storage``  turns a workspace URI and storage options into Icechunk storage.
``locking``  serialises commits on local storage (Icechunk's local store is not
             safe for concurrent commits).
``enclave``  one Icechunk repository: JSON documents, datasets and artifacts on
             branches, immutable tags, and the commit loop every change goes through.
"""

from .enclave import Enclave, Snapshot, WriteTxn
from .storage import WorkspaceRoot, parse_root

__all__ = ["Enclave", "Snapshot", "WorkspaceRoot", "WriteTxn", "parse_root"]
