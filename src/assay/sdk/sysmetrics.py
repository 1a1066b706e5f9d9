"""System metrics sampled in the background into every live run that asked for them.

One thread per process samples CPU %, system memory %, process RSS and, when pynvml finds NVIDIA GPUs,
GPU utilisation and memory; each sample goes into the runs' ``system/...`` series like any metric.
The first sample is taken as soon as a run registers, then every ``ASSAY_SYSTEM_METRICS_INTERVAL`` s.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import psutil

from assay.sdk.writer import RunBuffer


def _gpu_handles() -> list[Any]:
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:
        return []


class SystemSampler:
    """Samples system metrics into registered run buffers until they are unregistered."""

    def __init__(self, interval: float | None = None) -> None:
        self.interval = interval or float(os.environ.get("ASSAY_SYSTEM_METRICS_INTERVAL", "10"))
        self._runs: dict[str, RunBuffer] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._proc = psutil.Process()
        self._gpus: list[Any] | None = None
        self._thread: threading.Thread | None = None

    def add(self, buf: RunBuffer) -> None:
        with self._lock:
            self._runs[buf.run_id] = buf
            if self._thread is None:
                psutil.cpu_percent(None)  # prime the CPU counters
                self._proc.cpu_percent(None)
                self._thread = threading.Thread(target=self._loop, name="assay-sysmetrics", daemon=True)
                self._thread.start()
        self._wake.set()

    def remove(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def sample(self) -> dict[str, float]:
        mem = psutil.virtual_memory()
        out = {
            "system/cpu_percent": psutil.cpu_percent(None),
            "system/process_cpu_percent": self._proc.cpu_percent(None),
            "system/memory_percent": mem.percent,
            "system/memory_used_mb": (mem.total - mem.available) / 2**20,
            "system/process_rss_mb": self._proc.memory_info().rss / 2**20,
        }
        if self._gpus is None:
            self._gpus = _gpu_handles()
        if self._gpus:
            import pynvml

            for i, h in enumerate(self._gpus):
                util = pynvml.nvmlDeviceGetUtilizationRates(h)
                meminfo = pynvml.nvmlDeviceGetMemoryInfo(h)
                out[f"system/gpu{i}/utilization_percent"] = float(util.gpu)
                out[f"system/gpu{i}/memory_used_mb"] = meminfo.used / 2**20
        return out

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._lock:
                targets = [b for b in self._runs.values() if not b.closed]
            if not targets:
                continue
            now = time.time()
            values = self.sample()
            for buf in targets:
                for key, value in values.items():
                    buf.add(key, value, None, now)
