"""Downsampling a metric series for drawing: at most N points, whatever the series' length.

The series is cut into N buckets of consecutive points (by index, so each bucket holds the same number of
points); each bucket keeps its last point (step, time, value) and the minimum and maximum of its values, so
a chart draws the trend through the last values and the min/max band shows every spike the thinning hid.
NaN values are ignored by min/max (a bucket of only NaN gives NaN). Pure module: numpy only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from assay.entities import MetricHistory


@dataclass(frozen=True, slots=True)
class Downsampled:
    """At most ``max_points`` buckets of a series; ``downsampled`` says whether any bucket holds > 1 point."""

    key: str
    steps: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    last: npt.NDArray[np.float64]
    min: npt.NDArray[np.float64]
    max: npt.NDArray[np.float64]
    total: int
    downsampled: bool

    def __len__(self) -> int:
        return int(self.last.shape[0])


def downsample(history: MetricHistory, max_points: int) -> Downsampled:
    """``history`` thinned to at most ``max_points`` buckets (see the module docstring)."""
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    n = len(history)
    values = np.asarray(history.values, dtype=np.float64)
    steps = np.asarray(history.steps, dtype=np.int64)
    times = np.asarray(history.timestamps, dtype=np.int64)
    if n <= max_points:
        return Downsampled(history.key, steps, times, values, values, values, n, False)
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)
    starts, ends = edges[:-1], edges[1:] - 1
    with np.errstate(invalid="ignore"):
        low = np.fmin.reduceat(values, starts)
        high = np.fmax.reduceat(values, starts)
    return Downsampled(history.key, steps[ends], times[ends], values[ends], low, high, n, True)
