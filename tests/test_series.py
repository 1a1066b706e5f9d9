"""Downsampling for charts: bounded size, last points kept, every extreme inside the min/max band."""

from __future__ import annotations

import numpy as np
import pytest

from assay.entities import MetricHistory
from assay.series import downsample


def _history(values: np.ndarray) -> MetricHistory:
    n = values.shape[0]
    return MetricHistory("loss", np.arange(n), np.arange(n) * 10 + 1000, values.astype(float))


def test_a_short_series_is_returned_whole() -> None:
    d = downsample(_history(np.array([3.0, 1.0, 2.0])), 10)
    assert not d.downsampled and d.total == 3
    assert d.last.tolist() == [3.0, 1.0, 2.0] and d.min.tolist() == d.max.tolist() == [3.0, 1.0, 2.0]


def test_a_long_series_keeps_last_points_and_every_extreme() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=1_000_003)
    values[123_456] = 50.0  # a spike that thinning alone would hide
    values[987_654] = -50.0
    d = downsample(_history(values), 1000)
    assert d.downsampled and len(d) == 1000 and d.total == 1_000_003
    assert d.steps[-1] == 1_000_002 and d.last[-1] == values[-1]
    assert d.timestamps[-1] == 1_000_002 * 10 + 1000
    assert d.max.max() == 50.0 and d.min.min() == -50.0
    assert np.all(d.min <= d.last) and np.all(d.last <= d.max)
    assert np.all(np.diff(d.steps) > 0)


def test_nan_is_ignored_by_the_band() -> None:
    values = np.array([1.0, np.nan, 3.0, np.nan, np.nan, 2.0])
    d = downsample(_history(values), 3)
    assert d.min.tolist() == [1.0, 3.0, 2.0] and d.max.tolist() == [1.0, 3.0, 2.0]
    assert np.isnan(d.last[0])


def test_max_points_must_be_positive() -> None:
    with pytest.raises(ValueError):
        downsample(_history(np.ones(3)), 0)
