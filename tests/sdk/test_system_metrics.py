import threading
import time

import psutil
import pytest

from modelward.sdk import system_metrics
from modelward.sdk.system_metrics import (
    SystemMetricsSampler,
    parse_nvidia_smi,
    sample_system_metrics,
)

PERCENT_KEYS = (
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_percentage",
    "system/disk_usage_percentage",
)
MEGABYTE_KEYS = (
    "system/system_memory_usage_megabytes",
    "system/disk_available_megabytes",
    "system/process_rss_megabytes",
)


def test_keys_present_with_plausible_values() -> None:
    metrics = sample_system_metrics()
    for key in PERCENT_KEYS:
        assert 0.0 <= metrics[key] <= 100.0, key
    total_mb = psutil.virtual_memory().total / 2**20
    for key in MEGABYTE_KEYS:
        assert metrics[key] >= 0.0, key
    assert 1.0 < metrics["system/process_rss_megabytes"] < total_mb
    assert metrics["system/system_memory_usage_megabytes"] <= total_mb
    assert all(isinstance(v, float) for v in metrics.values())


def test_parse_nvidia_smi() -> None:
    out = "37, 1024\n0, 3\n[N/A], [N/A]\n"
    assert parse_nvidia_smi(out) == {
        "system/gpu_0_utilization_percentage": 37.0,
        "system/gpu_0_memory_usage_megabytes": 1024.0,
        "system/gpu_1_utilization_percentage": 0.0,
        "system/gpu_1_memory_usage_megabytes": 3.0,
    }
    assert parse_nvidia_smi("") == {}


def test_gpu_metrics_skip_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert system_metrics.gpu_metrics() == {}
    assert not any("gpu" in key for key in sample_system_metrics())


def test_gpu_metrics_from_fake_nvidia_smi(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho '12, 345'\necho '99, 40000'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    metrics = sample_system_metrics()
    assert metrics["system/gpu_0_utilization_percentage"] == 12.0
    assert metrics["system/gpu_1_memory_usage_megabytes"] == 40000.0


def test_failing_nvidia_smi_is_skipped(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert system_metrics.gpu_metrics() == {}


def test_sampler_delivers_increasing_steps_and_stops_promptly() -> None:
    samples: list[tuple[dict[str, float], int]] = []
    got_three = threading.Event()

    def sink(metrics: dict[str, float], step: int) -> None:
        samples.append((metrics, step))
        if len(samples) >= 3:
            got_three.set()

    sampler = SystemMetricsSampler(sink, interval_s=0.05).start()
    try:
        assert got_three.wait(5.0)
    finally:
        started = time.monotonic()
        sampler.stop()
        assert time.monotonic() - started < 1.0
    assert [step for _, step in samples[:3]] == [0, 1, 2]
    assert all("system/cpu_utilization_percentage" in m for m, _ in samples)
    count = len(samples)
    time.sleep(0.15)
    assert len(samples) == count  # nothing after stop


def test_stop_interrupts_long_interval() -> None:
    sampler = SystemMetricsSampler(lambda m, s: None, interval_s=60.0).start()
    started = time.monotonic()
    sampler.stop()
    assert time.monotonic() - started < 1.0


def test_sink_errors_do_not_kill_sampler() -> None:
    steps: list[int] = []
    done = threading.Event()

    def flaky(metrics: dict[str, float], step: int) -> None:
        steps.append(step)
        if step == 0:
            raise RuntimeError("upload failed")
        done.set()

    with SystemMetricsSampler(flaky, interval_s=0.02):
        assert done.wait(5.0)
    assert steps[:2] == [0, 1]


def test_invalid_interval() -> None:
    with pytest.raises(ValueError):
        SystemMetricsSampler(lambda m, s: None, interval_s=0)


def test_sampler_thread_is_daemon() -> None:
    sampler = SystemMetricsSampler(lambda m, s: None, interval_s=60.0).start()
    try:
        assert sampler._thread is not None and sampler._thread.daemon
    finally:
        sampler.stop()
