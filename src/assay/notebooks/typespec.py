"""Parameter types: parsed from an annotation or a default's literal, and used to check and convert values.

Pure: ``ast`` and ``yaml`` only. A ``TypeSpec`` is a small tree (``list[int]``, ``Literal['rf', 'gb']``,
``float | None``). ``check`` takes a Python value (from ``run_notebook`` or a YAML file) and returns it
converted where the conversion loses nothing (an int for a float parameter); ``from_text`` reads what was
typed on the command line. Both raise ``Mismatch`` with a short reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

SCALARS = ("int", "float", "str", "bool")
_NAMES = {
    "int": "int",
    "float": "float",
    "str": "str",
    "bool": "bool",
    "list": "list",
    "List": "list",
    "tuple": "list",
    "Tuple": "list",
    "Sequence": "list",
    "dict": "dict",
    "Dict": "dict",
    "Mapping": "dict",
    "Any": "any",
    "object": "any",
    "None": "none",
    "NoneType": "none",
}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class Mismatch(Exception):
    """A value does not fit a type; the message says how (``expected float, got 'abc'``)."""


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """``kind`` is one of int, float, str, bool, list, dict, any, none, literal, union."""

    kind: str
    args: tuple[TypeSpec, ...] = ()
    choices: tuple[Any, ...] = ()

    @property
    def allows_none(self) -> bool:
        return self.kind in ("none", "any") or any(a.allows_none for a in self.args if self.kind == "union")

    def without_none(self) -> TypeSpec:
        """The type once None is ruled out (``float | None`` -> ``float``)."""
        if self.kind != "union":
            return self
        rest = tuple(a for a in self.args if a.kind != "none")
        return rest[0] if len(rest) == 1 else TypeSpec("union", rest)

    def check(self, value: Any) -> Any:
        """``value`` if it fits (converted without loss: int to float, tuple to list), else ``Mismatch``."""
        k = self.kind
        if k == "any":
            return value
        if k == "none":
            if value is None:
                return None
            raise Mismatch(f"expected None, got {value!r}")
        if k == "literal":
            for c in self.choices:
                if type(c) is type(value) and c == value:
                    return value
            raise Mismatch(f"{value!r} is not one of {', '.join(map(repr, self.choices))}")
        if k == "union":
            for a in self.args:
                try:
                    return a.check(value)
                except Mismatch:
                    pass
            raise Mismatch(f"expected {self}, got {_show(value)}")
        if k == "bool" and isinstance(value, bool):
            return value
        if k == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if k == "float" and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if k == "str" and isinstance(value, str):
            return value
        if k == "list" and isinstance(value, list | tuple):
            return [self.args[0].check(v) for v in value] if self.args else list(value)
        if k == "dict" and isinstance(value, dict):
            if len(self.args) == 2:
                return {self.args[0].check(a): self.args[1].check(b) for a, b in value.items()}
            return dict(value)
        raise Mismatch(f"expected {self}, got {_show(value)}")

    def from_text(self, text: str) -> Any:
        """The value typed on the command line (``-p lr 0.1``), read as this type."""
        k = self.kind
        if self.allows_none and k != "any" and text in ("None", "null", "~"):
            return None
        if k == "str":
            return text
        if k == "int":
            try:
                return int(text)
            except ValueError:
                raise Mismatch(f"expected int, got {text!r}") from None
        if k == "float":
            try:
                return float(text)
            except ValueError:
                raise Mismatch(f"expected float, got {text!r}") from None
        if k == "bool":
            low = text.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise Mismatch(f"expected bool (true/false), got {text!r}")
        if k == "any":
            return guess(text)
        if k == "literal":
            for c in self.choices:
                try:
                    if TypeSpec(_kind_of(c)).from_text(text) == c:
                        return c
                except Mismatch:
                    pass
            raise Mismatch(f"{text!r} is not one of {', '.join(map(repr, self.choices))}")
        if k == "union":
            for a in self.args:
                try:
                    return a.from_text(text)
                except Mismatch:
                    pass
            raise Mismatch(f"expected {self}, got {text!r}")
        return self.check(structured(text))

    def __str__(self) -> str:
        if self.kind == "literal":
            return f"Literal[{', '.join(map(repr, self.choices))}]"
        if self.kind == "union":
            return " | ".join(str(a) for a in self.args)
        if self.kind == "none":
            return "None"
        if self.args:
            return f"{self.kind}[{', '.join(str(a) for a in self.args)}]"
        return self.kind


ANY = TypeSpec("any")


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _kind_of(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "any"


def of_value(value: Any) -> TypeSpec:
    """The type a literal default implies: ``0.01`` -> float, ``None`` -> any (nothing to go by)."""
    kind = _kind_of(value)
    return ANY if kind == "none" else TypeSpec(kind)


def guess(text: str) -> Any:
    """A command-line value with no declared type, read as papermill reads ``-p``: bool, None, int,
    float, else the text itself."""
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    if text in ("None", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def structured(text: str) -> Any:
    """A list or dict typed on the command line: a Python literal, else YAML/JSON (``[1, 2]``, ``{a: 1}``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise Mismatch(f"cannot read {text!r} as a list or mapping") from None


def parse_annotation(node: ast.expr) -> TypeSpec | None:
    """The type an annotation names, or None when it is not one this module understands."""
    if isinstance(node, ast.Constant):
        if node.value is None:
            return TypeSpec("none")
        if isinstance(node.value, str):  # a quoted annotation: "float"
            try:
                return parse_annotation(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return None
        return None
    if isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        kind = _NAMES.get(name)
        return None if kind is None else TypeSpec(kind)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = parse_annotation(node.left), parse_annotation(node.right)
        if left is None or right is None:
            return None
        return _union([left, right])
    if isinstance(node, ast.Subscript):
        head = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Literal":
            try:
                return TypeSpec("literal", choices=tuple(ast.literal_eval(i) for i in items))
            except ValueError:
                return None
        args = [parse_annotation(i) for i in items if not (isinstance(i, ast.Constant) and i.value is ...)]
        if any(a is None for a in args):
            return None
        known = [a for a in args if a is not None]
        if head == "Optional" and len(known) == 1:
            return _union([known[0], TypeSpec("none")])
        if head == "Union":
            return _union(known)
        kind = _NAMES.get(head)
        if kind == "list":
            return TypeSpec("list", tuple(known[:1]) if len({str(a) for a in known}) == 1 else ())
        if kind == "dict" and len(known) == 2:
            return TypeSpec("dict", tuple(known))
        return None if kind is None else TypeSpec(kind)
    return None


def _union(parts: list[TypeSpec]) -> TypeSpec:
    flat: list[TypeSpec] = []
    for p in parts:
        flat.extend(p.args if p.kind == "union" else [p])
    return flat[0] if len(flat) == 1 else TypeSpec("union", tuple(flat))
