import io
import sys
import threading
import time

import pytest

from modelward.sdk import output_capture
from modelward.sdk.output_capture import OutputCapture


class FakeStream(io.StringIO):
    """Stands in for the terminal so pass-through and attribute delegation are observable."""

    encoding = "fake-enc"

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 42


def install_fake_streams(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeStream]:
    # Called from the test body: pytest re-installs its own capture streams after fixture
    # setup, so replacing sys.stdout in a fixture would not stick.
    fakes = {"stdout": FakeStream(), "stderr": FakeStream()}
    monkeypatch.setattr(sys, "stdout", fakes["stdout"])
    monkeypatch.setattr(sys, "stderr", fakes["stderr"])
    return fakes


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, stream: str, text: str) -> None:
        self.calls.append((stream, text))

    def text(self, stream: str) -> str:
        return "".join(t for s, t in self.calls if s == stream)


def test_passes_through_and_delivers_both_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = install_fake_streams(monkeypatch)
    sink = Recorder()
    with OutputCapture(sink):
        print("hello")
        sys.stderr.write("warn: x\n")
        print("world", end="")
    assert streams["stdout"].getvalue() == "hello\nworld"
    assert streams["stderr"].getvalue() == "warn: x\n"
    assert sink.text("stdout") == "hello\nworld"
    assert sink.text("stderr") == "warn: x\n"


def test_delivery_order_across_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_streams(monkeypatch)
    monkeypatch.setattr(output_capture, "_EMIT_INTERVAL_S", 0.0)  # emit on every newline
    sink = Recorder()
    with OutputCapture(sink):
        print("one")
        print("two", file=sys.stderr)
        print("three")
    assert sink.calls == [("stdout", "one\n"), ("stderr", "two\n"), ("stdout", "three\n")]


def test_newline_emits_only_after_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_streams(monkeypatch)
    monkeypatch.setattr(output_capture, "_EMIT_INTERVAL_S", 0.2)
    sink = Recorder()
    capture = OutputCapture(sink).start()
    try:
        print("a")
        assert sink.calls == []
        time.sleep(0.25)
        print("b")
        assert sink.calls == [("stdout", "a\nb\n")]
        sys.stdout.write("partial")
        capture.flush_pending()
        assert sink.calls[-1] == ("stdout", "partial")
    finally:
        capture.stop()


def test_large_writes_are_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_streams(monkeypatch)
    sink = Recorder()
    capture = OutputCapture(sink, max_chunk_chars=10).start()
    try:
        sys.stdout.write("x" * 25)
        assert sink.calls == [("stdout", "x" * 10), ("stdout", "x" * 10)]
    finally:
        capture.stop()
    assert sink.calls[-1] == ("stdout", "x" * 5)
    assert all(len(text) <= 10 for _, text in sink.calls)


def test_attributes_delegate_to_original(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_streams(monkeypatch)
    with OutputCapture(Recorder()):
        assert sys.stdout.isatty() is True
        assert sys.stdout.fileno() == 42
        assert sys.stderr.encoding == "fake-enc"
        sys.stdout.flush()


def test_stop_restores_originals(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = install_fake_streams(monkeypatch)
    capture = OutputCapture(Recorder()).start()
    assert sys.stdout is not streams["stdout"]
    capture.stop()
    assert sys.stdout is streams["stdout"]
    assert sys.stderr is streams["stderr"]
    capture.stop()  # idempotent


def test_stop_leaves_later_replacement_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = install_fake_streams(monkeypatch)
    sink = Recorder()
    capture = OutputCapture(sink).start()
    ours = sys.stdout
    later = FakeStream()
    later.write = ours.write  # someone wraps us: their stream forwards to our tee
    sys.stdout = later
    capture.stop()
    assert sys.stdout is later
    sys.stdout.write("after stop\n")  # still reaches the terminal, no longer captured
    assert streams["stdout"].getvalue() == "after stop\n"
    assert sink.calls == []


def test_sink_that_prints_does_not_recurse(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = install_fake_streams(monkeypatch)
    calls: list[str] = []

    def noisy_sink(stream: str, text: str) -> None:
        calls.append(text)
        print(f"uploading {len(text)} chars")
        sys.stderr.write("sink stderr\n")

    with OutputCapture(noisy_sink, max_chunk_chars=5):
        sys.stdout.write("abcdefgh")
    assert calls == ["abcde", "fgh"]
    assert streams["stdout"].getvalue().count("uploading") == 2


def test_failing_sink_does_not_break_print(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = install_fake_streams(monkeypatch)
    def broken(stream: str, text: str) -> None:
        raise RuntimeError("upload failed")

    with OutputCapture(broken, max_chunk_chars=1):
        print("still visible")
    assert streams["stdout"].getvalue() == "still visible\n"


def test_concurrent_writers_lose_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = install_fake_streams(monkeypatch)
    sink = Recorder()
    n_threads, n_lines = 8, 500

    def worker(i: int) -> None:
        out = sys.stdout if i % 2 == 0 else sys.stderr
        for j in range(n_lines):
            out.write(f"t{i}-{j:04d}\n")

    with OutputCapture(sink, max_chunk_chars=37):
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    line_len = len("t0-0000\n")
    for name, parity in (("stdout", 0), ("stderr", 1)):
        captured = sink.text(name)
        assert len(captured) == n_threads // 2 * n_lines * line_len
        assert captured == streams[name].getvalue()
        lines = captured.splitlines()
        for i in range(parity, n_threads, 2):
            assert [ln for ln in lines if ln.startswith(f"t{i}-")] == [
                f"t{i}-{j:04d}" for j in range(n_lines)
            ]
