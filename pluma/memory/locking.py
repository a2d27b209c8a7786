"""Commit locks.

Icechunk's local filesystem storage is not safe for concurrent commits: two
commits can both report success and one is lost (FIELD-NOTES). Every commit,
branch and tag change on a local enclave therefore runs under an exclusive OS
lock (``fcntl.flock``) over the whole repository. The lock is re-entrant within
a process (threads share a re-entrant mutex and one open file).
Object stores need no lock: Icechunk's conditional writes detect the race and
PLUMA retries the change on the new tip.
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["CommitLock", "NullLock"]


class CommitLock:
    _registry: dict[str, "CommitLock"] = {}
    _registry_guard = threading.Lock()

    def __new__(cls, path: Path) -> "CommitLock":
        key = str(path)
        with cls._registry_guard:
            lock = cls._registry.get(key)
            if lock is None or lock._pid != os.getpid():
                lock = super().__new__(cls)
                lock._init(path)
                cls._registry[key] = lock
            return lock

    def _init(self, path: Path) -> None:
        self.path = path
        self._mutex = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = os.getpid()

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._mutex:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = None


class NullLock:
    @contextmanager
    def hold(self) -> Iterator[None]:
        yield
