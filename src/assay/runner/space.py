"""Search spaces for sweeps: what each parameter may take, parsed from the command line or built in Python.

Pure module: no I/O, and Optuna is imported only by ``Space.to_optuna``. A space maps parameter names to
dimensions::

    uniform(a, b)      a float in [a, b]                  loguniform(a, b)  the same, sampled on a log scale
    int(a, b)          an int in [a, b], both included    logint(a, b)      the same, on a log scale
    choice(x, y, ...)  one of the values                  (``randint`` is another name for ``int``)

From Python, ``assay.sweep(fn, {"lr": assay.loguniform(1e-4, 1e-1), "depth": [3, 5], "epochs": 10})``:
a list or tuple is a choice, a dimension is itself, and any other value is fixed (the same in every trial).
On the command line, ``--grid depth=3,5`` and ``--random "lr=loguniform(1e-4,1e-1)"``; values are typed
as they read (``3`` an int, ``0.1`` a float, ``true`` a bool, anything else text). Each refusal is one
``InvalidInput`` line naming the parameter and what is wrong.
"""

from __future__ import annotations

import ast
import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.errors import InvalidInput

#: The most points a grid may have: a typo such as ``int(1,100000)`` is refused, not run for days.
MAX_GRID = 100_000
#: JSON-like scalars a choice may hold.
Value = int | float | bool | str | None


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Uniform:
    """A float in ``[low, high]``; ``log``: sampled uniformly in log space (``low`` > 0)."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        _bounds(self.low, self.high, self.log, "loguniform" if self.log else "uniform")

    def sample(self, rng: random.Random) -> float:
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)

    def values(self) -> list[Value] | None:
        return None

    def bounds(self) -> list[Value]:
        """Both ends as floats, and a value between them: what any sample may look like."""
        return [float(self.low), float(self.high), self.low + (self.high - self.low) / 3]

    def describe(self) -> str:
        return f"{'loguniform' if self.log else 'uniform'}({self.low!r}, {self.high!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "loguniform" if self.log else "uniform", "low": self.low, "high": self.high}


@dataclass(frozen=True, slots=True)
class IntRange:
    """An int in ``[low, high]``, both ends included; ``log``: sampled on a log scale (``low`` >= 1)."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        name = "logint" if self.log else "int"
        for end in (self.low, self.high):
            if isinstance(end, bool) or not isinstance(end, int):
                raise InvalidInput(f"{name}(low, high) takes whole numbers, not {end!r}")
        _bounds(self.low, self.high, self.log, name)

    def sample(self, rng: random.Random) -> int:
        if self.log:
            x = math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5)))
            return min(max(round(x), self.low), self.high)
        return rng.randint(self.low, self.high)

    def values(self) -> list[Value] | None:
        if self.log or self.high - self.low >= MAX_GRID:
            return None
        return list(range(self.low, self.high + 1))

    def bounds(self) -> list[Value]:
        return [self.low, self.high]

    def describe(self) -> str:
        return f"{'logint' if self.log else 'int'}({self.low}, {self.high})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "logint" if self.log else "int", "low": self.low, "high": self.high}


@dataclass(frozen=True, slots=True)
class Choice:
    """One of ``options`` (in a grid: each of them in turn)."""

    options: tuple[Value, ...]

    def __post_init__(self) -> None:
        if not self.options:
            raise InvalidInput("choice() needs at least one value")
        for option in self.options:
            if option is not None and not isinstance(option, int | float | bool | str):
                raise InvalidInput(f"a choice holds numbers, booleans, text or None, not {option!r}")
        if len(set(map(repr, self.options))) != len(self.options):
            raise InvalidInput(f"choice{self.options!r} repeats a value")

    def sample(self, rng: random.Random) -> Value:
        return rng.choice(self.options)

    def values(self) -> list[Value] | None:
        return list(self.options)

    def bounds(self) -> list[Value]:
        return list(self.options)

    def describe(self) -> str:
        return "choice(" + ", ".join(map(repr, self.options)) + ")"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "choice", "values": list(self.options)}


Dimension = Uniform | IntRange | Choice


def _bounds(low: float, high: float, log: bool, name: str) -> None:
    _number(low, f"{name}'s low end")
    _number(high, f"{name}'s high end")
    if not low < high:
        raise InvalidInput(f"{name}({low!r}, {high!r}) needs low < high")
    if log and low <= 0:
        raise InvalidInput(f"{name}({low!r}, {high!r}) samples on a log scale: its low end must be > 0")


def uniform(low: float, high: float) -> Uniform:
    """A float between ``low`` and ``high``, uniformly."""
    return Uniform(low, high)


def loguniform(low: float, high: float) -> Uniform:
    """A float between ``low`` > 0 and ``high``, uniformly on a log scale (learning rates)."""
    return Uniform(low, high, log=True)


def randint(low: int, high: int) -> IntRange:
    """An int between ``low`` and ``high``, both included."""
    return IntRange(low, high)


def logint(low: int, high: int) -> IntRange:
    """An int between ``low`` >= 1 and ``high`` (both included), on a log scale (layer widths)."""
    return IntRange(low, high, log=True)


def choice(*options: Value) -> Choice:
    """One of ``options``."""
    return Choice(tuple(options))


_MAKERS: dict[str, tuple[Callable[..., Dimension], int]] = {
    "uniform": (uniform, 2),
    "loguniform": (loguniform, 2),
    "int": (randint, 2),
    "randint": (randint, 2),
    "logint": (logint, 2),
}


@dataclass(frozen=True)
class Space:
    """Named dimensions to search, and fixed values every trial takes."""

    dimensions: Mapping[str, Dimension]
    fixed: Mapping[str, Any]

    @property
    def names(self) -> list[str]:
        return list(self.dimensions)

    def grid(self) -> list[dict[str, Value]]:
        """Every combination, first dimension slowest (InvalidInput for a continuous dimension)."""
        axes: list[list[Value]] = []
        size = 1
        for name, dim in self.dimensions.items():
            values = dim.values()
            if values is None:
                raise InvalidInput(
                    f"{name}={dim.describe()} has no finite list of values for a grid: give values "
                    f"({name}=a,b,c) or search it with --random or --optuna"
                )
            axes.append(values)
            size *= len(values)
        if size > MAX_GRID:
            raise InvalidInput(
                f"the grid has {size:,} points, more than {MAX_GRID:,}: sample it with --random"
            )
        return [dict(zip(self.dimensions, point, strict=True)) for point in itertools.product(*axes)]

    def sample(self, seed: int, index: int) -> dict[str, Value]:
        """Trial ``index``'s point of a random search seeded ``seed``: the same on every run and resume."""
        rng = random.Random(f"{seed}/{index}")
        return {name: dim.sample(rng) for name, dim in self.dimensions.items()}

    def corners(self) -> Iterator[dict[str, Any]]:
        """Points that reach every bound and every choice (with the fixed values): what a notebook's schema
        is checked against before a sweep starts."""
        axes = {name: dim.bounds() for name, dim in self.dimensions.items()}
        longest = max((len(v) for v in axes.values()), default=1)
        for i in range(longest):
            yield {**self.fixed, **{name: v[i % len(v)] for name, v in axes.items()}}

    def to_optuna(self) -> dict[str, Any]:
        """The dimensions as Optuna distributions (Optuna imported here)."""
        from assay.optional import require

        d = require("optuna.distributions", "sweeps", "--optuna sweeps")
        out: dict[str, Any] = {}
        for name, dim in self.dimensions.items():
            if isinstance(dim, Uniform):
                out[name] = d.FloatDistribution(dim.low, dim.high, log=dim.log)
            elif isinstance(dim, IntRange):
                out[name] = d.IntDistribution(dim.low, dim.high, log=dim.log)
            else:
                out[name] = d.CategoricalDistribution(dim.options)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"dimensions": {n: d.to_dict() for n, d in self.dimensions.items()}, "fixed": dict(self.fixed)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Space:
        dims: dict[str, Dimension] = {}
        for name, raw in data.get("dimensions", {}).items():
            kind = raw.get("type")
            if kind == "choice":
                dims[name] = Choice(tuple(raw["values"]))
            elif kind in _MAKERS:
                dims[name] = _MAKERS[kind][0](raw["low"], raw["high"])
            else:
                raise InvalidInput(f"a stored sweep space has a dimension of unknown type {kind!r}")
        return cls(dims, dict(data.get("fixed", {})))


def space_of(spec: Mapping[str, Any], fixed: Mapping[str, Any] | None = None) -> Space:
    """A space from Python: dimensions stay, lists and tuples are choices, other values are fixed."""
    dims: dict[str, Dimension] = {}
    constants = dict(fixed or {})
    for name, value in spec.items():
        _check_name(name)
        if isinstance(value, Uniform | IntRange | Choice):
            dims[name] = value
        elif isinstance(value, list | tuple):
            dims[name] = Choice(tuple(value))
        else:
            constants[name] = value
    both = set(dims) & set(constants)
    if both:
        raise InvalidInput(f"{', '.join(sorted(both))} is both searched and fixed: give it once")
    return Space(dims, constants)


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidInput(f"parameter name {name!r} must be a Python identifier")


def typed(text: str) -> Value:
    """A value as typed on a command line: an int, a float, a bool (true/false), None (none), else text."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(t)
        except ValueError:
            pass
    return t


def split_spec(spec: str, flag: str) -> tuple[str, str]:
    """``NAME=EXPR`` into its parts (InvalidInput otherwise)."""
    name, sep, expr = spec.partition("=")
    name = name.strip()
    if not sep or not expr.strip():
        raise InvalidInput(f"{flag} {spec!r}: write NAME=VALUES, e.g. {flag} lr=0.01,0.1")
    if not name.isidentifier():
        raise InvalidInput(f"{flag} {spec!r}: {name!r} is not a parameter name (a Python identifier)")
    return name, expr.strip()


def _literal(node: ast.expr, spec: str, flag: str) -> Value:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _literal(node.operand, spec, flag)
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, int | float | str)):
        value: Value = node.value
        return value
    if isinstance(node, ast.Name):  # a bare word inside choice(rf, gb): text
        return typed(node.id)
    raise InvalidInput(f"{flag} {spec!r}: {ast.unparse(node)!r} is not a number or a quoted text")


def parse_dimension(spec: str, flag: str = "--random") -> tuple[str, Dimension]:
    """``NAME=uniform(a,b)`` (or loguniform, int, randint, logint, choice), or ``NAME=a,b,c`` (a choice)."""
    name, expr = split_spec(spec, flag)
    head = expr.split("(", 1)[0].strip()
    if "(" not in expr or not head.isidentifier():
        return name, Choice(tuple(typed(part) for part in expr.split(",")))
    try:
        tree = ast.parse(expr, mode="eval").body
    except SyntaxError:
        raise InvalidInput(
            f"{flag} {spec!r}: {expr!r} does not parse; e.g. {name}=loguniform(1e-4,1e-1)"
        ) from None
    known = ", ".join([*_MAKERS, "choice"])
    if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name) or tree.keywords:
        raise InvalidInput(f"{flag} {spec!r}: write {name}=FUNCTION(ARGS), FUNCTION one of {known}")
    func = tree.func.id
    args = [_literal(a, spec, flag) for a in tree.args]
    try:
        if func == "choice":
            return name, Choice(tuple(args))
        if func not in _MAKERS:
            raise InvalidInput(f"unknown distribution {func!r}: use one of {known}")
        make, arity = _MAKERS[func]
        if len(args) != arity:
            raise InvalidInput(f"{func} takes {arity} numbers (low, high), got {len(args)}")
        return name, make(*args)
    except InvalidInput as exc:
        raise InvalidInput(f"{flag} {spec!r}: {exc.message}") from None


def parse_grid(spec: str) -> tuple[str, Dimension]:
    """``NAME=a,b,c`` for ``--grid`` (``int(a,b)`` and ``choice(...)`` are accepted too)."""
    name, dim = parse_dimension(spec, "--grid")
    if dim.values() is None:
        raise InvalidInput(
            f"--grid {spec!r}: {dim.describe()} has no finite list of values: give them ({name}=a,b,c), "
            "or use --random/--space"
        )
    return name, dim


def parse_space(specs: Sequence[tuple[str, str]], fixed: Mapping[str, Any] | None = None) -> Space:
    """A space from command-line specs ``(flag, "NAME=EXPR")``; a name given twice is refused."""
    dims: dict[str, Dimension] = {}
    for flag, spec in specs:
        name, dim = parse_grid(spec) if flag == "--grid" else parse_dimension(spec, flag)
        if name in dims:
            raise InvalidInput(f"{flag} {spec!r}: {name} is given twice; give all its values at once")
        dims[name] = dim
    return space_of(dims, fixed)
