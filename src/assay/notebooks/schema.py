"""The template standard: what a notebook's ``parameters`` cell declares, parsed with ``ast`` (pure, no I/O).

papermill's convention is kept, so existing papermill notebooks work unchanged: the first code cell tagged
``parameters`` holds plain assignments. Each one is a parameter:

    data_path: str                       # CSV with a "target" column   (required: no value)
    lr: float = 0.01                     # learning rate                 (type from the annotation)
    n_estimators = 100                   # trees                         (type from the literal)
    model: Literal["rf", "gb"] = "rf"    # choices from Literal[...]

The trailing comment is the help text. A default that is not a literal (``os.environ["X"]``) is kept as
source text. ``NotebookSchema.bind`` checks the values of a launch against the schema before any kernel
starts; its one-line errors end with the schema, so the fix is in the message.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import io
import json
import tokenize
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.errors import InvalidInput
from assay.notebooks.typespec import ANY, Mismatch, TypeSpec, of_value, parse_annotation

PARAMETERS_TAG = "parameters"
IMPORTS_TAG = "imports"


@dataclass(frozen=True, slots=True)
class Parameter:
    """One assignment of the parameters cell. ``default`` is meaningful when ``has_default``; a default
    that is not a literal has ``default_source`` instead."""

    name: str
    type: TypeSpec = ANY
    default: Any = None
    has_default: bool = False
    default_source: str | None = None
    help: str = ""
    line: int = 0

    @property
    def required(self) -> bool:
        return not self.has_default and self.default_source is None

    @property
    def choices(self) -> tuple[Any, ...] | None:
        t = self.type.without_none()
        return t.choices if t.kind == "literal" else None

    def describe(self) -> str:
        """``lr: float = 0.01``, ``data_path: str (required)``: how errors show a parameter."""
        head = f"{self.name}: {self.type}"
        if self.required:
            return f"{head} (required)"
        return f"{head} = {self.default_source if self.default_source is not None else repr(self.default)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": str(self.type),
            "default": self.default if self.has_default else None,
            "default_source": self.default_source,
            "required": self.required,
            "choices": list(self.choices) if self.choices is not None else None,
            "help": self.help,
        }

    def split(self, text: str) -> list[str]:
        """A sweep typed as ``-p lr 0.1,0.01``: split on commas for numbers, booleans and choices (which
        never hold a comma); any other value is one value (repeat ``-p name`` to sweep over text)."""
        if "," not in text:
            return [text]
        t = self.type.without_none()
        if t.kind in ("int", "float", "bool"):
            return [part.strip() for part in text.split(",")]
        if t.kind == "literal":
            parts = [part.strip() for part in text.split(",")]
            try:
                t.from_text(text)
            except Mismatch:
                return parts
        return [text]


@dataclass(frozen=True)
class NotebookSchema:
    """The parameters a notebook declares, in order; ``has_cell`` is False for a notebook with no cell
    tagged ``parameters`` (then any name is accepted and injected at the top, as papermill does)."""

    parameters: tuple[Parameter, ...] = ()
    has_cell: bool = False
    source: str = "notebook"
    by_name: dict[str, Parameter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.parameters})

    @property
    def digest(self) -> str:
        """A hash of the names, types, defaults and choices (not the help text): two notebooks with the same
        digest take the same launches."""
        body = [{k: v for k, v in p.to_dict().items() if k != "help"} for p in self.parameters]
        raw = json.dumps(body, sort_keys=True, default=repr).encode()
        return hashlib.sha256(raw).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "notebook": self.source,
            "has_parameters_cell": self.has_cell,
            "digest": self.digest,
            "parameters": [p.to_dict() for p in self.parameters],
        }

    def summary(self) -> str:
        """The schema on one line, for error messages."""
        if not self.has_cell:
            return f"{self.source} has no cell tagged 'parameters'"
        if not self.parameters:
            return f"{self.source} takes no parameters"
        return f"{self.source} takes: " + ", ".join(p.describe() for p in self.parameters)

    def _refuse(self, problem: str) -> InvalidInput:
        return InvalidInput(f"{problem}; {self.summary()}")

    def _known(self, name: str) -> Parameter | None:
        p = self.by_name.get(name)
        if p is None and self.has_cell:
            near = difflib.get_close_matches(name, list(self.by_name), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise self._refuse(f"unknown parameter {name!r}{hint}")
        return p

    def convert(self, name: str, value: Any, text: bool = False) -> Any:
        """``value`` for parameter ``name``, checked (``text``: as typed on a command line)."""
        p = self._known(name)
        spec = ANY if p is None else p.type
        try:
            return spec.from_text(value) if text and isinstance(value, str) else spec.check(value)
        except Mismatch as exc:
            raise self._refuse(f"parameter {name!r}: {exc}") from None

    def bind(self, values: Mapping[str, Any], texts: Iterable[str] = ()) -> dict[str, Any]:
        """The checked values of one launch (names in ``texts`` were typed on a command line and are read
        as their type says). InvalidInput for an unknown name, a wrong type, a value outside the choices
        or a missing required parameter."""
        typed = set(texts)
        out = {name: self.convert(name, v, name in typed) for name, v in values.items()}
        missing = [p.name for p in self.parameters if p.required and p.name not in out]
        if missing:
            raise self._refuse(
                "missing required parameter" + ("s " if len(missing) > 1 else " ") + ", ".join(missing)
            )
        return out

    def effective(self, bound: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter's value in a launch: the bound ones, else the literal defaults (a default that is
        an expression is only known inside the kernel, so it is left out)."""
        out = {p.name: p.default for p in self.parameters if p.has_default}
        out.update(bound)
        return out

    def grid(
        self, pairs: Sequence[tuple[str, str]], base: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The launches of command-line pairs (``-p lr 0.1 -p lr 0.01`` or ``-p lr 0.1,0.01``): the product
        of every name's values, each launch bound and checked; ``base`` holds values from a file."""
        choices: dict[str, list[str]] = {}
        for name, text in pairs:
            p = self._known(name)
            choices.setdefault(name, []).extend(p.split(text) if p is not None else [text])
        launches: list[dict[str, Any]] = [{}]
        for name, texts in choices.items():
            launches = [{**launch, name: t} for launch in launches for t in texts]
        return [self.bind({**(base or {}), **launch}, texts=launch.keys()) for launch in launches]


def _code(source: str) -> str:
    """Cell source with IPython magics and shell escapes blanked (line numbers kept)."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return ""
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)


def _comments(code: str) -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def parse_parameters(source: str) -> tuple[Parameter, ...]:
    """The parameters declared by a parameters cell's source (InvalidInput if it is not valid Python)."""
    code = _code(source)
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise InvalidInput(
            f"the parameters cell is not valid Python (line {exc.lineno}): {exc.msg}"
        ) from None
    comments = _comments(code)
    found: dict[str, Parameter] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, annotation, value = node.target.id, node.annotation, node.value
        elif (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            name, annotation, value = node.targets[0].id, None, node.value
        else:
            continue
        end = node.end_lineno or node.lineno
        doc = comments.get(end) or comments.get(node.lineno, "")
        declared = parse_annotation(annotation) if annotation is not None else None
        if value is None:
            found[name] = Parameter(name, declared or ANY, help=doc, line=node.lineno)
            continue
        try:
            default = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            found[name] = Parameter(
                name,
                declared or ANY,
                default_source=ast.get_source_segment(code, value) or ast.unparse(value),
                help=doc,
                line=node.lineno,
            )
            continue
        spec = declared or of_value(default)
        if isinstance(default, tuple):
            default = list(default)
        found[name] = Parameter(name, spec, default, True, help=doc, line=node.lineno)
    return tuple(found.values())


def _tags(cell: Mapping[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def schema_of(nb: Mapping[str, Any], source: str = "notebook") -> NotebookSchema:
    """The schema of a notebook (an nbformat dict): its first code cell tagged ``parameters``."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in _tags(cell):
            return NotebookSchema(parse_parameters(_source(cell)), True, source)
    return NotebookSchema((), False, source)


def declared_imports(nb: Mapping[str, Any]) -> list[str]:
    """The modules a notebook declares for warm kernels to import ahead: those its cells tagged ``imports``
    import, then the list ``metadata.assay.imports``; in order, without repeats."""
    names: list[str] = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or IMPORTS_TAG not in _tags(cell):
            continue
        try:
            tree = ast.parse(_code(_source(cell)))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.extend(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
    meta = nb.get("metadata", {}).get("assay", {})
    extra = meta.get("imports", []) if isinstance(meta, Mapping) else []
    names.extend(str(n) for n in extra if isinstance(n, str))
    return list(dict.fromkeys(names))
