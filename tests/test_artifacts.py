"""Tests of the content-addressed artifact store and logical-path confinement.

Store-level tests run against a local root and a real moto S3 server (server mode).
"""

from __future__ import annotations

import hashlib
import io
import ntpath
import os
import posixpath
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelward.artifacts import CHUNK_SIZE, VERIFY_WHOLE_BYTES, ArtifactStore, BlobInfo, normalize_logical_path
from modelward.errors import IntegrityError, InvalidInput, NotFound

# --------------------------------------------------------------------------------------
# S3 (moto server mode). Kept here for now; can move to conftest.py as a shared fixture.
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server():
    """A moto S3 server on a free loopback port with one bucket: yields (endpoint_url, bucket)."""
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint_url = f"http://{host}:{port}"
            bucket = "modelward-test"
            boto3.client("s3", endpoint_url=endpoint_url).create_bucket(Bucket=bucket)
            yield endpoint_url, bucket
        finally:
            server.stop()


class Backend:
    """A store plus raw access to its root, to corrupt blobs and list leftovers."""

    def __init__(self, store: ArtifactStore, put_raw, list_raw) -> None:
        self.store, self.put_raw, self.list_raw = store, put_raw, list_raw

    def blob_key(self, digest: str) -> str:
        return f"blobs/{digest[:2]}/{digest[2:]}"


def _local_backend(tmp_path: Path) -> Backend:
    root = tmp_path / "store-root"  # does not exist yet: the store must create it

    def put_raw(key: str, data: bytes) -> None:
        (root / key).write_bytes(data)

    def list_raw() -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    return Backend(ArtifactStore(str(root)), put_raw, list_raw)


def _s3_backend(endpoint_url: str, bucket: str) -> Backend:
    import boto3

    prefix = f"root-{uuid.uuid4().hex}"
    client = boto3.client("s3", endpoint_url=endpoint_url)
    store = ArtifactStore(
        f"s3://{bucket}/{prefix}",
        storage_options={
            "client_kwargs": {"endpoint_url": endpoint_url},
            "key": "testing",
            "secret": "testing",
        },
    )

    def put_raw(key: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data)

    def list_raw() -> list[str]:
        listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
        return sorted(o["Key"][len(prefix) + 1 :] for o in listing.get("Contents", []))

    return Backend(store, put_raw, list_raw)


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path) -> Backend:
    if request.param == "local":
        return _local_backend(tmp_path)
    endpoint_url, bucket = request.getfixturevalue("s3_server")
    return _s3_backend(endpoint_url, bucket)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FailingReader(io.RawIOBase):
    """Serves `good_chunks` full chunks, then raises, like a dropped upload."""

    def __init__(self, good_chunks: int) -> None:
        self.left = good_chunks

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left == 0:
            raise ConnectionError("client went away")
        self.left -= 1
        return b"x" * CHUNK_SIZE


# --------------------------------------------------------------------------------------
# Store behaviour (both backends)
# --------------------------------------------------------------------------------------


def test_put_bytes_round_trip(backend):
    data = b"hello modelward"
    info = backend.store.put_bytes(data)
    assert info == BlobInfo(sha(data), len(data))
    assert backend.store.exists(info.digest)
    assert backend.store.size(info.digest) == len(data)
    assert backend.store.read_bytes(info.digest) == data
    assert b"".join(backend.store.iter_chunks(info.digest, chunk_size=4)) == data
    assert backend.list_raw() == [backend.blob_key(info.digest)]


def test_empty_blob(backend):
    info = backend.store.put_bytes(b"")
    assert info == BlobInfo(sha(b""), 0)
    assert backend.store.read_bytes(info.digest) == b""


def test_dedupe_same_bytes_stored_once(backend):
    first = backend.store.put_bytes(b"same")
    second = backend.store.put_stream(io.BytesIO(b"same"))
    assert first == second
    assert backend.list_raw() == [backend.blob_key(first.digest)]
    assert list(backend.store.iter_digests()) == [first.digest]


def test_put_file_streams_5mb(backend, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 123)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    info = backend.store.put_file(src)
    assert info == BlobInfo(sha(data), len(data))
    chunks = list(backend.store.iter_chunks(info.digest))
    assert len(chunks) == 6 and all(len(c) <= CHUNK_SIZE for c in chunks)
    assert b"".join(chunks) == data
    assert backend.list_raw() == [backend.blob_key(info.digest)]


def test_put_stream_reads_in_bounded_chunks(backend):
    sizes: list[int] = []

    class Spy(io.BytesIO):
        def read(self, size=-1):
            sizes.append(size)
            return super().read(size)

    data = os.urandom(3 * CHUNK_SIZE + 1)
    info = backend.store.put_stream(Spy(data))
    assert info.digest == sha(data)
    assert sizes and all(0 < s <= CHUNK_SIZE for s in sizes)


def test_copy_to(backend, tmp_path):
    data = os.urandom(CHUNK_SIZE + 7)
    info = backend.store.put_bytes(data)
    dest = tmp_path / "out" / "nested" / "model.bin"
    backend.store.copy_to(info.digest, dest)
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.bin"]
    backend.store.copy_to(info.digest, dest)  # overwriting an existing file is fine
    assert dest.read_bytes() == data


def test_iter_digests_and_delete(backend):
    digests = sorted(backend.store.put_bytes(f"blob {i}".encode()).digest for i in range(5))
    assert sorted(backend.store.iter_digests()) == digests
    backend.store.delete(digests[0])
    assert not backend.store.exists(digests[0])
    assert sorted(backend.store.iter_digests()) == digests[1:]
    with pytest.raises(NotFound, match=digests[0]):
        backend.store.read_bytes(digests[0])
    with pytest.raises(NotFound, match=digests[0]):
        backend.store.delete(digests[0])


def test_iter_digests_empty_store(backend):
    assert list(backend.store.iter_digests()) == []


def test_missing_blob_is_not_found(backend, tmp_path):
    digest = sha(b"never stored")
    assert not backend.store.exists(digest)
    for call in (
        lambda: backend.store.read_bytes(digest),
        lambda: backend.store.iter_chunks(digest),  # raised eagerly, before any streaming
        lambda: backend.store.size(digest),
        lambda: backend.store.copy_to(digest, tmp_path / "x"),
    ):
        with pytest.raises(NotFound, match=digest):
            call()
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "A" * 64, sha(b"x").upper(), sha(b"x")[:63], sha(b"x") + "0",
     "../" + sha(b"x")[3:], "g" * 64, sha(b"x")[:62] + "/x", None],
)
def test_bad_digest_is_invalid_input(backend, bad):
    for call in (
        backend.store.exists, backend.store.read_bytes, backend.store.iter_chunks,
        backend.store.size, backend.store.delete,
    ):
        with pytest.raises(InvalidInput):
            call(bad)


def test_corrupted_blob_raises_integrity_error(backend, tmp_path):
    data = os.urandom(2 * CHUNK_SIZE + 5)
    info = backend.store.put_bytes(data)
    backend.put_raw(backend.blob_key(info.digest), data[:-1] + b"!")

    with pytest.raises(IntegrityError, match=f"{info.digest} is corrupted"):
        backend.store.read_bytes(info.digest)
    with pytest.raises(IntegrityError, match=info.digest):
        list(backend.store.iter_chunks(info.digest))

    dest_dir = tmp_path / "download"
    dest_dir.mkdir()
    with pytest.raises(IntegrityError, match=info.digest):
        backend.store.copy_to(info.digest, dest_dir / "model.bin")
    assert list(dest_dir.iterdir()) == []  # no partial destination, no .part file


def test_a_small_corrupted_blob_fails_before_its_first_byte(backend):
    data = os.urandom(VERIFY_WHOLE_BYTES)
    info = backend.store.put_bytes(data)
    backend.put_raw(backend.blob_key(info.digest), b"!" + data[1:])
    with pytest.raises(IntegrityError, match=f"{info.digest} is corrupted"):
        backend.store.iter_chunks(info.digest)  # raised by the call itself: nothing was streamed


def test_a_large_corrupted_blob_never_yields_its_last_chunk(backend):
    data = os.urandom(VERIFY_WHOLE_BYTES + CHUNK_SIZE + 5)
    info = backend.store.put_bytes(data)
    backend.put_raw(backend.blob_key(info.digest), b"!" + data[1:])
    received = []
    with pytest.raises(IntegrityError, match=f"{info.digest} is corrupted"):
        for chunk in backend.store.iter_chunks(info.digest):
            received.append(chunk)
    assert 0 < sum(map(len, received)) < len(data)  # streamed, but held back the end


def test_a_large_intact_blob_streams_whole(backend):
    data = os.urandom(VERIFY_WHOLE_BYTES + CHUNK_SIZE + 5)
    info = backend.store.put_bytes(data)
    assert b"".join(backend.store.iter_chunks(info.digest, expected_size=len(data))) == data


def test_a_blob_of_another_size_than_recorded_fails_before_its_first_byte(backend):
    data = os.urandom(VERIFY_WHOLE_BYTES + CHUNK_SIZE)
    info = backend.store.put_bytes(data)
    backend.put_raw(backend.blob_key(info.digest), data + b"appended")
    with pytest.raises(IntegrityError, match=f"holds {len(data) + 8} bytes, {len(data)} were stored"):
        backend.store.iter_chunks(info.digest, expected_size=info.size)


def test_an_artifact_root_fsspec_cannot_open_is_invalid_input_naming_option_keys_only():
    with pytest.raises(InvalidInput, match=r"'nope://bucket/root' with artifact_storage_options \['secret'\]") as raised:
        ArtifactStore("nope://bucket/root", storage_options={"secret": "s3cret"})
    assert "s3cret" not in str(raised.value)


def test_corruption_does_not_clobber_existing_destination(backend, tmp_path):
    info = backend.store.put_bytes(b"good bytes")
    backend.put_raw(backend.blob_key(info.digest), b"evil bytes")
    dest = tmp_path / "download" / "model.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"previous download")
    with pytest.raises(IntegrityError):
        backend.store.copy_to(info.digest, dest)
    assert dest.read_bytes() == b"previous download"
    assert [p.name for p in dest.parent.iterdir()] == ["model.bin"]


def test_crash_mid_write_leaves_no_blob_and_no_temp(backend):
    with pytest.raises(ConnectionError):
        backend.store.put_stream(FailingReader(good_chunks=3))
    assert backend.list_raw() == []
    assert list(backend.store.iter_digests()) == []
    # the store still works afterwards
    info = backend.store.put_bytes(b"after the crash")
    assert backend.list_raw() == [backend.blob_key(info.digest)]


def test_no_temp_files_left_after_puts(backend, tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(b"file content")
    backend.store.put_bytes(b"a")
    backend.store.put_bytes(b"a")
    backend.store.put_file(src)
    backend.store.put_stream(io.BytesIO(b"file content"))
    assert all(key.startswith("blobs/") for key in backend.list_raw())
    assert len(backend.list_raw()) == 2


def test_memory_backend_smoke():
    store = ArtifactStore(f"memory://modelward-{uuid.uuid4().hex}")
    info = store.put_stream(io.BytesIO(b"in memory"))
    assert store.read_bytes(info.digest) == b"in memory"
    assert list(store.iter_digests()) == [info.digest]


def test_local_root_given_as_file_uri(tmp_path):
    store = ArtifactStore((tmp_path / "r").as_uri())
    info = store.put_bytes(b"x")
    assert (tmp_path / "r" / "blobs" / info.digest[:2] / info.digest[2:]).read_bytes() == b"x"


# --------------------------------------------------------------------------------------
# Logical path confinement
# --------------------------------------------------------------------------------------

BAD_PATHS = [
    "", "/", ".", "./", "//", "a/./..",
    # absolute, Windows drive, UNC
    "/etc/passwd", "//server/share/x", "%2fetc/passwd", "C:\\x", "c:/x", "C:x", "\\\\server\\share",
    "a/C:/x", "a/d:evil", "a/b:c",
    # parent segments, plain
    "..", "../x", "a/..", "a/../../x", "a/b/../c", ".. /x", "... /x", "\uff0e\uff0e/x",
    # backslashes
    "..\\x", "a\\..\\x", "a\\b", "%5c..%5cx",
    # encoded and double-encoded traversal
    "%2e%2e/x", "%2E%2E%2Fx", "%2e%2E/x", "..%2fx", "..%2Fx", "a/%2e%2e", "a/%2e%2e%5cx",
    "%252e%252e%252f", "a/%252e%252e/x", "%25%32%65%25%32%65/x", "a%252fb", "a%2500b",
    "%c0%ae%c0%ae/x",  # overlong UTF-8 dot: not valid UTF-8
    # NUL and control characters
    "a\x00b", "a%00b", "a\nb", "a/b\r", "a\tb", "\x7f", "a\x1b[31m",
    # home prefix
    "~", "~/x", "~root/.ssh/id_rsa", "%7e/x",
    # URI schemes
    "file:///etc/passwd", "file://x", "s3://bucket/key", "http://evil/x", "a/s3://b",
]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_bad_logical_paths_are_refused(bad):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_logical_path(bad)
    assert repr(bad) in str(excinfo.value)  # the message names the path


def test_non_string_logical_path_is_refused():
    with pytest.raises(InvalidInput):
        normalize_logical_path(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("model/model.skops", "model/model.skops"),
        ("plots/roc.png", "plots/roc.png"),
        ("a/./b//c/", "a/b/c"),
        ("./a", "a"),
        ("a/", "a"),
        ("plots/roc%20curve.png", "plots/roc curve.png"),
        ("a/100%25.txt", "a/100%.txt"),  # decoded once only: "%" stays a plain character
        ("a/%2541", "a/%41"),
        (".hidden/x", ".hidden/x"),
        ("...x", "...x"),
        ("a/~b", "a/~b"),
        ("plots/epoch:1.png", "plots/epoch:1.png"),
        ("café/ü.txt", "café/ü.txt"),
    ],
)
def test_good_logical_paths_normalize(raw, canonical):
    assert normalize_logical_path(raw) == canonical
    if "%" not in canonical:  # decode-once: a canonical form without '%' is a fixed point
        assert normalize_logical_path(canonical) == canonical


@given(st.text(alphabet=st.sampled_from(list("ab./\\:%25eEfFcC0~\x00 ")), max_size=24))
def test_accepted_logical_paths_stay_confined(raw):
    try:
        canonical = normalize_logical_path(raw)
    except InvalidInput:
        return
    for mod, root in ((posixpath, "/root"), (ntpath, "C:\\root")):
        joined = mod.normpath(mod.join(root, *canonical.split("/")))
        assert joined.startswith(root + mod.sep), (raw, canonical, joined)
