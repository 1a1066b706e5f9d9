"""An audit of a ``torch.export.save`` archive (``.pt2``) before ``torch.export.load`` opens it.

``torch.export.load`` is documented as unsafe on untrusted files: it unpickles a tensor subclass weight or
constant (``torch.load(weights_only=False)``), an opaque constant (``pickle.loads``), a TorchScript object,
and falls back to an unrestricted ``torch.load`` when the sample inputs do not load as plain tensors.
The program's symbolic shapes are parsed with ``sympy.sympify``, which evaluates Python. So the archive
is read as a zip first and admitted only when every entry is one a plain exported module writes: the
format markers, the program as JSON whose shape expressions use only sympy's arithmetic and size symbols,
weights and constants as raw tensor bytes described by JSON configs that say ``use_pickle: false``, and
sample inputs that load with ``weights_only=True``. Anything else (an unknown entry, a pickled payload,
compiled AOTInductor code, an expression naming anything else) is refused by name.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput

#: Entries of a plain exported program's archive, relative to its root folder (torch 2.x layout).
_ALLOWED = re.compile(
    r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/[^/]+\.json"
    r"|data/weights/[^/]+_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/[^/]+_constants_config\.json|data/constants/tensor_\d+"
    r"|data/sample_inputs/[^/]+\.pt"
    r"|extra/[^/]+)"
)


def audit_pt2(path: Path, torch: Any) -> None:
    """Raise ``InvalidInput`` unless the archive at ``path`` holds only plain data (see the module doc)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"{path.name} is not a torch.export archive: {exc}") from None
    with archive:
        for full in archive.namelist():
            if full.endswith("/"):
                continue
            _, _, entry = full.partition("/")
            if not _ALLOWED.fullmatch(entry):
                raise InvalidInput(f"{path.name} holds {entry!r}, which a safe load does not open")
            if entry.startswith("models/"):
                _check_program(path.name, entry, archive.read(full))
            elif entry.endswith("_config.json"):
                _check_config(path.name, entry, archive.read(full))
            elif entry.startswith("data/sample_inputs/"):
                try:
                    torch.load(io.BytesIO(archive.read(full)), weights_only=True)
                except Exception as exc:
                    raise InvalidInput(
                        f"{path.name}: {entry} does not load as plain tensors ({type(exc).__name__}), "
                        "and torch would unpickle it"
                    ) from None


def _check_config(name: str, entry: str, data: bytes) -> None:
    try:
        config = json.loads(data)["config"]
        payloads = list(config.items())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"{name}: {entry} is not a payload config ({exc!r})") from None
    for fqn, meta in payloads:
        if not isinstance(meta, dict) or meta.get("use_pickle") is not False:
            raise InvalidInput(f"{name}: {fqn!r} is stored with pickle, which a safe load does not open")
        path_name = str(meta.get("path_name", ""))
        if not re.fullmatch(r"(weight|tensor)_\d+", path_name):
            raise InvalidInput(f"{name}: {fqn!r} is stored as {path_name!r}, which a safe load does not open")


#: What a shape expression may name: sympy's constructors and assumptions, and torch's sympy functions.
_NAMES = frozenset(
    {
        *("Symbol", "Integer", "Rational", "Float", "Max", "Min", "Abs", "Mul", "Add", "Pow", "Mod", "oo"),
        *("Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "True", "False", "floor", "ceiling"),
        *("positive", "negative", "integer", "nonnegative", "nonpositive", "real", "finite"),
        *("FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt"),
        *("CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv"),
        *("IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal"),
        *("ToFloat", "Identity"),
    }
)
_TOKEN = re.compile(r"\s+|'[A-Za-z_]\w*'|\d+(?:\.\d+)?(?:e-?\d+)?|[A-Za-z]\w*|[-+*/%(),=<>!]")
_SIZE_SYMBOL = re.compile(r"[a-z]+\d+")


def _check_program(name: str, entry: str, data: bytes) -> None:
    try:
        program = json.loads(data)
    except ValueError as exc:
        raise InvalidInput(f"{name}: {entry} is not JSON ({exc})") from None
    for expr in _expressions(program):
        pos = 0
        while pos < len(expr):
            match = _TOKEN.match(expr, pos)
            token = match.group() if match else expr[pos]
            bare_name = token[0].isalpha()
            if not match or (bare_name and token not in _NAMES and not _SIZE_SYMBOL.fullmatch(token)):
                raise InvalidInput(f"{name}: the shape expression {expr!r} names {token!r}; refused")
            pos = match.end()


def _expressions(node: Any) -> list[str]:
    """Every ``expr_str`` in the program's JSON (the strings torch hands to ``sympy.sympify``)."""
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "expr_str":
                    found.append(str(value))
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found
