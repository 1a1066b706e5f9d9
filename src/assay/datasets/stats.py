"""Column statistics accumulated chunk by chunk, while the chunk that was just hashed is still in cache.

Numeric columns keep count, min, max, mean and the sum of squared deviations per chunk and merge them with
Chan's parallel formula: one read of the data from memory, numerically stable (no sum of squares minus
square of sums), and no temporary larger than a chunk. The NaN-aware path runs only for chunks whose sum
is NaN, so clean float data pays for no mask. A block of several columns (a 2-D numpy array) is reduced
along axis 0 with the same code, one lane per column.

``distinct`` is counted only where it is cheap: booleans, categoricals (codes in use), and string or
object columns of at most ``DISTINCT_ROW_LIMIT`` rows (beyond that a hash table of every value would cost
more than the fingerprint itself, so it is left None).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.datasets.profile import ColumnStats

#: String/object columns longer than this get no distinct count (it would need a hash table of every value).
DISTINCT_ROW_LIMIT = 1_000_000


class Moments:
    """Running count, nulls, min, max, mean and M2 of ``lanes`` numeric columns (1 for a column)."""

    def __init__(self, lanes: int) -> None:
        self.integer = False  # integer data: exact int bounds, and no NaN to look for
        self.n = np.zeros(lanes, dtype=np.int64)
        self.nulls = np.zeros(lanes, dtype=np.int64)
        self.mean = np.zeros(lanes)
        self.m2 = np.zeros(lanes)
        self.lo: npt.NDArray[Any] | None = None
        self.hi: npt.NDArray[Any] | None = None
        self._scratch = np.empty(0)

    def add(self, x: npt.NDArray[Any], valid: npt.NDArray[np.bool_] | None = None) -> None:
        """Fold in a block of shape (rows, lanes); ``valid`` (rows,) marks present rows, None for all."""
        self.integer = x.dtype.kind in "iu"
        with np.errstate(all="ignore"):
            if valid is not None:
                self.nulls += x.shape[0] - int(np.count_nonzero(valid))
                x = x[valid]
            if x.shape[0] == 0:
                return
            total = x.sum(axis=0, dtype=np.float64)
            if not self.integer and bool(np.isnan(total).any()):  # a NaN somewhere (or inf - inf)
                self._add_with_nan(x)
                return
            k = x.shape[0]
            mu = total / k
            d = self._deviations(x, mu)
            m2 = np.einsum("ij,ij->j", d, d)  # not np.dot: BLAS threads spin on a busy machine
            self._merge(np.full(x.shape[1], k, dtype=np.int64), mu, m2, x.min(axis=0), x.max(axis=0))

    def _add_with_nan(self, x: npt.NDArray[Any]) -> None:
        nan = np.isnan(x)
        k = x.shape[0] - nan.sum(axis=0)
        self.nulls += x.shape[0] - k
        filled = np.where(nan, 0.0, x)
        mu = np.where(k > 0, filled.sum(axis=0, dtype=np.float64) / np.maximum(k, 1), 0.0)
        d = np.where(nan, 0.0, x - mu)
        m2 = np.einsum("ij,ij->j", d, d)
        self._merge(k, mu, m2, np.fmin.reduce(x, axis=0), np.fmax.reduce(x, axis=0))

    def _deviations(self, x: npt.NDArray[Any], mu: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if self._scratch.size < x.size:
            self._scratch = np.empty(x.size)
        out = self._scratch[: x.size].reshape(x.shape)
        np.subtract(x, mu, out=out, casting="unsafe")
        return out

    def _merge(
        self,
        k: npt.NDArray[np.int64],
        mu: npt.NDArray[np.float64],
        m2: npt.NDArray[np.float64],
        lo: npt.NDArray[Any],
        hi: npt.NDArray[Any],
    ) -> None:
        n = self.n + k
        safe = np.maximum(n, 1)
        delta = mu - self.mean
        self.mean = np.where(k > 0, self.mean + delta * (k / safe), self.mean)
        self.m2 = np.where(k > 0, self.m2 + m2 + delta * delta * (self.n * (k / safe)), self.m2)
        self.n = n
        self.lo = lo if self.lo is None else np.fmin(self.lo, lo)
        self.hi = hi if self.hi is None else np.fmax(self.hi, hi)

    def results(self, names: list[str]) -> list[ColumnStats]:
        out = []
        for i, name in enumerate(names):
            n = int(self.n[i])
            lo = None if n == 0 or self.lo is None else _scalar(self.lo[i], self.integer)
            hi = None if n == 0 or self.hi is None else _scalar(self.hi[i], self.integer)
            std = math.sqrt(max(float(self.m2[i]), 0.0) / (n - 1)) if n > 1 else None
            if n > 1 and math.isnan(self.m2[i]):  # an infinite value: no finite spread
                std = math.nan
            mean = float(self.mean[i]) if n else None
            out.append(ColumnStats(name, n, int(self.nulls[i]), min=lo, max=hi, mean=mean, std=std))
        return out


def _scalar(value: Any, integer: bool) -> int | float:
    return int(value) if integer else float(value)


class Temporal:
    """Count, nulls (NaT or masked), min and max of a datetime or timedelta column, kept as int64 ticks."""

    def __init__(self, unit: str, kind: str) -> None:
        self.unit = unit
        self.kind = kind  # "M" datetime, "m" timedelta
        self.n = 0
        self.nulls = 0
        self.lo: int | None = None
        self.hi: int | None = None

    def add(self, ticks: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_] | None = None) -> None:
        present = ticks != np.iinfo(np.int64).min  # NaT
        if valid is not None:
            present &= valid
        k = int(np.count_nonzero(present))
        self.nulls += ticks.size - k
        self.n += k
        if k:
            x = ticks[present] if k < ticks.size else ticks
            lo, hi = int(x.min()), int(x.max())
            self.lo = lo if self.lo is None else min(self.lo, lo)
            self.hi = hi if self.hi is None else max(self.hi, hi)

    def result(self, name: str) -> ColumnStats:
        return ColumnStats(name, self.n, self.nulls, min=self._iso(self.lo), max=self._iso(self.hi))

    def _iso(self, ticks: int | None) -> str | None:
        if ticks is None:
            return None
        if self.kind == "M":
            return str(np.datetime_as_string(np.array(ticks, dtype=f"datetime64[{self.unit}]")))
        return str(np.array(ticks, dtype=f"timedelta64[{self.unit}]"))


class Counts:
    """Count and nulls of any column; for booleans, also how many distinct values (0, 1 or 2) appear."""

    def __init__(self, boolean: bool = False) -> None:
        self.boolean = boolean
        self.n = 0
        self.nulls = 0
        self.trues = 0

    def add(self, values: npt.NDArray[Any] | None, size: int, nulls: int) -> None:
        self.n += size - nulls
        self.nulls += nulls
        if self.boolean and values is not None:
            self.trues += int(np.count_nonzero(values))  # nulls were zeroed: they count as False here

    def result(self, name: str, distinct: int | None = None) -> ColumnStats:
        if self.boolean:
            distinct = int(self.trues > 0) + int(self.n > self.trues)
        return ColumnStats(name, self.n, self.nulls, distinct=distinct)
