"""Integrity of the Enterprise Memory: checksums, fsck, replication, retention.

``checksums``  at freeze time, sha256 of every key and metadata object of the
               frozen context, kept on each enclave's ``checksums`` branch.
``fsck``       verify every frozen context against them, check every ref opens,
               name the damage; repair from a replica.
``replicate``  incremental object copy of the workspace to another folder or bucket.
``retention``  expire old working history and collect garbage (Icechunk's own
               operations), dry run by default; tags and branch tips are kept.
``objects``    the raw storage objects of a root (folder or S3).

Every entry point here is for workspace admins.

Examples
--------
>>> from pluma.integrity import fsck, gc, replicate
>>> replicate(ws, "/backup/ws")                        # doctest: +SKIP
>>> fsck(ws, repair_from="/backup/ws").ok              # doctest: +SKIP
True
>>> gc(ws, "30d")                                      # dry run  # doctest: +SKIP
"""

from .checksums import CHECKSUM_BRANCH, load_manifests, record_freeze_checksums
from .fsck import Damage, FsckReport, fsck
from .replicate import ReplicationReport, replicate
from .retention import RetentionReport, gc, parse_duration

__all__ = [
    "CHECKSUM_BRANCH",
    "Damage",
    "FsckReport",
    "ReplicationReport",
    "RetentionReport",
    "fsck",
    "gc",
    "load_manifests",
    "parse_duration",
    "record_freeze_checksums",
    "replicate",
]
