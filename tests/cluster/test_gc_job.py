"""The leased garbage collection removes abandoned upload temp files only, never a blob."""

from __future__ import annotations

import os
import time
from pathlib import Path

from modelward.services.backend import Backend
from modelward.services.gc import collect_temp_files
from modelward.settings import Settings


def test_only_old_temp_files_go_and_blobs_stay(tmp_path: Path) -> None:
    backend = Backend.from_settings(Settings(home=tmp_path / "store"))
    try:
        digest = backend.artifacts.put_bytes(b"a blob nothing references").digest
        assert backend.artifacts.local_root is not None
        temp = backend.artifacts.local_root / "tmp"
        temp.mkdir(parents=True, exist_ok=True)
        abandoned, in_flight = temp / "abandoned.part", temp / "in-flight.part"
        abandoned.write_bytes(b"half an upload")
        in_flight.write_bytes(b"an upload under way")
        two_days_ago = time.time() - 2 * 86_400
        os.utime(abandoned, (two_days_ago, two_days_ago))
        assert collect_temp_files(backend, grace_seconds=86_400) == 1
        assert not abandoned.exists() and in_flight.exists()
        assert backend.artifacts.exists(digest)
    finally:
        backend.close()
