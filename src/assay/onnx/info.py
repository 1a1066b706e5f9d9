"""``OnnxInfo``: what a conversion made (opsets, inputs, outputs, size, converter), kept with a model version
as its "onnx" report. Plain data: it round-trips through JSON with ``to_dict`` / ``from_dict``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from assay.errors import InvalidInput


@dataclass(frozen=True)
class OnnxInfo:
    """One ONNX conversion. ``inputs``/``outputs``: ``{"name", "type", "shape"}`` (-1: any size);
    ``opsets``: version per domain ("ai.onnx", "ai.onnx.ml"); ``precision``: the floating input type;
    ``task``: "classification", "regression" or "network"; ``notes``: what the conversion decided (a
    fallback to another exporter or precision, and why)."""

    flavor: str
    converter: str
    precision: str
    task: str
    opsets: dict[str, int]
    inputs: tuple[dict[str, Any], ...]
    outputs: tuple[dict[str, Any], ...]
    size_bytes: int
    sha256: str
    ir_version: int = 0
    producer: str = ""
    notes: tuple[str, ...] = ()
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @classmethod
    def build(cls, description: Mapping[str, Any], **fields: Any) -> OnnxInfo:
        """From ``graph.describe``'s output and the conversion's own fields."""
        return cls.from_dict({**description, **fields})

    def with_notes(self, *notes: str) -> OnnxInfo:
        return replace(self, notes=(*self.notes, *notes))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["inputs"] = [dict(v) for v in self.inputs]
        out["outputs"] = [dict(v) for v in self.outputs]
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OnnxInfo:
        try:
            return cls(
                flavor=str(data["flavor"]),
                converter=str(data["converter"]),
                precision=str(data["precision"]),
                task=str(data["task"]),
                opsets={str(k): int(v) for k, v in dict(data["opsets"]).items()},
                inputs=tuple(dict(v) for v in data["inputs"]),
                outputs=tuple(dict(v) for v in data["outputs"]),
                size_bytes=int(data["size_bytes"]),
                sha256=str(data["sha256"]),
                ir_version=int(data.get("ir_version", 0)),
                producer=str(data.get("producer", "")),
                notes=tuple(str(n) for n in data.get("notes", ())),
                created=str(data.get("created", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed ONNX conversion info: {exc!r}") from None

    def render(self) -> str:
        """A few lines for the CLI."""
        opsets = ", ".join(f"{d} {v}" for d, v in sorted(self.opsets.items()))
        lines = [
            f"onnx: {self.flavor} model by {self.converter}, {self.precision} inputs, {self.task}",
            f"  opsets {opsets}; {self.size_bytes:,} bytes; sha256 {self.sha256[:12]}",
            "  inputs:  " + _values(self.inputs),
            "  outputs: " + _values(self.outputs),
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _values(values: tuple[dict[str, Any], ...], limit: int = 8) -> str:
    shown = [f"{v['name']} {v['type']}{list(v['shape'])}" for v in values[:limit]]
    if len(values) > limit:
        shown.append(f"... {len(values) - limit} more")
    return ", ".join(shown)
