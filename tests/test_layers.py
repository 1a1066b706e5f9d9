"""The package's shape, checked from its source: imports point down the layers and never form a cycle.

Every import counts, top-level or inside a function (a lazy import is still a dependency), except those
under ``if TYPE_CHECKING:``. The layers are DESIGN.md's: pure modules at the bottom; ``services`` (the
interfaces) above them; the storage and the wire below the implementations; the interfaces for people on
top. A new service follows the same shape and needs no change here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import assay

ROOT = Path(assay.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["assay", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(name: str) -> set[str]:
    """The assay modules ``name`` imports (a ``from package import module`` counts as the module)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("assay"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name if is_package else name.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    package = package.rsplit(".", 1)[0]
                base = f"{package}.{base}" if base else package
            if not base.startswith("assay"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_another_that_imports_it_back() -> None:
    assert _cycles() == []


#: The runner's pure modules (what a job, a schedule and a search space are; the queue's state machine; cron
#: due times; what an engine runs): the services, the wire and the UI import them like the other pure parts.
RUNNER_PURE = {"assay.runner", "assay.runner.entities", "assay.runner.states", "assay.runner.cron",
               "assay.runner.space", "assay.runner.task"}  # fmt: skip


def _top(module: str) -> str:
    if module in RUNNER_PURE:
        return "runner.pure"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "assay"


#: What each part of the package may import (besides itself and the pure modules).
PURE = {
    "registry",  # the registry's entities, models:/ URIs and promotion rules
    "entities",
    "errors",
    "access",
    "query",
    "series",
    "wire",
    "redact",
    "fmt",
    "evaluation",
    "_version",
    "optional",
    "runner.pure",
}
ALLOWED: dict[str, set[str]] = {
    **{p: set() for p in PURE},
    "api": set(),
    "services": set(),
    "artifacts": set(),
    "datasets": set(),  # fingerprints: reads data and files, imports only the pure modules
    "store": set(),
    "embedded": {"services", "store", "artifacts"},
    "remote": {"services", "api", "artifacts"},
    "bundle": {"services", "embedded", "remote", "store"},
    "models": set(),
    "sdk": {"services", "bundle", "artifacts", "models", "datasets"},
    "autolog": {"sdk", "services"},  # framework hooks over the fluent API; frameworks imported lazily
    "onnx": {"models", "sdk", "services", "artifacts"},  # the ONNX bridge; converters imported lazily
    "notebooks": {"sdk", "bundle"},  # notebooks as tracked runs: papermill, kernels, templates
    "web": {"services", "bundle"},
    # the runner: jobs worked by workers, schedules fired, sweeps driven; notebooks and functions in tracked runs
    "runner": {"services", "bundle", "sdk", "notebooks"},
    # notebooks: the parameters schema (pure parsing); runner: a sweep's tags and its best-so-far
    "ui": {"services", "web", "artifacts", "notebooks", "runner"},
    # MLflow compatibility: its REST API over the services (mounted by server), and `assay import mlflow`
    "mlflow": {"services", "bundle", "web", "api", "artifacts", "store", "sdk"},
    "server": {"services", "bundle", "web", "api", "ui", "store", "artifacts", "mlflow", "runner"},
    "serving": {"sdk", "onnx", "models"},  # assay serve: a version behind HTTP (starlette, onnxruntime)
    "cli": {
        "services",
        "bundle",
        "sdk",
        "server",
        "artifacts",
        "store",
        "serving",
        "notebooks",
        "onnx",
        "mlflow",
        "runner",
    },
    "testing": {"assay", "services", "bundle", "sdk", "server", "artifacts", "embedded", "store"},
    "assay": {"sdk", "bundle", "services"},
}


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for name, targets in GRAPH.items():
        part = _top(name)
        allowed = ALLOWED.get(part)
        assert allowed is not None, f"{name}: a new top-level part; say what it may import in ALLOWED"
        for t in targets:
            other = _top(t)
            if other != part and other not in PURE and other not in allowed:
                wrong.append(f"{name} -> {t}")
    assert wrong == [], "imports that run up or sideways:\n" + "\n".join(sorted(wrong))


@pytest.mark.parametrize(
    "module",
    [
        "assay.services.tracking",
        "assay.services.access",
        "assay.services",
        "assay.remote",
        "assay.api.schemas",
    ],
)
def test_interfaces_and_the_remote_client_load_no_storage_and_no_server(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in ('sqlalchemy', 'fastapi', 'alembic', 'uvicorn') if m in sys.modules); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {module} loads {out.stdout.strip()}"


def test_a_missing_optional_package_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9: ``to_pandas`` without pandas raised a bare ImportError."""
    from assay.entities import RunList
    from assay.errors import MissingDependency

    monkeypatch.setitem(sys.modules, "pandas", None)  # what an absent package looks like to import
    with pytest.raises(MissingDependency, match=r"pip install 'assay\[pandas\]'"):
        RunList([]).to_pandas()
