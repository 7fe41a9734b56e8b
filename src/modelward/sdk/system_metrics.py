"""Periodic host/process resource metrics (CPU, memory, disk, NVIDIA GPUs)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from typing import Callable

import psutil

_log = logging.getLogger(__name__)

MetricsSink = Callable[[dict[str, float], int], None]

_MB = 1024.0 * 1024.0
_NVIDIA_SMI_TIMEOUT_S = 5.0
_NVIDIA_SMI_QUERY = [
    "--query-gpu=utilization.gpu,memory.used",
    "--format=csv,noheader,nounits",
]


def sample_system_metrics(disk_path: str | None = None) -> dict[str, float]:
    metrics = _host_metrics(disk_path or os.getcwd())
    metrics.update(gpu_metrics())
    return metrics


def _host_metrics(disk_path: str) -> dict[str, float]:
    mem = psutil.virtual_memory()
    disk = psutil.disk_usage(disk_path)
    return {
        # interval=None compares with the previous call (first call may read 0.0)
        # instead of blocking the caller for a measurement window.
        "system/cpu_utilization_percentage": float(psutil.cpu_percent(interval=None)),
        "system/system_memory_usage_megabytes": (mem.total - mem.available) / _MB,
        "system/system_memory_usage_percentage": float(mem.percent),
        "system/disk_usage_percentage": float(disk.percent),
        "system/disk_available_megabytes": disk.free / _MB,
        "system/process_rss_megabytes": psutil.Process().memory_info().rss / _MB,
    }


def gpu_metrics() -> dict[str, float]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}
    try:
        out = subprocess.run(
            [exe, *_NVIDIA_SMI_QUERY],
            capture_output=True,
            text=True,
            timeout=_NVIDIA_SMI_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return parse_nvidia_smi(out)


def parse_nvidia_smi(output: str) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for index, line in enumerate(output.strip().splitlines()):
        try:
            util, mem_used = (float(field) for field in line.split(","))
        except ValueError:  # "[N/A]", "[Not Supported]" or an unexpected shape
            continue
        metrics[f"system/gpu_{index}_utilization_percentage"] = util
        metrics[f"system/gpu_{index}_memory_usage_megabytes"] = mem_used  # nounits: MiB
    return metrics


class SystemMetricsSampler:
    def __init__(self, sink: MetricsSink, interval_s: float = 10.0) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._sink = sink
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SystemMetricsSampler:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="modelward-system-metrics", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._thread = None

    def __enter__(self) -> SystemMetricsSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        psutil.cpu_percent(interval=None)  # prime the CPU counter so step 0 is meaningful
        step = 0
        while not self._stop.wait(self._interval):
            try:
                self._sink(sample_system_metrics(), step)
            except Exception:  # one bad sample or sink call must not kill the sampler
                _log.warning("system metrics sampling failed", exc_info=True)
            step += 1
