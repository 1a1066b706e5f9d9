"""The latency card: how fast the native model and its ONNX predict, per batch size, and their memory.

For batches of 1, 32 and 1,000 rows (drawn from the validation sample, repeated to fill), each runtime's
whole ``predict`` call is timed, input check included, as a server would call it: the native model through
its flavor (``assay.models.Predictor``), the ONNX one through ``OnnxPredictor`` with one intra-op thread for
single rows (DESIGN.md) and onnxruntime's default, a thread per core, for larger batches; the card records
which. One-row calls cycle through different one-row inputs, as requests do.

Time is bounded: each (batch, runtime) cell gets an equal share of ``budget_s`` (3 s by default) and stops
at ``MAX_CALLS``, after at least ``MIN_CALLS`` calls (a slow model overruns its share by those calls only).
Percentiles of few calls are rough: the card keeps the count.

Memory, per runtime: the peak of Python and numpy allocations (``tracemalloc``) during one predict of the
largest batch, which includes the input conversion, the model's numpy temporaries and the outputs, but not
memory a native library allocates for itself (onnxruntime's arena, scikit-learn's C buffers); and, for
ONNX, the growth of the process's resident set (RSS) from creating a session through its first
largest-batch predict, which does include the session's own memory and arena.
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from assay.errors import InvalidInput
from assay.models.schema import is_frame
from assay.onnx.runtime import OnnxPredictor

BATCHES = (1, 32, 1000)
MIN_CALLS = 3
MAX_CALLS = 2000
#: Distinct one-row inputs cycled through for the single-row timings.
SINGLE_ROWS = 16

Predict = Callable[[Any], Any]


@dataclass(frozen=True)
class Timing:
    """Per-call wall time of ``calls`` calls, in microseconds."""

    p50_us: float
    p95_us: float
    p99_us: float
    mean_us: float
    calls: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Timing:
        us = np.asarray(seconds) * 1e6
        p50, p95, p99 = np.percentile(us, [50, 95, 99])
        return cls(float(p50), float(p95), float(p99), float(us.mean()), len(us))


@dataclass(frozen=True)
class BatchLatency:
    """One batch size: the native and ONNX timings, and the onnxruntime intra-op threads used (0: one per
    core, onnxruntime's default)."""

    rows: int
    native: Timing
    onnx: Timing
    onnx_threads: int

    @property
    def speedup(self) -> float:
        """Native p50 over ONNX p50 (above 1: ONNX is faster)."""
        return self.native.p50_us / self.onnx.p50_us if self.onnx.p50_us else float("inf")


@dataclass(frozen=True)
class Memory:
    """Peak memory (see the module docstring for what each figure counts)."""

    method: str
    rows: int
    native_peak_bytes: int
    onnx_peak_bytes: int
    onnx_session_rss_bytes: int


@dataclass(frozen=True)
class LatencyCard:
    """Native against onnxruntime, per batch size, on this machine (``cpu_count`` logical CPUs)."""

    batches: tuple[BatchLatency, ...]
    memory: Memory | None
    cpu_count: int
    budget_s: float
    measured_at: str

    def batch(self, rows: int) -> BatchLatency:
        for b in self.batches:
            if b.rows == rows:
                return b
        raise KeyError(rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyCard:
        try:
            memory = data.get("memory")
            return cls(
                batches=tuple(
                    BatchLatency(
                        rows=int(b["rows"]),
                        native=Timing(**b["native"]),
                        onnx=Timing(**b["onnx"]),
                        onnx_threads=int(b["onnx_threads"]),
                    )
                    for b in data["batches"]
                ),
                memory=None if memory is None else Memory(**memory),
                cpu_count=int(data["cpu_count"]),
                budget_s=float(data["budget_s"]),
                measured_at=str(data["measured_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed latency card: {exc!r}") from None

    def render(self) -> str:
        """A table for the CLI: per batch, p50/p95/p99 of each runtime and the speed-up, then memory."""
        lines = [
            f"latency (per predict call, {self.cpu_count} CPUs, measured {self.measured_at}):",
            f"  {'rows':>6}  {'native p50/p95/p99 us':>28}  {'onnx p50/p95/p99 us':>28}  {'threads':>7}  speed-up",
        ]
        for b in self.batches:
            lines.append(
                f"  {b.rows:>6}  {_ppp(b.native):>28}  {_ppp(b.onnx):>28}  {b.onnx_threads or 'auto':>7}  "
                f"{b.speedup:.1f}x"
            )
        m = self.memory
        if m is not None:
            lines.append(
                f"  memory ({m.rows:,} rows, {m.method}): native {_mb(m.native_peak_bytes)}, "
                f"onnx {_mb(m.onnx_peak_bytes)}; onnx session RSS {_mb(m.onnx_session_rss_bytes)}"
            )
        return "\n".join(lines)


def _ppp(t: Timing) -> str:
    return f"{t.p50_us:,.0f}/{t.p95_us:,.0f}/{t.p99_us:,.0f}"


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def measure_latency(
    native: Predict,
    onnx_bytes: bytes,
    sample: Any,
    signature: Any = None,
    *,
    batches: Sequence[int] = BATCHES,
    budget_s: float = 3.0,
) -> LatencyCard:
    """The latency card of ``native`` (a predict callable) and the ONNX model ``onnx_bytes`` on batches
    drawn from ``sample`` (a DataFrame, an array, or a list/dict of arrays, as the model takes)."""
    if not batches:
        raise InvalidInput("measure at least one batch size")
    single = OnnxPredictor(onnx_bytes, signature, threads=1)
    many = OnnxPredictor(onnx_bytes, signature, threads=0) if any(b > 1 for b in batches) else single
    share = budget_s / (2 * len(batches))
    results = []
    for rows in batches:
        inputs = [take(sample, rows, start) for start in range(SINGLE_ROWS if rows == 1 else 2)]
        onnx = single if rows == 1 else many
        results.append(
            BatchLatency(rows, _time(native, inputs, share), _time(onnx.predict, inputs, share), onnx.threads)
        )
    largest = take(sample, max(batches), 0)
    return LatencyCard(
        tuple(results),
        _memory(native, onnx_bytes, signature, largest, max(batches)),
        os.cpu_count() or 1,
        budget_s,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )


def take(sample: Any, rows: int, start: int = 0) -> Any:
    """``rows`` rows of ``sample`` from row ``start`` on, wrapping around (repeating rows if it is shorter)."""
    if isinstance(sample, Mapping):
        return {k: take(v, rows, start) for k, v in sample.items()}
    if isinstance(sample, (list, tuple)):
        return [take(v, rows, start) for v in sample]
    n = len(sample)
    index = (np.arange(rows) + start) % n
    if is_frame(sample):
        return sample.iloc[index].reset_index(drop=True)
    return sample[index]


def _time(fn: Predict, inputs: Sequence[Any], budget: float) -> Timing:
    for x in inputs[:2]:
        fn(x)  # warm up: first-call allocations and lazy initialisation are not what a server sees
    times: list[float] = []
    deadline = time.perf_counter() + budget
    clock = time.perf_counter
    i = 0
    while len(times) < MAX_CALLS and (len(times) < MIN_CALLS or clock() < deadline):
        x = inputs[i % len(inputs)]
        t0 = clock()
        fn(x)
        times.append(clock() - t0)
        i += 1
    return Timing.of(times)


def _memory(native: Predict, onnx_bytes: bytes, signature: Any, batch: Any, rows: int) -> Memory:
    import psutil

    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    session = OnnxPredictor(onnx_bytes, signature, threads=0)
    session.predict(batch)
    rss = max(0, process.memory_info().rss - before)
    return Memory(
        method="tracemalloc peak of one predict (Python and numpy allocations); RSS growth of a new session",
        rows=rows,
        native_peak_bytes=_peak(native, batch),
        onnx_peak_bytes=_peak(session.predict, batch),
        onnx_session_rss_bytes=rss,
    )


def _peak(fn: Predict, x: Any) -> int:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn(x)
        return max(0, tracemalloc.get_traced_memory()[1] - base)
    finally:
        if started:
            tracemalloc.stop()
