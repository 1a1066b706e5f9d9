"""What a converter is: the ``Converter`` interface, what it returns (``Converted``) and the error it raises.

Each built-in converter lives in its own module (``sklearn_converter``, ``torch_converter``,
``keras_converter``) and imports its library only when it converts; ``assay.onnx.converters`` keeps the
registry that maps a flavor to one.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from assay.errors import InvalidInput
from assay.models.signature import Signature
from assay.onnx.graph import OutputMap
from assay.optional import require

Precision = Literal["float32", "float64"]
PRECISIONS: tuple[Precision, ...] = ("float32", "float64")


class ConversionError(InvalidInput):
    """A model, or a part of it, that cannot be converted to ONNX (or whose ONNX does not load).

    The message is one line naming the unsupported part (an estimator class, an operator, a dtype) and
    what to do about it."""


class Converted:
    """What a converter made: the serialized ONNX model and how its outputs map onto the native methods."""

    __slots__ = ("converter", "notes", "onnx", "outputs", "precision", "task")

    def __init__(
        self,
        onnx: bytes,
        outputs: OutputMap,
        *,
        converter: str,
        precision: Precision,
        task: str,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.onnx = onnx
        self.outputs = outputs
        self.converter = converter
        self.precision = precision
        self.task = task
        self.notes = notes


class Converter(ABC):
    """Converts the native models of one flavor to ONNX.

    Contract: ``convert`` takes the native model as its flavor loads it and the model's signature, names the
    ONNX inputs after the signature (one per DataFrame column, named after it, or one matrix ``input`` of
    every column in the signature's order; a named tensor's name, else ``input``) and the outputs as
    ``OutputMap`` says; it raises ``ConversionError`` naming the part it cannot convert. It
    must not modify the model. ``example`` is a batch of real input when the caller has one (already
    checked against the signature), for converters that trace the model.
    """

    #: The library that converts (``skl2onnx``), as recorded in the conversion info.
    library: ClassVar[str]

    @abstractmethod
    def convert(
        self, model: Any, signature: Signature, precision: Precision, example: Any = None
    ) -> Converted: ...

    def version(self) -> str:
        """The converting library's version, recorded with the conversion."""
        return str(
            getattr(require(self.library, "onnx", f"ONNX conversion ({self.library})"), "__version__", "")
        )


#: Loggers that report a converter's progress, or dump a graph it could not export, on stderr.
_CHATTY = (
    "torch.onnx",
    "torch.export",
    "torch._export",
    "torch.fx",
    "torch._dynamo",
    "tf2onnx",
    "skl2onnx",
    "onnxscript",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The converters' own deprecation warnings and progress logs, silenced: nothing a caller can act on,
    and ``-W error`` would turn a library's internal FutureWarning into a failed conversion. (Warning
    filters are process-wide: a conversion is not a hot path, but concurrent code sees them changed.)"""
    loggers = [logging.getLogger(n) for n in _CHATTY]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def class_path(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def root_cause(exc: BaseException, limit: int = 240) -> str:
    """The innermost cause of ``exc`` in one short line: converters re-raise what went wrong wrapped in
    advice, colour codes and the whole node they failed to build."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return one_line(exc)[:limit]


def one_line(exc: BaseException) -> str:
    text = " ".join(_ANSI.sub("", str(exc)).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
