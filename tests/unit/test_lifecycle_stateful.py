"""Stateful (model-based) test of one program's lifecycle.

A Hypothesis ``RuleBasedStateMachine`` drives ONE program in a fresh local
workspace as four users (ana engineer, raj chief_engineer, lin quality, pam
program_manager): set parameters, put the mass breakdown, evaluate the gate,
approve, advance, rework, hold/resume, unauthorised attempts, and writes through
a long-lived context handle. A model predicts every outcome (success or the
exact error type) and the invariants below are checked after every step:

* frozen contexts never change (params as recorded at freeze time, stable id);
* history only grows (the refs list extends the previous one);
* every commit of the branch has an author, and the log is exactly the
  successful operations, in order (a refused operation commits nothing);
* an approval never survives a later content change;
* a held program refuses writes;
* the working context equals the model; the gate report agrees with the model.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import pluma
from pluma import AccessDenied, ConflictError, GateNotPassed, Phase, StaleContextError, StateError

from tests.conftest import CAD_PARAMS, make_program, mass_breakdown

NAME = "AMPEL360"
USERS = ("ana", "raj", "lin", "pam")

# Candidate values per CAD parameter: the first is the baseline (the CAD gate passes
# with all baselines); the others are valid values that may or may not keep the
# gate's checks true. None of the combinations lands near a check's boundary.
CANDIDATES: dict[str, list[float]] = {
    "span": [CAD_PARAMS["span"], 36.5],
    "wing_area": [CAD_PARAMS["wing_area"], 100.0],
    "aspect_ratio": [CAD_PARAMS["aspect_ratio"], 12.0],
    "sweep_quarter_chord": [CAD_PARAMS["sweep_quarter_chord"], 30.0],
    "mtow": [CAD_PARAMS["mtow"], 74000.0, 120000.0],
    "oew": [CAD_PARAMS["oew"], 44000.0, 80000.0],
    "thrust_to_weight": [CAD_PARAMS["thrust_to_weight"], 0.25, 0.6],
    "cruise_mach": [CAD_PARAMS["cruise_mach"], 0.82],
}
MASS_BREAKDOWN_OEW = [42600.0, 44000.0, 30000.0]
GATE_APPROVALS = {Phase.CAD: ["chief_engineer"], Phase.CAE: ["chief_engineer", "quality"]}


def _raises(exc_type, fn, *args, **kwargs):
    """Call fn and require exactly ``exc_type`` (not a subclass, not a parent)."""
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    assert type(info.value) is exc_type, f"expected {exc_type.__name__}, got {type(info.value).__name__}: {info.value}"
    return info.value


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="pluma-stateful-"))
        root = self.tmp / "ws"
        admin = pluma.open(root, user="admin")
        make_program(admin)
        self.prog = {u: pluma.open(root, user=u).program(NAME) for u in USERS}
        # -- model -------------------------------------------------------
        self.phase = Phase.CAD
        self.held = False
        self.epoch = 0
        self.rev = 0
        self.params: dict[str, float] = {}
        self.param_rev: dict[str, int] = {}
        self.mb_oew: float | None = None  # oew the stored mass breakdown was built from
        self.contributors: set[str] = set()
        self.approvals: list[dict] = []  # {"user", "role", "phase", "epoch", "rev"}
        self.frozen: list[dict] = []  # {"ref", "id", "params", "phase", "n", "rev"}
        self.freeze_counts: dict[str, int] = {}
        self.expected_log: list[tuple[str, str]] = [("admin", "create")]  # (author, kind), oldest first
        self.changes = 0  # counts every successful commit
        self.last_report: tuple[bool, int] | None = None  # (passed, self.changes when evaluated)
        self.prev_refs: list[str] = []
        # a long-lived handle of ana's (opened in start): what it last read
        self.handle = None
        self.handle_epoch = 0
        self.handle_param_rev: dict[str, int] = {}

    @initialize(prefill=st.booleans())
    def start(self, prefill):
        """Half the runs start with a complete CAD context (baseline and mass breakdown) by ana."""
        if prefill:
            self._fill_baseline()
        self.open_handle()

    def _fill_baseline(self) -> None:
        """ana writes every CAD baseline value and a matching mass breakdown in one commit."""
        ctx = self.prog["ana"].context
        values = {n: v[0] for n, v in CANDIDATES.items()}

        def write():
            with ctx.transaction(message="CAD sizing") as tx:
                tx.set_params(**values)
                tx.put_dataset("mass_breakdown", mass_breakdown(MASS_BREAKDOWN_OEW[0]))

        if self.held:
            _raises(StateError, write)
            return
        write()
        self._content_change("ana", values, dataset_oew=MASS_BREAKDOWN_OEW[0])

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- model helpers ------------------------------------------------------
    def _committed(self, author: str, kind: str) -> None:
        self.expected_log.append((author, kind))
        self.changes += 1

    def _content_change(self, author: str, values: dict[str, float] | None = None, dataset_oew: float | None = None) -> None:
        self.rev += 1
        for name, value in (values or {}).items():
            self.params[name] = value
            self.param_rev[name] = self.rev
        if dataset_oew is not None:
            self.mb_oew = dataset_oew
        self.contributors.add(author)
        self._committed(author, "change")

    def _valid_approvals(self) -> list[dict]:
        return [a for a in self.approvals
                if a["phase"] == self.phase and a["epoch"] == self.epoch and a["rev"] == self.rev]

    def _checks_pass(self) -> bool:
        p = self.params
        if self.phase is not Phase.CAD:
            return False  # the machine never provides what CAE needs (analysis results, wing_loads, polars)
        if any(n not in p for n in CANDIDATES) or self.mb_oew is None:
            return False
        return (abs(p["aspect_ratio"] - p["span"] ** 2 / p["wing_area"]) <= 0.01 * p["aspect_ratio"]
                and 200 <= p["mtow"] / p["wing_area"] <= 800
                and 0.2 <= p["thrust_to_weight"] <= 0.5
                and p["oew"] < p["mtow"]
                and abs(self.mb_oew - p["oew"]) <= 0.05 * p["oew"])

    def _gate_passes(self) -> bool:
        valid = self._valid_approvals()
        roles = {a["role"] for a in valid}
        if not all(r in roles for r in GATE_APPROVALS[self.phase]):
            return False
        approvers = {a["user"] for a in valid}
        if approvers <= self.contributors:  # separation of duties
            return False
        return self._checks_pass()

    # -- rules: changing the working context ---------------------------------
    @rule(data=st.data(), user=st.sampled_from(["ana", "ana", "ana", "raj"]))
    def set_param(self, data, user):
        name = data.draw(st.sampled_from(sorted(CANDIDATES)), label="param")
        value = data.draw(st.sampled_from(CANDIDATES[name]), label="value")
        ctx = self.prog[user].context
        if self.held:
            _raises(StateError, ctx.set_params, **{name: value})
            return
        ctx.set_params(**{name: value}, message=f"{user} sets {name}")
        self._content_change(user, {name: value})
        assert ctx.params[name] == value and ctx.rev == self.rev

    @rule()
    def set_all_baseline(self):
        """ana fills every CAD parameter with its baseline in one transaction."""
        ctx = self.prog["ana"].context
        values = {n: v[0] for n, v in CANDIDATES.items()}
        if self.held:
            with pytest.raises(StateError) as info:
                with ctx.transaction(message="baseline") as tx:
                    tx.set_params(**values)
            assert type(info.value) is StateError
            return
        with ctx.transaction(message="baseline") as tx:
            tx.set_params(**values)
        self._content_change("ana", values)

    @rule(oew=st.sampled_from(MASS_BREAKDOWN_OEW))
    def put_mass_breakdown(self, oew):
        ctx = self.prog["ana"].context
        if self.held:
            _raises(StateError, ctx.put_dataset, "mass_breakdown", mass_breakdown(oew))
            return
        ctx.put_dataset("mass_breakdown", mass_breakdown(oew), message="mass breakdown")
        self._content_change("ana", dataset_oew=oew)

    # -- a long-lived handle: stale after advance/rework, conflicts on changed items --
    @rule()
    def open_handle(self):
        """(Re)open ana's long-lived handle on the working context."""
        self.handle = self.prog["ana"].context
        self.handle_epoch = self.epoch
        self.handle_param_rev = dict(self.param_rev)

    @rule(data=st.data(), prefer_changed=st.booleans())
    def write_through_handle(self, data, prefer_changed):
        changed = sorted(n for n in self.param_rev if self.handle_param_rev.get(n) != self.param_rev[n])
        names = changed if prefer_changed and changed else sorted(CANDIDATES)
        name = data.draw(st.sampled_from(names), label="param")
        value = data.draw(st.sampled_from(CANDIDATES[name]), label="value")
        if self.held:
            _raises(StateError, self.handle.set_params, **{name: value})
        elif self.handle_epoch != self.epoch:
            _raises(StaleContextError, self.handle.set_params, **{name: value})
            event("handle stale")
        elif self.handle_param_rev.get(name) != self.param_rev.get(name):
            err = _raises(ConflictError, self.handle.set_params, **{name: value})
            event("handle conflict")
            # the message names whoever changed it last
            assert str(err).split(" was changed by ")[1].split(" ")[0] == self._last_author(name)
        else:
            self.handle.set_params(**{name: value}, message=f"handle sets {name}")
            self._content_change("ana", {name: value})
            self.handle_param_rev = dict(self.param_rev)  # the handle has read the tip it committed on

    def _last_author(self, name: str) -> str:
        return self.prog["lin"].context.params.info(name).author

    @rule()
    def refresh_handle(self):
        self.handle.refresh()
        self.handle_epoch = self.epoch
        self.handle_param_rev = dict(self.param_rev)

    # -- rules: gate ------------------------------------------------------------
    @rule(user=st.sampled_from(USERS))
    def evaluate(self, user):
        report = self.prog[user].gate().evaluate()
        assert report.phase == self.phase.value
        assert report.context_rev == self.rev
        assert report.passed == self._gate_passes(), report.summary()
        self.last_report = (report.passed, self.changes)

    @rule()
    def approve_chief(self):
        gate = self.prog["raj"].gate()
        if self.held:
            _raises(StateError, gate.approve, role="chief_engineer")
            return
        if any(a["user"] == "raj" for a in self._valid_approvals()):
            _raises(StateError, gate.approve, role="chief_engineer")
            return
        approval = gate.approve(role="chief_engineer", comment="looks right")
        assert approval["user"] == "raj" and approval["rev"] == self.rev and approval["epoch"] == self.epoch
        self.approvals.append({"user": "raj", "role": "chief_engineer", "phase": self.phase, "epoch": self.epoch,
                               "rev": self.rev})
        self._committed("raj", "approval")

    @rule()
    def approve_quality(self):
        gate = self.prog["lin"].gate()
        if "quality" not in GATE_APPROVALS[self.phase]:  # the role is checked before the program's state
            _raises(AccessDenied, gate.approve)
        elif self.held:
            _raises(StateError, gate.approve)
        elif any(a["user"] == "lin" for a in self._valid_approvals()):
            _raises(StateError, gate.approve)
        else:
            gate.approve(comment="quality ok")
            self.approvals.append({"user": "lin", "role": "quality", "phase": self.phase, "epoch": self.epoch,
                                   "rev": self.rev})
            self._committed("lin", "approval")

    @rule(fix_first=st.booleans())
    def go(self, fix_first):
        """The usual sequence at a gate: (ana restores the baseline,) the approvers approve,
        raj evaluates and advances."""
        if fix_first:
            self._fill_baseline()
        self.approve_chief()
        self.approve_quality()
        self.evaluate_then_advance()

    @rule()
    def evaluate_then_advance(self):
        """raj evaluates the gate and advances at once: advance succeeds iff the report passed."""
        self.evaluate("raj")
        self.advance()

    @rule()
    def advance(self):
        prog = self.prog["raj"]
        if self.held:
            _raises(StateError, prog.advance, message="go")
            return
        fresh_report = self.last_report is not None and self.last_report[1] == self.changes
        expected = self._gate_passes()
        if fresh_report:
            assert expected == self.last_report[0]
        if not expected:
            err = _raises(GateNotPassed, prog.advance, message="go")
            event(f"advance refused in {self.phase.value}")
            assert err.report is not None and not err.report.passed
            return
        frozen = prog.advance(message=f"{self.phase.value} gate passed")
        event(f"advanced from {self.phase.value}")
        n = self.freeze_counts.get(self.phase.value, 0) + 1
        self.freeze_counts[self.phase.value] = n
        assert frozen.ref == f"{NAME}@{self.phase.value}#{n}"
        assert frozen.phase == self.phase and frozen.user == "raj" and frozen.report.passed
        assert {a["user"] for a in frozen.approvals} == {a["user"] for a in self._valid_approvals()}
        self.frozen.append({"ref": frozen.ref, "id": frozen.id, "params": dict(self.params), "phase": self.phase,
                            "n": n, "rev": self.rev})
        self._committed("raj", "freeze")
        self.phase = self.phase.next
        self.epoch += 1
        self.approvals = []
        self.contributors = set()

    # -- rules: hold, resume, rework ------------------------------------------------
    @rule()
    def hold(self):
        prog = self.prog["pam"]
        if self.held:
            _raises(StateError, prog.hold, "already")
            return
        prog.hold("supplier audit")
        self.held = True
        self._committed("pam", "hold")

    @rule()
    def resume(self):
        prog = self.prog["pam"]
        if not self.held:
            _raises(StateError, prog.resume, "nothing held")
            return
        prog.resume("audit closed")
        self.held = False
        self._committed("pam", "resume")

    @rule(data=st.data())
    def rework(self, data):
        prog = self.prog["pam"]
        target = data.draw(st.sampled_from(list(Phase)[: max(self.phase.index, 1)]), label="to")
        if self.held or self.phase is Phase.CAD:
            _raises(StateError, prog.rework, target, "redo")
            return
        prog.rework(target, "margins questioned")
        event(f"reworked {self.phase.value} -> {target.value}")
        self._committed("pam", "rework")
        self.phase = target
        self.epoch += 1
        self.approvals = []  # contributors stay: no freeze happened

    # -- rules: access control --------------------------------------------------------
    @rule(attempt=st.sampled_from(["ana_advance", "ana_hold", "ana_rework", "lin_write", "pam_write", "lin_resume",
                                   "lin_advance"]))
    def unauthorised(self, attempt):
        if attempt == "ana_advance":
            _raises(AccessDenied, self.prog["ana"].advance, message="sneaky")
        elif attempt == "ana_hold":
            _raises(AccessDenied, self.prog["ana"].hold, "sneaky")
        elif attempt == "ana_rework":
            _raises(AccessDenied, self.prog["ana"].rework, Phase.CAD, "sneaky")
        elif attempt == "lin_write":
            _raises(AccessDenied, self.prog["lin"].context.set_params, mtow=1000.0)
        elif attempt == "pam_write":
            _raises(AccessDenied, self.prog["pam"].context.set_params, mtow=1000.0)
        elif attempt == "lin_resume":
            _raises(AccessDenied, self.prog["lin"].resume, "sneaky")
        else:
            _raises(AccessDenied, self.prog["lin"].advance)

    # -- invariants ----------------------------------------------------------------
    @invariant()
    def program_state_matches(self):
        prog = self.prog["lin"]
        assert prog.phase == self.phase
        assert prog.status == (pluma.Status.HOLD if self.held else pluma.Status.ACTIVE)

    @invariant()
    def working_context_matches(self):
        ctx = self.prog["lin"].context
        assert ctx.rev == self.rev
        assert ctx.params.to_dict() == self.params
        assert ctx.datasets == (["mass_breakdown"] if self.mb_oew is not None else [])

    @invariant()
    def frozen_contexts_never_change(self):
        history = self.prog["lin"].history()
        refs = [fc.ref for fc in history]
        # history only grows
        assert refs[: len(self.prev_refs)] == self.prev_refs, (self.prev_refs, refs)
        assert refs == [f["ref"] for f in self.frozen]
        self.prev_refs = refs
        for fc, rec in zip(history, self.frozen):
            assert fc.id == rec["id"]
            assert fc.params.to_dict() == rec["params"]
            assert fc.rev == rec["rev"]
            assert fc.report.passed

    @invariant()
    def every_commit_attributed(self):
        log = self.prog["lin"].context.log()
        for commit in log:
            assert commit.author, f"commit {commit.id} ({commit.message!r}) has no author"
        got = [(c.author, c.metadata.get("kind")) for c in reversed(log)]
        assert got == self.expected_log

    @invariant()
    def approvals_never_survive_a_change(self):
        report = self.prog["lin"].gate().evaluate()
        valid = [a for a in report.approvals if a["valid"]]
        for a in valid:
            assert a["rev"] == self.rev and a["epoch"] == self.epoch, a
        for a in report.approvals:
            if a["rev"] != self.rev:
                assert not a["valid"], a
        expected = sorted((a["user"], a["role"]) for a in self._valid_approvals())
        assert sorted((a["user"], a["role"]) for a in valid) == expected

    @invariant()
    def held_program_refuses_writes(self):
        if not self.held:
            return
        ctx = self.prog["ana"].context
        _raises(StateError, ctx.set_params, mtow=75000.0)
        assert self.prog["lin"].context.log(limit=1)[0].metadata.get("kind") == "hold"


LifecycleMachine.TestCase.settings = settings(
    # PLUMA_STATEFUL_EXAMPLES=500 for a longer hunt; the default keeps the module near 15 s
    max_examples=int(os.environ.get("PLUMA_STATEFUL_EXAMPLES", "15")),
    stateful_step_count=int(os.environ.get("PLUMA_STATEFUL_STEPS", "15")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = LifecycleMachine.TestCase


def test_model_baseline_passes_cad_checks():
    """Sanity check of the model itself: the baseline satisfies every CAD check, with margin."""
    p = {n: v[0] for n, v in CANDIDATES.items()}
    assert math.isclose(p["aspect_ratio"], p["span"] ** 2 / p["wing_area"])
    assert 200 < p["mtow"] / p["wing_area"] < 800
