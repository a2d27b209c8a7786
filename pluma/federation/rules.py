"""Export and import rules: YAML, validated, never executed. Deny by default.

A rules file (one per peer) says what may leave for that peer (``export``) and
what this workspace accepts from it (``import``)::

    version: 1
    itar_authorised: false          # ITAR items only ever travel when true
    export:
      - name: cae-results
        allow:
          programs: [AMPEL360]      # program names (globs, any case)
          phases: [CAD, CAE]        # phase of the frozen context
          classifications: [PUBLIC, EAR99]   # the item's label
          domains: [AAA]            # the program uses one of these domains
          kinds: [param, dataset]   # param, dataset, artifact
          items: ["*"]              # item names (globs)
      - name: no-costs
        deny:
          items: ["cost_*"]
    import:
      - name: accept-controlled
        allow:
          classifications: [PUBLIC, EAR99, EAR]

For each item the decision is, in order: ITAR (an ITAR item, or any item of an
ITAR program) to a peer not marked ``itar_authorised`` is denied (rule
``itar-not-authorised``); the first matching ``deny`` wins; then the first
matching ``allow`` (an ITAR item needs an allow that names ITAR explicitly);
otherwise ``default-deny``. ``Decision.rule`` names the rule that decided.

Examples
--------
>>> rules = Rules.from_yaml("export:\\n  - allow: {classifications: [PUBLIC]}\\n")
>>> rules.decide("export", Item("param", "span", "PUBLIC"), ProgramInfo("AMPEL360", "CAE", "EAR99", ["AAA"])).allowed
True
>>> rules.decide("export", Item("param", "cost", "EAR99"), ProgramInfo("AMPEL360", "CAE", "EAR99", ["AAA"])).rule
'default-deny'
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import InvalidInputError
from ..programs.phases import CLASSIFICATIONS, DOMAINS, Phase

__all__ = ["Rules", "Rule", "Item", "ProgramInfo", "Decision", "KINDS"]

KINDS = ("param", "dataset", "artifact")
_MATCHERS = ("programs", "phases", "classifications", "domains", "kinds", "items")
_TOP = {"version", "peer", "description", "itar_authorised", "export", "import"}
_RULE = {"name", "description", "allow", "deny"}
MAX_RULES_TEXT = 256 * 1024


@dataclass(frozen=True)
class Item:
    """What rules look at for one item of a frozen context."""

    kind: str  # param | dataset | artifact
    name: str
    label: str  # the item's classification


@dataclass(frozen=True)
class ProgramInfo:
    name: str
    phase: str
    classification: str
    domains: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "decision": "allow" if self.allowed else "deny", "rule": self.rule,
                "reason": self.reason}


@dataclass(frozen=True)
class Rule:
    name: str
    effect: str  # allow | deny
    match: Mapping[str, tuple[str, ...]]
    description: str = ""

    def matches(self, item: Item, program: ProgramInfo) -> bool:
        m = self.match
        if "programs" in m and not any(fnmatch.fnmatchcase(program.name.lower(), p.lower()) for p in m["programs"]):
            return False
        if "phases" in m and program.phase not in m["phases"]:
            return False
        if "classifications" in m and item.label not in m["classifications"]:
            return False
        if "domains" in m and not set(program.domains) & set(m["domains"]):
            return False
        if "kinds" in m and item.kind not in m["kinds"]:
            return False
        if "items" in m and not any(fnmatch.fnmatchcase(item.name, p) for p in m["items"]):
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, self.effect: {k: list(v) for k, v in self.match.items()}}
        if self.description:
            out["description"] = self.description
        return out


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInputError(f"{where} must be a non-empty list of text, got {value!r}")
    return tuple(v.strip() for v in value)


def _parse_match(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"{where} must be a mapping of {', '.join(_MATCHERS)} to lists")
    unknown = sorted(set(map(str, raw)) - set(_MATCHERS))
    if unknown:
        raise InvalidInputError(f"{where}: unknown field(s) {unknown}; allowed: {', '.join(_MATCHERS)}")
    out: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        values = _strings(value, f"{where}.{key}")
        if key == "phases":
            values = tuple(Phase.parse(v).value for v in values)
        elif key == "classifications":
            bad = [v for v in values if v.upper() not in CLASSIFICATIONS]
            if bad:
                raise InvalidInputError(f"{where}.classifications: unknown {bad}; use {', '.join(CLASSIFICATIONS)}")
            values = tuple(v.upper() for v in values)
        elif key == "domains":
            bad = [v for v in values if v.upper() not in DOMAINS]
            if bad:
                raise InvalidInputError(f"{where}.domains: unknown {bad}; use codes from {', '.join(DOMAINS)}")
            values = tuple(v.upper() for v in values)
        elif key == "kinds":
            bad = [v for v in values if v not in KINDS]
            if bad:
                raise InvalidInputError(f"{where}.kinds: unknown {bad}; use {', '.join(KINDS)}")
        out[key] = values
    return out


def _parse_rules(raw: Any, section: str) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidInputError(f"{section} must be a list of rules, each with 'allow' or 'deny'")
    rules = []
    names: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"{section}[{i}]"
        if not isinstance(entry, Mapping):
            raise InvalidInputError(f"{where} must be a mapping with 'allow' or 'deny'")
        unknown = sorted(set(map(str, entry)) - _RULE)
        if unknown:
            raise InvalidInputError(f"{where}: unknown field(s) {unknown}; allowed: {', '.join(sorted(_RULE))}")
        effects = [e for e in ("allow", "deny") if e in entry]
        if len(effects) != 1:
            raise InvalidInputError(f"{where} needs exactly one of 'allow' or 'deny'")
        name = entry.get("name", where)
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(f"{where}.name must be text")
        if name in names or name in ("default-deny", "itar-not-authorised"):
            raise InvalidInputError(f"{where}: rule name {name!r} is used twice or reserved")
        names.add(name)
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise InvalidInputError(f"{where}.description must be text")
        effect = effects[0]
        rules.append(Rule(name.strip(), effect, _parse_match(entry[effect], f"{where}.{effect}"), description))
    return tuple(rules)


@dataclass(frozen=True)
class Rules:
    """Validated export and import rules for one peer."""

    export: tuple[Rule, ...] = ()
    import_: tuple[Rule, ...] = ()
    itar_authorised: bool = False
    description: str = ""

    @classmethod
    def from_yaml(cls, text: str) -> "Rules":
        import yaml

        if not isinstance(text, str):
            raise InvalidInputError("rules must be YAML text")
        if len(text) > MAX_RULES_TEXT:
            raise InvalidInputError(f"rules text is larger than {MAX_RULES_TEXT} characters")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"rules are not valid YAML: {exc}") from None
        return cls.from_dict(data if data is not None else {})

    @classmethod
    def from_dict(cls, data: Any) -> "Rules":
        if isinstance(data, Rules):
            return data
        if not isinstance(data, Mapping):
            raise InvalidInputError("rules must be a mapping with 'export' and/or 'import' lists")
        unknown = sorted(set(map(str, data)) - _TOP)
        if unknown:
            raise InvalidInputError(f"rules: unknown field(s) {unknown}; allowed: {', '.join(sorted(_TOP))}")
        if data.get("version", 1) != 1:
            raise InvalidInputError(f"rules version {data.get('version')!r} is not supported (use 1)")
        itar = data.get("itar_authorised", False)
        if not isinstance(itar, bool):
            raise InvalidInputError("itar_authorised must be true or false")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise InvalidInputError("description must be text")
        return cls(_parse_rules(data.get("export"), "export"), _parse_rules(data.get("import"), "import"), itar,
                   description)

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "itar_authorised": self.itar_authorised, "description": self.description,
                "export": [r.to_dict() for r in self.export], "import": [r.to_dict() for r in self.import_]}

    def decide(self, direction: str, item: Item, program: ProgramInfo) -> Decision:
        """Allow or deny one item leaving (``export``) or arriving (``import``)."""
        rules = self.export if direction == "export" else self.import_
        verb = "leave for" if direction == "export" else "be accepted from"
        if "ITAR" in (item.label, program.classification) and not self.itar_authorised:
            what = "an ITAR item" if item.label == "ITAR" else f"an item of ITAR program {program.name}"
            return Decision(False, "itar-not-authorised", f"{what} may not {verb} a peer not marked itar_authorised")
        for rule in rules:
            if rule.effect == "deny" and rule.matches(item, program):
                return Decision(False, rule.name, f"denied by {direction} rule {rule.name!r} (a deny beats any allow)")
        for rule in rules:
            if rule.effect == "allow" and rule.matches(item, program):
                if item.label == "ITAR" and "ITAR" not in rule.match.get("classifications", ()):
                    continue  # ITAR must be allowed by name
                return Decision(True, rule.name, f"allowed by {direction} rule {rule.name!r}")
        return Decision(False, "default-deny", f"no {direction} rule allows it (deny by default)")
