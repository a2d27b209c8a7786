"""Conversational entry: a sentence becomes a proposed template run.

``ask("wing analysis report for AMPEL360 at Mach 0.8", ws)`` returns a
:class:`Proposal`: the templates ranked for the sentence, the parameters it
names (numbers with units read by pint, program names from the workspace,
phases, choice words), the parameters still missing, and the questions PLUMA
has when the sentence is ambiguous. It never guesses silently: two templates
scoring alike, a number that fits two parameters, two programs named, no
program named — each becomes a question, and :meth:`Proposal.run` refuses
until :meth:`Proposal.answer` settles it. Running is the confirmation.

Understanding a sentence is pluggable. An :class:`Interpreter` turns a
sentence into an :class:`Interpretation` (ranking, values, programs, phases,
questions); the default, ``"tfidf"``, is offline and downloads nothing: a
TF-IDF ranker (scikit-learn) over each template's name, title, description,
keywords, phase and parameter help, plus a rule-based extractor. A site
plugs in its own language model with :func:`register_interpreter` (or the
``pluma.interpreters`` entry point group) and selects it with
``interpreter=`` or ``$PLUMA_INTERPRETER``. Whatever an interpreter returns
is data: names and values are validated against the template schema before
anything runs, exactly as typed parameters are.

Examples
--------
>>> p = ask("wing analysis report for AMPEL360 at Mach 0.8", ws)   # doctest: +SKIP
>>> p.template, p.programs, p.params, p.questions                   # doctest: +SKIP
('cae_wing_analysis', ['AMPEL360'], {'cruise_mach': 0.8}, [])
>>> run = p.run()                                                   # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field, replace
from html import escape
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, runtime_checkable

from ..errors import InvalidInputError, NotFoundError, PlumaError, PlumaWarning

if TYPE_CHECKING:  # pragma: no cover
    from ..workspace import Workspace
    from .schema import ParamField, TemplateSchema

__all__ = ["Interpretation", "Interpreter", "Proposal", "TfidfInterpreter", "ask", "available_interpreters",
           "get_interpreter", "register_interpreter"]

ENTRY_POINT_GROUP = "pluma.interpreters"
ENV = "PLUMA_INTERPRETER"
AMBIGUOUS_RATIO = 0.8   #: a runner-up scoring at least this share of the best is a question
MIN_SCORE = 0.05        #: below this nothing fits


@dataclass
class Interpretation:
    """What an interpreter understood. ``values`` may hold text with units ("11000 m"); PLUMA validates."""

    ranking: list[tuple[str, float]]
    values: dict[str, Any] = field(default_factory=dict)
    programs: list[str] = field(default_factory=list)
    all_programs: bool = False
    phases: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


@runtime_checkable
class Interpreter(Protocol):
    """Turns a sentence into an :class:`Interpretation` (see the module docstring)."""

    name: str

    def interpret(self, sentence: str, templates: Sequence["TemplateSchema"],
                  programs: Sequence[str]) -> Interpretation: ...


# -- registry -----------------------------------------------------------------------------------
_REGISTRY: dict[str, Callable[[], Interpreter]] = {}
_LOCK = threading.Lock()
_LOADED = False


def register_interpreter(name: str, factory: Callable[[], Interpreter], *, replace: bool = False) -> None:
    """Make an interpreter available as ``name``; ``factory()`` builds it."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", name):
        raise InvalidInputError(f"invalid interpreter name {name!r}")
    if not callable(factory):
        raise InvalidInputError("factory must be callable and return an Interpreter")
    with _LOCK:
        if name in _REGISTRY and not replace:
            raise InvalidInputError(f"an interpreter named {name!r} is registered already; pass replace=True")
        _REGISTRY[name] = factory


def _load_entry_points() -> None:
    global _LOADED
    with _LOCK:
        if _LOADED:
            return
        _LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            factory = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin warns, never breaks ask()
            import warnings

            warnings.warn(f"interpreter entry point {ep.name!r} does not load: {exc}", PlumaWarning, stacklevel=3)
            continue
        with _LOCK:
            _REGISTRY.setdefault(ep.name, factory)


def available_interpreters() -> list[str]:
    _load_entry_points()
    with _LOCK:
        return sorted(_REGISTRY)


def get_interpreter(name: str | None = None) -> Interpreter:
    """The interpreter ``name`` (default: ``$PLUMA_INTERPRETER``, else ``"tfidf"``)."""
    name = name or os.environ.get(ENV, "").strip() or "tfidf"
    _load_entry_points()
    with _LOCK:
        factory = _REGISTRY.get(name)
    if factory is None:
        raise NotFoundError(f"no interpreter {name!r}; available: {', '.join(available_interpreters())}")
    interpreter = factory()
    if not isinstance(interpreter, Interpreter):
        raise InvalidInputError(f"interpreter {name!r} does not have interpret(sentence, templates, programs)")
    return interpreter


# -- the offline default ----------------------------------------------------------------------------
_NUMBER = re.compile(r"(?<![\w.])(?P<num>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?)"
                     r"(?:\s*(?P<unit>(?:[a-zA-Z°%µ]+(?:\*\*\d|\^\d|²|³)?)(?:\s*(?:/|per)\s*[a-zA-Z]+(?:\*\*\d|\^\d|²|³)?)?))?")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "of", "for", "at", "with", "and", "to", "in", "on", "by", "report", "run", "please",
         "me", "make", "show", "give", "template", "program", "programs", "1", "from", "is", "as"}
_ALL = re.compile(r"\b(all|every|each)\s+(the\s+)?programs?\b", re.I)


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _document(t: "TemplateSchema") -> str:
    parts = [t.name.replace("_", " "), t.title, t.description, " ".join(t.keywords), t.phase, t.phase]
    for f in t.parameters:
        parts.append(f"{f.name.replace('_', ' ')} {f.help}")
    return " ".join(parts)


def _unit(text: str | None):
    """A pint unit for a word after a number, or None when it is not a unit."""
    if not text:
        return None
    from ..units import parse_unit

    words = text.replace("per", "/").replace("^", "**").replace("²", "**2").replace("³", "**3")
    words = {"hours": "h", "hour": "h", "hrs": "h", "nm": "nmi", "t": "tonne", "tons": "tonne", "tonnes": "tonne",
             "degrees": "deg", "degree": "deg", "°": "deg"}.get(words.strip().lower(), words)
    try:
        unit = parse_unit(words)
    except PlumaError:
        return None
    return unit


class TfidfInterpreter:
    """The offline default: TF-IDF ranking (scikit-learn) plus a rule-based parameter extractor."""

    name = "tfidf"

    def __init__(self) -> None:
        self._fitted: tuple | None = None

    def _rank(self, sentence: str, templates: Sequence["TemplateSchema"]) -> list[tuple[str, float]]:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.metrics.pairwise import cosine_similarity

        key = tuple((t.name, t.description) for t in templates)
        if self._fitted is None or self._fitted[0] != key:
            vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english",
                                  token_pattern=r"(?u)\b[A-Za-z][A-Za-z0-9/]+\b")
            matrix = vec.fit_transform([_document(t) for t in templates])
            self._fitted = (key, vec, matrix)
        _, vec, matrix = self._fitted
        scores = cosine_similarity(vec.transform([sentence]), matrix)[0]
        return sorted(((t.name, float(s)) for t, s in zip(templates, scores)), key=lambda x: -x[1])

    def interpret(self, sentence: str, templates: Sequence["TemplateSchema"], programs: Sequence[str]) -> Interpretation:
        from ..programs.phases import Phase

        text = sentence
        found_programs = []
        for name in sorted(programs, key=len, reverse=True):  # longest first: ATR-NEO before ATR
            pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.I)
            if pattern.search(text):
                found_programs.append(name)
                text = pattern.sub(" ", text)
        phases = [p.value for p in Phase if re.search(rf"\b{p.value}\b", text, re.I)]
        ranking = self._rank(text, templates)
        if phases:  # a phase named in the sentence favours that phase's templates
            by_name = {t.name: t for t in templates}
            ranking = sorted(((n, s + (0.15 if by_name[n].phase in phases else 0.0)) for n, s in ranking),
                             key=lambda x: -x[1])
        return Interpretation(ranking=ranking, programs=found_programs, all_programs=bool(_ALL.search(sentence)),
                              phases=phases, values={}, questions=[])

    # the extractor needs the chosen template: called by ask() once it is known
    @staticmethod
    def extract(sentence: str, schema: "TemplateSchema", programs: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
        """Values for ``schema``'s parameters named in ``sentence``, and the questions it raises."""
        text = sentence
        for name in programs:
            text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", " ", text, flags=re.I)
        values: dict[str, Any] = {}
        questions: list[str] = []
        lowered = text.lower()
        # flight levels and Mach numbers, the way engineers say them
        for m in re.finditer(r"\bFL\s?(\d{2,3})\b", text, re.I):
            fields = [f for f in schema.parameters if f.type == "float" and "altitude" in f.name]
            if len(fields) == 1:
                values[fields[0].name] = f"{int(m.group(1)) * 100} ft"
            text = text.replace(m.group(0), " ")
        for m in re.finditer(r"\b(?:mach|m)\s*(?:=|of|number)?\s*(0?\.\d+|\d(?:\.\d+)?)\b", text, re.I):
            fields = [f for f in schema.parameters if "mach" in f.name]
            if len(fields) == 1:
                values[fields[0].name] = float(m.group(1))
            elif len(fields) > 1:
                questions.append(f"Mach {m.group(1)} fits {', '.join(f.name for f in fields)}: which one?")
            text = text.replace(m.group(0), " ")
        # single-letter and word choices (e.g. DAL A, CFRP)
        for f in schema.parameters:
            if not f.choices:
                continue
            name_words = [w for w in f.name.split("_") if len(w) > 1]
            hits = []
            for choice in f.choices:
                if len(choice) <= 2:
                    if any(re.search(rf"\b{re.escape(w)}\s+{re.escape(choice)}\b", text, re.I) for w in name_words):
                        hits.append(choice)
                else:
                    head = choice.split("_")[0]
                    if re.search(rf"\b{re.escape(choice)}\b", lowered) or (len(head) >= 4 and re.search(rf"\b{re.escape(head)}\b", lowered)):
                        hits.append(choice)
            if len(hits) == 1:
                values[f.name] = hits[0]
            elif len(hits) > 1:
                questions.append(f"{f.name}: the sentence names {', '.join(hits)}; which one?")
        # numbers with units
        numeric = [f for f in schema.parameters if f.type in ("float", "int") and f.name not in values]
        for m in _NUMBER.finditer(text):
            raw = m.group("num").replace(",", "")
            unit_text = m.group("unit")
            if unit_text and unit_text.strip() in ("g", "G"):  # "3 g": a load factor, not grams
                unit_text = None
            unit = _unit(unit_text)
            if unit_text and unit is None:
                unit_text = None  # the next word is not a unit ("0.8 for ...")
            before = _tokens(text[max(0, m.start() - 40):m.start()])[-3:]
            after = _tokens(text[m.end():m.end() + 24])[:2]
            context = {w for w in before + after if w not in _STOP}
            candidates = []
            for f in numeric:
                from ..units import parse_unit

                target = parse_unit(f.unit or "1")
                if unit is not None:
                    if unit.dimensionality != target.dimensionality:
                        continue
                elif not target.dimensionless:
                    continue
                words = set(f.name.split("_")) | (set(_tokens(f.help)) - _STOP)
                candidates.append((len(context & words) + 2 * len(context & set(f.name.split("_"))), f))
            shown = f"{raw} {unit_text}".strip() if unit_text else raw
            if not candidates:
                continue
            candidates.sort(key=lambda c: -c[0])
            best = candidates[0]
            tied = [f.name for s, f in candidates if s == best[0]]
            if best[0] == 0 and len(candidates) > 1 or len(tied) > 1:
                questions.append(f"{shown}: which parameter is it — {', '.join(f.name for _, f in candidates[:4])}?")
                continue
            values[best[1].name] = f"{raw} {unit_text}" if unit_text else float(raw)
        return values, questions


register_interpreter("tfidf", TfidfInterpreter)


# -- the proposal ---------------------------------------------------------------------------------
@dataclass
class Proposal:
    """A proposed run: template, programs, parameters; what is missing; what PLUMA asks."""

    sentence: str
    candidates: list[tuple[str, float]]
    template: str | None
    programs: list[str]
    params: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    all_programs: bool = False
    interpreter: str = "tfidf"
    _ws: "Workspace | None" = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return bool(self.template) and (bool(self.programs) or self.all_programs) and not self.missing \
            and not self.questions

    def answer(self, *, template: str | None = None, program: str | Sequence[str] | None = None,
               **params: Any) -> "Proposal":
        """Settle questions: choose the template, the program(s), give parameter values."""
        return _resolve(self._ws, self.sentence, self.candidates, template or self.template,
                        [program] if isinstance(program, str) else list(program) if program else self.programs,
                        {**self.params, **params}, all_programs=self.all_programs and not program,
                        interpreter=self.interpreter, answered=bool(template or program or params))

    def run(self, **options: Any):
        """Run what was proposed (the confirmation): a TemplateRun, or a Batch for several programs."""
        if not self.ready:
            raise InvalidInputError("not ready to run: " + "; ".join(self.questions + (
                [f"missing: {', '.join(self.missing)}"] if self.missing else [])))
        from .runner import run

        if self.all_programs or len(self.programs) > 1:
            from .batch import run_batch

            return run_batch(self._ws, self.template, "all" if self.all_programs else self.programs,
                             params=self.params, **options)
        return run(self._ws.program(self.programs[0]), self.template, self.params, **options)

    def to_dict(self) -> dict[str, Any]:
        return {"sentence": self.sentence, "template": self.template, "candidates": self.candidates,
                "programs": self.programs, "all_programs": self.all_programs, "params": self.params,
                "sources": self.sources, "missing": self.missing, "questions": self.questions, "ready": self.ready,
                "interpreter": self.interpreter}

    def __str__(self) -> str:
        lines = [f"template: {self.template or '(not decided)'}"]
        lines.append("candidates: " + ", ".join(f"{n} {s:.2f}" for n, s in self.candidates[:4]))
        lines.append("programs: " + ("all" if self.all_programs else ", ".join(self.programs) or "(none named)"))
        if self.params:
            lines.append("from the sentence: " + ", ".join(f"{k}={v}" for k, v in self.params.items()))
        if self.sources:
            lines.append("bound: " + ", ".join(f"{k} <- {v}" for k, v in self.sources.items()))
        if self.missing:
            lines.append("missing: " + ", ".join(self.missing))
        for q in self.questions:
            lines.append(f"? {q}")
        lines.append("ready to run" if self.ready else "not ready: answer the questions above")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + escape(str(self)) + "</pre>"


def _resolve(ws, sentence, candidates, template, programs, params, *, all_programs, interpreter,
             answered=False) -> Proposal:
    from .binding import bind
    from .library import get_template

    questions: list[str] = []
    if template is None:
        if not candidates or candidates[0][1] < MIN_SCORE:
            questions.append("no template fits this sentence; name one (pluma template list)")
        else:
            close = [n for n, s in candidates[1:] if s >= AMBIGUOUS_RATIO * candidates[0][1]]
            if close:
                questions.append(f"which template: {', '.join([candidates[0][0]] + close)}?")
            else:
                template = candidates[0][0]
    if not programs and not all_programs:
        questions.append("which program? name one, or say 'all programs'")
    elif len(programs) > 1 and not answered:
        questions.append(f"several programs named ({', '.join(programs)}): run for all of them, or which one?")
    sources: dict[str, str] = {}
    missing: list[str] = []
    checked: dict[str, Any] = {}
    if template is not None:
        schema = get_template(template).schema
        for name, value in params.items():
            try:
                checked[name] = schema[name].validate(value)
            except PlumaError as exc:
                questions.append(str(exc))
        if ws is not None and len(programs) == 1 and not all_programs:
            try:
                binding = bind(ws.program(programs[0]), get_template(template), checked, require_complete=False)
                sources, missing = binding.sources, binding.missing
            except PlumaError as exc:
                questions.append(str(exc))
    return Proposal(sentence, candidates, template, list(programs), checked, sources, missing, questions,
                    all_programs, interpreter, ws)


def ask(sentence: str, ws: "Workspace | None" = None, *, interpreter: str | Interpreter | None = None,
        template: str | None = None, program: str | None = None) -> Proposal:
    """Understand ``sentence`` (see the module docstring); ``template`` / ``program`` answer in advance."""
    from .library import list_templates

    if not isinstance(sentence, str) or not sentence.strip():
        raise InvalidInputError("ask() needs a sentence, e.g. 'wing analysis report for AMPEL360 at Mach 0.8'")
    interp = interpreter if isinstance(interpreter, Interpreter) else get_interpreter(interpreter)
    schemas = [t.schema for t in list_templates()]
    names = ws.program_names() if ws is not None else []
    got = interp.interpret(sentence, schemas, names)
    ranking = [(str(n), float(s)) for n, s in got.ranking if any(t.name == n for t in schemas)]
    chosen = template
    if chosen is None and ranking and ranking[0][1] >= MIN_SCORE and not any(
            s >= AMBIGUOUS_RATIO * ranking[0][1] for _, s in ranking[1:]):
        chosen = ranking[0][0]
    values = dict(got.values)
    extra_questions = list(got.questions)
    if chosen is not None and isinstance(interp, TfidfInterpreter):
        from .library import get_template

        found, qs = interp.extract(sentence, get_template(chosen).schema, got.programs)
        values = {**found, **values}
        extra_questions += qs
    programs = [program] if program else [p for p in got.programs if p in names]
    proposal = _resolve(ws, sentence, ranking, chosen, programs, values, all_programs=got.all_programs and not program,
                        interpreter=getattr(interp, "name", "custom"), answered=bool(program))
    return replace(proposal, questions=extra_questions + proposal.questions)
