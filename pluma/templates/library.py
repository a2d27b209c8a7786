"""Where templates live and how one is loaded: ``notebooks/templates/*.ipynb``,
plus the folders named in ``$PLUMA_TEMPLATE_PATH`` (``os.pathsep``-separated).

A template is a notebook whose metadata holds ``pluma.template`` (see
:mod:`pluma.templates.schema`) and whose ``parameters`` cell assigns every
declared parameter and every run parameter. Its identity for provenance is the
SHA-256 of the notebook file's bytes.

Examples
--------
>>> from pluma.templates.library import get_template
>>> t = get_template("cae_wing_analysis")          # doctest: +SKIP
>>> t.schema.phase, len(t.sha256)                  # doctest: +SKIP
('CAE', 64)
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError, NotFoundError
from .schema import RUN_PARAMETERS, TemplateSchema, schema_from_metadata

__all__ = ["TEMPLATE_DIR", "Template", "get_template", "list_templates", "template_dirs"]

#: The templates shipped with PLUMA.
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "templates"
PATH_ENV = "PLUMA_TEMPLATE_PATH"


@dataclass(frozen=True)
class Template:
    """A loaded template: its file, content hash and schema."""

    path: Path
    sha256: str
    schema: TemplateSchema

    @property
    def name(self) -> str:
        return self.schema.name

    def __repr__(self) -> str:
        return f"<Template {self.name} ({self.schema.phase}) {self.path.name} sha256={self.sha256[:12]}>"

    def _repr_html_(self) -> str:
        return self.schema._repr_html_()


def template_dirs() -> list[Path]:
    dirs = [TEMPLATE_DIR]
    for part in os.environ.get(PATH_ENV, "").split(os.pathsep):
        if part.strip():
            dirs.append(Path(part.strip()).expanduser())
    return dirs


_CACHE: dict[tuple[str, float, int], Template] = {}


def _parameters_cell_names(nb: dict, where: str) -> set[str]:
    cells = [c for c in nb.get("cells", []) if "parameters" in (c.get("metadata", {}).get("tags") or [])]
    if len(cells) != 1:
        raise InvalidInputError(f"{where}: a template needs exactly one cell tagged 'parameters' (found {len(cells)})")
    source = cells[0].get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise InvalidInputError(f"{where}: the parameters cell does not parse: {exc}") from None
    names = set()
    for node in tree.body:  # read, never executed
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def load_template(path: str | os.PathLike) -> Template:
    """Load and check the template notebook at ``path`` (cached by path, mtime and size)."""
    p = Path(path)
    if not p.is_file() or p.suffix != ".ipynb":
        raise NotFoundError(f"no template notebook at {p}")
    stat = p.stat()
    key = (str(p.resolve()), stat.st_mtime, stat.st_size)
    if key in _CACHE:
        return _CACHE[key]
    raw = p.read_bytes()
    try:
        nb = json.loads(raw)
    except ValueError as exc:
        raise InvalidInputError(f"{p} is not a notebook (JSON): {exc}") from None
    meta = (nb.get("metadata") or {}).get("pluma", {}).get("template")
    schema = schema_from_metadata(meta, str(p))
    assigned = _parameters_cell_names(nb, str(p))
    missing = [n for n in list(RUN_PARAMETERS) + schema.names if n not in assigned]
    if missing:
        raise InvalidInputError(f"{p}: the parameters cell does not assign {', '.join(missing)}")
    template = Template(path=p.resolve(), sha256=hashlib.sha256(raw).hexdigest(), schema=schema)
    _CACHE[key] = template
    return template


def _scan() -> dict[str, Template]:
    found: dict[str, Template] = {}
    for folder in template_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.ipynb")):
            try:
                template = load_template(path)
            except InvalidInputError:
                continue  # not a template (or a broken one): get_template(path) says why
            found.setdefault(template.name, template)
    return found


def list_templates() -> list[Template]:
    """Every template found, sorted by phase order then name."""
    from ..programs.phases import Phase

    order = {p.value: i for i, p in enumerate(Phase)}
    return sorted(_scan().values(), key=lambda t: (order.get(t.schema.phase, 99), t.name))


def get_template(name: "str | os.PathLike | Template") -> Template:
    """A template by name (``cae_wing_analysis``) or by notebook path."""
    if isinstance(name, Template):
        return name
    if isinstance(name, os.PathLike) or (isinstance(name, str) and name.endswith(".ipynb")):
        return load_template(name)
    if not isinstance(name, str):
        raise InvalidInputError(f"a template is named by text or a notebook path, not {type(name).__name__}")
    found = _scan()
    if name not in found:
        import difflib

        close = difflib.get_close_matches(name, list(found), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise NotFoundError(f"no template {name!r}{hint} Available: {', '.join(sorted(found)) or 'none'}")
    return found[name]
