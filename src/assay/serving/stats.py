"""Prometheus-style counters of a serving process: requests by route and status, and a latency histogram.

Thread-safe by a lock around a few integer updates (the server answers on one event loop; the lock is for
the background reload thread and for readers of /metrics).
"""

from __future__ import annotations

import threading
from collections import Counter

#: Upper bounds of the latency histogram's buckets, in seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.rows = 0

    def observe(self, route: str, status: int, seconds: float, rows: int = 0) -> None:
        index = next((i for i, b in enumerate(BUCKETS) if seconds <= b), len(BUCKETS))
        with self._lock:
            self.requests[(route, status)] += 1
            if route == "/predict":
                self.buckets[index] += 1
                self.latency_sum += seconds
                self.latency_count += 1
                self.rows += rows

    def render(self, model: str, version: int, reloads: int, failures: int) -> str:
        """The counters in Prometheus' text exposition format."""
        labels = f'model="{model}",version="{version}"'
        lines = [
            "# HELP assay_requests_total Requests answered, by route and HTTP status.",
            "# TYPE assay_requests_total counter",
        ]
        with self._lock:
            for (route, status), n in sorted(self.requests.items()):
                lines.append(f'assay_requests_total{{route="{route}",status="{status}"}} {n}')
            lines += [
                "# HELP assay_predict_seconds Time to answer POST /predict.",
                "# TYPE assay_predict_seconds histogram",
            ]
            cumulative = 0
            for bound, n in zip((*BUCKETS, float("inf")), self.buckets, strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'assay_predict_seconds_bucket{{le="{le}"}} {cumulative}')
            lines.append(f"assay_predict_seconds_sum {self.latency_sum}")
            lines.append(f"assay_predict_seconds_count {self.latency_count}")
            lines += [
                "# HELP assay_predicted_rows_total Rows predicted.",
                "# TYPE assay_predicted_rows_total counter",
                f"assay_predicted_rows_total {self.rows}",
            ]
        lines += [
            "# HELP assay_model_info The version being served.",
            "# TYPE assay_model_info gauge",
            f"assay_model_info{{{labels}}} 1",
            "# HELP assay_model_reloads_total Alias moves picked up, and reloads that failed.",
            "# TYPE assay_model_reloads_total counter",
            f'assay_model_reloads_total{{result="ok"}} {reloads}',
            f'assay_model_reloads_total{{result="failed"}} {failures}',
        ]
        return "\n".join(lines) + "\n"
