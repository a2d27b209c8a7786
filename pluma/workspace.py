"""The workspace: one organisation's installation — a storage root with its
enclaves, user registry, program directory and events.

The registry lives on the ``main`` branch of the default enclave (documents
``workspace``, ``users``, ``programs``, ``events``); each program lives on its own
branch ``programs/<name>`` of its enclave (the default one, or its own for ITAR).

What the default enclave may hold about an ITAR program: its registry entry (name,
classification, enclave and branch names, storage location — never credentials —,
creation time and creator, members and their roles) and the workspace events
naming it (created, users added). Parameter values, datasets, artifacts, gate
reports, its frozen-context index entries and its own event trail stay in its
enclave (``tests/integration/test_enclaves.py`` checks this byte by byte). Reading
an ITAR program needs membership and ITAR clearance, workspace admins included.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping

from ._time import now
from .errors import AccessDenied, InvalidInputError, NotFoundError
from .identity import resolve_user
from .memory import Enclave, WorkspaceRoot, parse_root
from .memory.storage import enclave_root
from .names import name_key, validate_name
from .programs.phases import (
    Phase,
    Status,
    validate_classification,
    validate_domains,
    validate_priority,
    validate_quotas,
)
from .programs.program import Program

if TYPE_CHECKING:  # pragma: no cover
    from .context.frozen import FrozenContext
    from .federation import Federation
from .programs.roles import validate_roles

__all__ = ["Workspace", "open_workspace", "DEFAULT_ENCLAVE"]

DEFAULT_ENCLAVE = "default"
REGISTRY_BRANCH = "main"
SCHEMA = 1


def open_workspace(
    location: str | os.PathLike | None = None,
    *,
    user: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    create: bool = True,
) -> "Workspace":
    """Open (or, unless ``create=False``, create) a workspace.

    ``location`` is a folder, or ``s3://bucket/prefix``; ``None`` means
    ``$PLUMA_HOME``, else ``./pluma-home``. The first opener of a new workspace is
    its admin. ``user`` defaults to ``PLUMA_USER``, else the OS user; under
    JupyterHub the hub's identity is confirmed and wins.

    Examples
    --------
    >>> import pluma
    >>> ws = pluma.open(tmp_path / "ws", user="admin")   # doctest: +SKIP
    >>> ws.is_admin                                       # doctest: +SKIP
    True
    """
    root = parse_root(location, storage_options)
    who = resolve_user(user)
    if not create and not Enclave.exists(root, DEFAULT_ENCLAVE):
        raise NotFoundError(f"no PLUMA workspace at {root.uri}; create one with pluma.open() or `pluma init`")
    return Workspace(root, who)


class Workspace:
    """A PLUMA workspace as seen by one user."""

    def __init__(self, root: WorkspaceRoot, user: str) -> None:
        self.root = root
        self.user = user
        self._enclaves: dict[str, Enclave] = {}
        exists = Enclave.exists(root, DEFAULT_ENCLAVE)
        self._enclaves[DEFAULT_ENCLAVE] = Enclave(root, DEFAULT_ENCLAVE, create=not exists)
        if not self._registry_doc("workspace"):
            self._initialise()

    # -- storage ------------------------------------------------------------
    def _enclave(self, name: str, *, create: bool = False, storage: str | None = None) -> Enclave:
        """The enclave ``name``: under the workspace root, or at the location its
        registry entry records (``storage``; options from the environment, see
        :func:`pluma.memory.storage.enclave_root`)."""
        if name not in self._enclaves:
            if storage is None and name != DEFAULT_ENCLAVE:
                storage = next((e["storage"] for e in self._registry_doc("programs", {}).values()
                                if e.get("enclave") == name and e.get("storage")), None)
            root = enclave_root(name, storage, self.root) if storage is not None else self.root
            self._enclaves[name] = Enclave(root, name, create=create)
        return self._enclaves[name]

    @property
    def _default(self) -> Enclave:
        return self._enclaves[DEFAULT_ENCLAVE]

    def _registry_doc(self, name: str, default: Any = None) -> Any:
        return self._default.snapshot(branch=REGISTRY_BRANCH).doc(name, default)

    def _initialise(self) -> None:
        initial = self._default.initial_snapshot()

        def change(txn):
            if txn.doc("workspace"):
                return False  # someone else initialised it first
            txn.put_doc("workspace", {"schema": SCHEMA, "created": now(), "created_by": self.user,
                                      "initial_snapshot": initial})
            txn.put_doc("users", {self.user.lower(): self._user_record(self.user, admin=True)})
            txn.put_doc("programs", {})
            self._append_event(txn, "workspace_created")
            return True

        self._default.update(REGISTRY_BRANCH, change, message="create workspace",
                             metadata={"author": self.user, "kind": "workspace"})

    @staticmethod
    def _user_record(name: str, *, admin: bool = False, display_name: str | None = None,
                     itar_cleared: bool = False) -> dict[str, Any]:
        return {"name": name, "display_name": display_name or name, "admin": admin,
                "clearance": {"itar": itar_cleared}, "created": now()}

    @property
    def location(self) -> str:
        return self.root.uri

    # -- users ----------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        """The user registry: name, display name, admin flag, clearance."""
        return [dict(u) for _, u in sorted(self._registry_doc("users", {}).items())]

    def user_info(self, name: str | None = None) -> dict[str, Any]:
        name = self.user if name is None else validate_name(name, "user name")
        users = self._registry_doc("users", {})
        if name.lower() not in users:
            raise NotFoundError(f"no user {name!r} in this workspace; an admin adds users with ws.add_user({name!r})")
        return dict(users[name.lower()])

    @property
    def is_admin(self) -> bool:
        return self._user_is_admin(self.user)

    def _user_is_admin(self, user: str) -> bool:
        record = self._registry_doc("users", {}).get(user.lower())
        return bool(record and record.get("admin"))

    def _require_admin(self, what: str) -> None:
        if not self.is_admin:
            from .audit import record_refusal

            exc = AccessDenied(f"{self.user} may not {what}: only a workspace admin may")
            record_refusal(self, exc, what)
            raise exc

    def _itar_cleared(self, user: str) -> bool:
        record = self._registry_doc("users", {}).get(user.lower()) or {}
        return bool((record.get("clearance") or {}).get("itar"))

    def _require_itar_access(self, program: str, user: str, *, member: bool) -> None:
        """An ITAR program is read (or changed) only by members with ITAR clearance —
        admins included (DESIGN.md, "Who may do what")."""
        if not member:
            raise AccessDenied(
                f"{user} may not read or change ITAR program {program}: it needs membership and ITAR clearance from "
                f"everyone, workspace admins included, and {user} is not a member; its program manager (or an "
                f"admin) adds members with program.set_member(...)"
            )
        if not self._itar_cleared(user):
            raise AccessDenied(
                f"{user} may not read or change ITAR program {program}: {user} is a member but has no ITAR clearance; "
                f"a workspace admin records one with ws.set_user({user!r}, itar_cleared=True) "
                f"(`pluma user set {user} --itar-cleared`)"
            )

    def add_user(self, name: str, *, display_name: str | None = None, admin: bool = False,
                 itar_cleared: bool = False) -> dict[str, Any]:
        """Register a user (admin only)."""
        validate_name(name, "user name")
        if display_name is not None and not isinstance(display_name, str):
            raise InvalidInputError("display_name must be text")
        for flag, value in (("admin", admin), ("itar_cleared", itar_cleared)):
            if not isinstance(value, bool):
                raise InvalidInputError(f"{flag} must be True or False")
        self._require_admin("add users")
        record = self._user_record(name, admin=admin, display_name=display_name, itar_cleared=itar_cleared)

        def change(txn):
            users = txn.doc("users", {})
            if name.lower() in users:
                raise InvalidInputError(f"user {users[name.lower()]['name']!r} exists already (names ignore case)")
            users[name.lower()] = record
            txn.put_doc("users", users)
            self._append_event(txn, "user_added", name=name, admin=admin)

        self._default.update(REGISTRY_BRANCH, change, message=f"add user {name}",
                             metadata={"author": self.user, "kind": "user"})
        return record

    def set_user(self, name: str, *, display_name: str | None = None, admin: bool | None = None,
                 itar_cleared: bool | None = None) -> dict[str, Any]:
        """Change a user's display name, admin flag or ITAR clearance (admin only)."""
        validate_name(name, "user name")
        if display_name is not None and not isinstance(display_name, str):
            raise InvalidInputError("display_name must be text")
        for flag, value in (("admin", admin), ("itar_cleared", itar_cleared)):
            if value is not None and not isinstance(value, bool):
                raise InvalidInputError(f"{flag} must be True, False or None (unchanged)")
        self._require_admin("change users")

        def change(txn):
            users = txn.doc("users", {})
            if name.lower() not in users:
                raise NotFoundError(f"no user {name!r} in this workspace")
            record = users[name.lower()]
            if display_name is not None:
                record["display_name"] = str(display_name)
            if admin is not None:
                if not isinstance(admin, bool):
                    raise InvalidInputError("admin must be True or False")
                if not admin and sum(u.get("admin", False) for u in users.values()) <= 1 and record.get("admin"):
                    raise InvalidInputError(f"{name} is the last admin; make someone else admin first")
                record["admin"] = admin
            if itar_cleared is not None:
                if not isinstance(itar_cleared, bool):
                    raise InvalidInputError("itar_cleared must be True or False")
                record["clearance"] = {**record.get("clearance", {}), "itar": itar_cleared}
            txn.put_doc("users", users)
            self._append_event(txn, "user_changed", name=name, admin=admin, itar_cleared=itar_cleared)
            return record

        _, record = self._default.update(REGISTRY_BRANCH, change, message=f"change user {name}",
                                         metadata={"author": self.user, "kind": "user"})
        return dict(record)

    def _ensure_users(self, names: list[str]) -> None:
        """Add members not yet in the registry (part of granting them a role)."""
        missing = [n for n in names if n.lower() not in self._registry_doc("users", {})]
        if not missing:
            return

        def change(txn):
            users = txn.doc("users", {})
            for n in missing:
                users.setdefault(n.lower(), self._user_record(n))
            txn.put_doc("users", users)
            self._append_event(txn, "users_added", names=missing)

        self._default.update(REGISTRY_BRANCH, change, message=f"add users {', '.join(missing)}",
                             metadata={"author": self.user, "kind": "user"})

    def settings(self) -> dict[str, Any]:
        """Organisation-wide settings (e.g. ``capacity_threshold``)."""
        return dict(self._registry_doc("settings", {}) or {})

    def set_capacity_threshold(self, amount: float) -> None:
        """The organisation's approval threshold for capacity requests (admin only)."""
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            raise InvalidInputError(f"threshold must be a number >= 0, got {amount!r}")
        self._require_admin("set the capacity threshold")

        def change(txn):
            settings = txn.doc("settings", {}) or {}
            settings["capacity_threshold"] = float(amount)
            txn.put_doc("settings", settings)
            self._append_event(txn, "capacity_threshold", threshold=float(amount))

        self._default.update(REGISTRY_BRANCH, change, message=f"capacity threshold {amount}",
                             metadata={"author": self.user, "kind": "settings"})

    def _append_event(self, txn, kind: str, **detail: Any) -> dict[str, Any]:
        """Record a registry change as a hash-chained audit entry, in ``txn``'s commit."""
        from .audit import chain

        entry = {"time": now(), "user": self.user, "kind": kind, **detail}
        return chain.append(txn, chain.chain_id(DEFAULT_ENCLAVE, REGISTRY_BRANCH), entry)

    def events(self) -> list[dict[str, Any]]:
        """Workspace-level events: creation, users, programs."""
        from .audit import chain

        return chain.read_entries(self._default.snapshot(branch=REGISTRY_BRANCH), strip=True)

    # -- programs -------------------------------------------------------------
    def create_program(
        self,
        name: str,
        *,
        priority: str = "standard",
        classification: str = "PUBLIC",
        domains: list[str] | tuple[str, ...] = (),
        quotas: Mapping[str, float] | None = None,
        members: Mapping[str, list[str] | str] | None = None,
        storage: str | os.PathLike | None = None,
    ) -> Program:
        """Create a program (admin only). Whoever creates it becomes its
        program_manager unless ``members`` names one.

        An ITAR program gets a storage enclave of its own, under the workspace root
        or, with ``storage`` (a folder or ``s3://bucket/prefix``), at a location of its
        own: production gives it its own bucket and credentials. Only the location is
        recorded; its storage options come from the environment variable
        ``PLUMA_ENCLAVE_PROGRAM_<NAME>_OPTIONS`` (JSON) of whoever opens it.

        Examples
        --------
        >>> ws.create_program("AMPEL360", priority="research", classification="EAR99",
        ...                   domains=["AAA", "PPP"], members={"ana": ["engineer"]})  # doctest: +SKIP
        <Program AMPEL360 CAD (active), EAR99>
        """
        spec = self._program_spec(name, priority=priority, classification=classification, domains=domains,
                                  quotas=quotas, members=members)
        enclave = DEFAULT_ENCLAVE if spec["classification"] != "ITAR" else f"program-{name_key(name)}"
        if storage is not None:
            if spec["classification"] != "ITAR":
                raise InvalidInputError(
                    "storage= places an ITAR program's own enclave; a non-ITAR program lives in the default "
                    "enclave, under the workspace root"
                )
            spec["storage"] = enclave_root(enclave, os.fspath(storage) if isinstance(storage, os.PathLike)
                                           else storage, self.root).uri
        self._require_admin("create programs")
        return self._new_program(spec, enclave_name=enclave)

    def _program_spec(self, name: str, *, priority: Any, classification: Any, domains: Any, quotas: Any,
                      members: Any, manager: str | None = None) -> dict[str, Any]:
        """Validate what defines a program. ``manager`` (if given) always becomes a
        program_manager; otherwise the acting user does when ``members`` names none."""
        validate_name(name, "program name")
        spec: dict[str, Any] = {
            "name": name,
            "priority": validate_priority(priority),
            "classification": validate_classification(classification),
            "domains": validate_domains(domains),
            "quotas": validate_quotas(dict(quotas) if quotas is not None else None),
        }
        if members is None:
            members = {}
        if not isinstance(members, Mapping):
            raise InvalidInputError("members must map user names to role lists, e.g. {'ana': ['engineer']}")
        roles_by_key: dict[str, list[str]] = {}
        display: dict[str, str] = {}
        for user, roles in members.items():
            validate_name(user, "user name")
            if user.lower() in roles_by_key:
                raise InvalidInputError(f"member {user!r} is listed twice (names ignore case)")
            roles_by_key[user.lower()] = validate_roles(roles, user)
            display[user.lower()] = user
        pm = manager or (None if any("program_manager" in r for r in roles_by_key.values()) else self.user)
        if pm is not None:
            current = roles_by_key.get(pm.lower(), [])
            if "program_manager" not in current:
                roles_by_key[pm.lower()] = current + ["program_manager"]
            display.setdefault(pm.lower(), pm)
        spec["members"] = roles_by_key
        spec["member_names"] = [display[k] for k in roles_by_key]
        return spec

    def _new_program(
        self,
        spec: dict[str, Any],
        *,
        enclave_name: str,
        start_snapshot: str | None = None,
        populate=None,
        origin: dict[str, Any] | None = None,
        phase: Phase = Phase.CAD,
        inherit: dict[str, Any] | None = None,
    ) -> Program:
        """Create the branch, its first commit and the registry entry; undo on failure.

        ``populate(txn, state)`` (for clones) fills the context from ``start_snapshot``.
        """
        name = spec["name"]
        key = name_key(name)
        existing = self._registry_doc("programs", {})
        if key in existing:
            raise InvalidInputError(f"a program named {existing[key]['name']!r} exists already (names ignore case)")
        enclave = self._enclave(enclave_name, create=True, storage=spec.get("storage"))
        branch = f"programs/{key}"
        with enclave.lock.hold():
            if branch in enclave.branches("programs/"):
                # an orphan left by a crash between branch creation and registration
                enclave.delete_branch(branch)
            enclave.create_branch(branch, start_snapshot or enclave.initial_snapshot())
        created = now()
        state = {
            "name": name, "key": key, "priority": spec["priority"], "classification": spec["classification"],
            "domains": spec["domains"], "quotas": spec["quotas"], "members": spec["members"],
            "phase": phase.value, "status": Status.ACTIVE.value, "status_reason": "", "epoch": 0,
            "declared": {}, "gate_overrides": {}, "approvals": [], "contributors": [], "freeze_seq": 0,
            "freeze_counts": {}, "last_freeze": None, "transitions": [], "created": created,
            "created_by": self.user, "origin": origin,
        }
        state.update(inherit or {})
        try:
            def init(txn):
                if populate is not None:
                    populate(txn, state)
                else:
                    txn.put_doc("context", {"rev": 0, "params": {}, "datasets": {}, "artifacts": {}})
                txn.put_doc("program", state)
                from .audit import chain  # a new chain: a clone does not inherit its source's trail

                chain.start(txn, chain.chain_id(enclave.name, branch),
                            {"time": created, "user": self.user, "kind": "created", "phase": state["phase"],
                             "classification": spec["classification"], "origin": origin})

            enclave.update(branch, init, message=f"create program {name}" + (f" from {origin['ref']}" if origin else ""),
                           metadata={"author": self.user, "kind": "create"})
            self._ensure_users(spec["member_names"])

            def register(txn):
                from .audit.chain import TRAIL_DOC

                txn.prefetch("programs", TRAIL_DOC)  # both read below: one request
                programs = txn.doc("programs", {})
                if key in programs:
                    raise InvalidInputError(f"a program named {programs[key]['name']!r} exists already (names ignore case)")
                programs[key] = {"name": name, "enclave": enclave_name, "branch": branch, "created": created,
                                 "created_by": self.user, "classification": spec["classification"],
                                 "members": spec["members"]}
                if spec.get("storage"):
                    programs[key]["storage"] = spec["storage"]  # a location only: never credentials
                txn.put_doc("programs", programs)
                self._append_event(txn, "program_created", name=name, classification=spec["classification"],
                                   origin=origin["ref"] if origin else None)
                return dict(programs[key])

            _, entry = self._default.update(REGISTRY_BRANCH, register, message=f"register program {name}",
                                            metadata={"author": self.user, "kind": "program"})
        except BaseException:
            enclave.delete_branch(branch)
            raise
        # no read check: an admin without ITAR clearance may set up an ITAR program it cannot read
        return Program(self, name, entry)

    def _program_entry(self, name: str) -> dict[str, Any]:
        if not isinstance(name, str):
            raise InvalidInputError("a program name must be text")
        programs = self._registry_doc("programs", {})
        entry = programs.get(name.lower())
        if entry is None:
            import difflib

            close = difflib.get_close_matches(name.lower(), list(programs), n=3)
            hint = f"; did you mean {', '.join(programs[c]['name'] for c in close)}?" if close else ""
            raise NotFoundError(f"no program {name!r} in this workspace{hint}")
        return entry

    def program(self, name: str) -> Program:
        """The program ``name`` (any case). Reading it needs a role, or admin."""
        program = Program(self, name, self._program_entry(name))
        program._require("read")
        return program

    def programs(self) -> list[Program]:
        """Every program this user may read."""
        # from the registry's mirror of the members (one read, not one per program); reading
        # a program still checks its own state
        readable = self._readable_program_keys()
        return [Program(self, entry["name"], entry)
                for key, entry in sorted(self._registry_doc("programs", {}).items()) if key in readable]

    def program_names(self) -> list[str]:
        return [e["name"] for _, e in sorted(self._registry_doc("programs", {}).items())]

    def as_user(self, user: str) -> "Workspace":
        """The same workspace seen by another (asserted) user — for demos and tests."""
        return Workspace(self.root, resolve_user(user))

    def _mirror_members(self, key: str, members: dict[str, list[str]]) -> None:
        """Keep the registry's copy of a program's members (used to filter queries) in step."""

        def change(txn):
            programs = txn.doc("programs", {})
            if key in programs and programs[key].get("members") != members:
                programs[key]["members"] = members
                txn.put_doc("programs", programs)

        self._default.update(REGISTRY_BRANCH, change, message=f"members of {key}",
                             metadata={"author": self.user, "kind": "members_mirror"})

    def _readable_program_keys(self) -> set[str]:
        programs = self._registry_doc("programs", {})
        me = self.user.lower()
        admin, cleared = self.is_admin, self._itar_cleared(self.user)

        def readable(entry: dict[str, Any]) -> bool:
            member = me in entry.get("members", {})
            if entry.get("classification") == "ITAR":  # membership and clearance, admins included
                return member and cleared
            return member or admin

        return {k for k, e in programs.items() if readable(e)}

    # -- frozen contexts ------------------------------------------------------
    def query(self, *, program=None, phase=None, since=None, until=None, where=None, params=None):
        """Frozen contexts of every program you may read, as a pandas DataFrame.

        Columns: program, phase, ref, id, frozen_at, frozen_by, then ``params``.
        ``where`` uses the gate expression language; rows lacking a parameter it
        names are left out.

        Examples
        --------
        >>> ws.query(phase="CAD", params=["span", "cruise_mach"],
        ...          where="span > 30 and cruise_mach < 0.8")   # doctest: +SKIP
        """
        from .query import query

        return query(self, program=program, phase=phase, since=since, until=until, where=where, params=params)

    def frozen(self, ref: str) -> "FrozenContext":
        """A frozen context by reference (``AMPEL360@CAD`` = latest CAD freeze,
        ``AMPEL360@CAD#1``) or by id."""
        from .query import FrozenIndex

        if not isinstance(ref, str) or not ref.strip():
            raise InvalidInputError("give a frozen reference such as 'AMPEL360@CAD#1' or a frozen context id")
        if "@" in ref:
            return self.program(ref.split("@", 1)[0]).frozen(ref)
        index = FrozenIndex(self)
        index.reconcile()
        for entry in index.entries():
            if entry["id"] == ref:
                return self.program(entry["program"])._frozen_from_tag(entry["tag"])
        raise NotFoundError(
            f"no frozen context with id {ref!r}; use an id from ws.query() or a reference such as 'AMPEL360@CAD#1'"
        )

    def reindex(self) -> int:
        """Rebuild the frozen-context index from the store (admin only); returns the entry count."""
        from .query import FrozenIndex

        self._require_admin("rebuild the index")
        programs = self._registry_doc("programs", {})
        for key, entry in programs.items():
            state = self._enclave(entry["enclave"]).snapshot(branch=entry["branch"]).doc("program", {})
            self._mirror_members(key, state.get("members", {}))
        self._prune_orphans(programs)
        # after the members mirror: a shared (PostgreSQL) index re-derives its roles from it
        return FrozenIndex(self).rebuild()

    def _prune_orphans(self, programs: dict[str, Any], min_age_s: float = 600.0) -> list[str]:
        """Delete program branches that no registry entry names: leftovers of a process
        killed between creating a program's branch and registering it. A branch younger
        than ``min_age_s`` may belong to a creation in progress and is kept."""
        import datetime as _dt

        registered: dict[str, set[str]] = {}
        for entry in programs.values():
            registered.setdefault(entry["enclave"], set()).add(entry["branch"])
        names = {DEFAULT_ENCLAVE} | set(registered)
        removed = []
        cutoff = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=min_age_s)
        for name in sorted(names):
            try:
                enclave = self._enclave(name)
            except Exception:  # noqa: BLE001 - an enclave that cannot be opened is fsck's business
                continue
            keep = set(registered.get(name, set()))
            for branch in enclave.branches("programs/"):
                if branch in keep:
                    continue
                tip = enclave.log(branch, limit=1)  # none: killed before the program's first commit
                if tip and tip[0].time > cutoff:
                    keep.add(branch)
            removed += [f"{name}:{b}" for b in enclave.prune_branches("programs/", keep)]
        return removed

    def set_index_url(self, url: str | None) -> int:
        """Keep the query index of the default enclave in PostgreSQL (admin only), or
        back in the store with ``None``. Returns the number of entries indexed there.

        The database is checked and filled from the store before the setting is saved,
        so a bad URL changes nothing. The stored URL carries no password (every user
        can read settings): give it through ``~/.pgpass``, ``PGPASSFILE`` or
        ``PGPASSWORD``. ``$PLUMA_INDEX_URL``, where set, wins over the setting.
        Programs with an enclave of their own (ITAR) keep their index in it.

        Examples
        --------
        >>> ws.set_index_url("postgresql://pluma_owner@db.example:5432/pluma")   # doctest: +SKIP
        12
        >>> ws.set_index_url(None)                                             # doctest: +SKIP
        12
        """
        from .query.backend import SETTING, backend_for, validate_index_url

        if url is not None:
            url = validate_index_url(url, allow_password=False)
        self._require_admin("choose where the query index lives")
        default = self._default
        backend = backend_for(self, default, url)
        backend.reconcile(default, author=self.user)  # connects, creates the schema and roles, fills it
        count = len(backend.load(default)) if url is None else len(default.tags("frozen/"))

        def change(txn):
            settings = txn.doc("settings", {}) or {}
            if url is None:
                settings.pop(SETTING, None)
            else:
                settings[SETTING] = url
            txn.put_doc("settings", settings)
            self._append_event(txn, "index_url", url=url)

        self._default.update(REGISTRY_BRANCH, change, message=f"index: {url or 'embedded'}",
                             metadata={"author": self.user, "kind": "settings"})
        return count

    # -- federation (received programs) ---------------------------------------
    def _register_received_program(self, key: str, entry: dict[str, Any]) -> None:
        """Register a program received from a federation peer (read-only; see
        :mod:`pluma.federation.receive`). Idempotent for the same peer."""

        def change(txn):
            programs = txn.doc("programs", {})
            current = programs.get(key)
            if current is not None:
                if current.get("received_from") != entry.get("received_from"):
                    raise InvalidInputError(f"a program named {current['name']!r} exists already (names ignore case)")
                return
            programs[key] = entry
            txn.put_doc("programs", programs)
            self._append_event(txn, "program_received", name=entry["name"], peer=entry.get("received_from"),
                               classification=entry.get("classification"))

        self._default.update(REGISTRY_BRANCH, change, message=f"register received program {entry['name']}",
                             metadata={"author": self.user, "kind": "program"})
    # -- end federation ---------------------------------------------------------

    # -- templates --------------------------------------------------------------
    def run_template(self, name: str, programs: Any = "all", **kwargs):
        """Run template ``name`` for many programs on Dask (see :func:`pluma.templates.run_batch`);
        ``.summary()`` of the result gives program, status, duration and error."""
        from .templates import run_batch

        return run_batch(self, name, programs, **kwargs)

    # -- federation -----------------------------------------------------------
    @property
    def federation(self) -> "Federation":
        """This workspace's side of the federation: keys, peers, explain, push, pull, serve, status."""
        if "_federation" not in self.__dict__:
            from .federation import Federation

            self.__dict__["_federation"] = Federation(self)
        return self.__dict__["_federation"]

    # -- display ------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<Workspace {self.location} as {self.user}: {len(self.program_names())} programs>"

    def _repr_html_(self) -> str:
        from .display import workspace_html

        return workspace_html(self)
