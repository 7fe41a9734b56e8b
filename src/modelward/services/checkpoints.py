"""Signed checkpoints of the audit chain's head, kept in the artifact store, outside the database.

A checkpoint is the (seq, hash) of the newest event, signed with the deployment's Ed25519
key and written as ``audit/checkpoints/<seq, 12 digits>.json``: a new object each time,
never overwritten, so an S3 bucket under object lock keeps every one. Each names the one
before it (number, seq and the SHA-256 of its bytes); ``audit/checkpoints/latest.json`` is a
copy of the newest, and ``audit/keys/<key id>.pem`` the public key, for outside verifiers.

Checkpoints are written after every commit holding one of ``ANCHORED_ACTIONS``
(``audit.record`` queues ``after_commit``), while the server runs every
``audit_anchor_interval_s`` if the head moved, and by ``modelward audit anchor``. A failed
write never fails the change that triggered it: it is logged, and verify then finds the
newest checkpoint older than the newest anchored change. Before signing, the event at the
previous checkpoint's seq must still carry that checkpoint's hash, so a rewritten table is
not signed over (the after-commit path checks it inside the transaction, see ``pending``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import threading
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from modelward.artifacts import ArtifactStore
from modelward.domain.audit import Anchor, AuditEvent, Checkpoint, CheckpointLink
from modelward.errors import InvalidInput, NotFound
from modelward.services.background import Periodic
from modelward.services.leases import LeasedPeriodic
from modelward.services.backend import Backend
from modelward.store import audit as store
from modelward.store.audit import Session
from modelward.store.backend import after_commit, after_commit_pending, backend_of

if TYPE_CHECKING:  # cryptography is imported where a key is read or made, not at the server's start
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

log = logging.getLogger("modelward.audit")

CHECKPOINT_DIR = "audit/checkpoints"
LATEST = f"{CHECKPOINT_DIR}/latest.json"
KEY_DIR = "audit/keys"
AFTER_COMMIT_KEY = "audit.checkpoint"
_OBJECT_RE = re.compile(r"(\d{12})\.json")

_write_lock = threading.Lock()  # one writer per process; across processes the names keep writers apart
_newest: weakref.WeakKeyDictionary[ArtifactStore, Checkpoint] = weakref.WeakKeyDictionary()
_published: weakref.WeakKeyDictionary[ArtifactStore, set[str]] = weakref.WeakKeyDictionary()
_keys: dict[Path, tuple[int, SigningKey]] = {}


# -- the key ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    key_id: str = field(compare=False)

    @classmethod
    def of(cls, private: Ed25519PrivateKey) -> SigningKey:
        from cryptography.hazmat.primitives import serialization

        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(private=private, key_id=hashlib.sha256(raw).hexdigest())

    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private.sign(data)).decode()

    def verifies(self, signature: str, data: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        public = self.private.public_key()
        try:
            public.verify(base64.b64decode(signature, validate=True), data)
        except (InvalidSignature, ValueError):
            return False
        return True


def load_key(path: Path, *, create: bool) -> SigningKey | None:
    """The key in the PEM file ``path``; with ``create``, a new one (mode 0600) if there is none."""
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        if not create:
            return None
        _create_key(path)
        stamp = path.stat().st_mtime_ns
    cached = _keys.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise InvalidInput(f"the audit signing key {path} is not an Ed25519 private key")
    key = SigningKey.of(private)
    _keys[path] = (stamp, key)
    return key


def _create_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    log.info("created the audit signing key %s: every modelward process must use this file", path)


# -- writing ------------------------------------------------------------------------------------


def object_name(seq: int) -> str:
    return f"{CHECKPOINT_DIR}/{seq:012d}.json"


def pending(session: Session, head: Anchor, *, anchored: bool) -> None:
    """Called by ``audit.record``: once this transaction commits, sign a checkpoint of ``head``.

    Queued for anchored actions; a later event of the same transaction moves the head it
    names. The predecessor check is done here, in the transaction (no SQL after commit):
    the hash now stored at the newest checkpoint this process knows of is passed along.
    """
    backend = backend_of(session)
    if backend is None or backend.audit_signing_key is None:
        return  # not a Backend.write transaction, or checkpoints are off
    if not anchored and not after_commit_pending(session, AFTER_COMMIT_KEY):
        return
    known = _known_newest(backend.artifacts)
    seen = (known.seq, store.hash_at(session, known.seq)) if known is not None else None

    def write_after_commit(backend: Backend) -> None:
        try:
            write(backend, head, seen=seen)
        except Exception:  # never fail the change that committed: verify shows the older checkpoint
            log.exception("could not write the audit checkpoint of seq %s", head.seq)

    after_commit(session, AFTER_COMMIT_KEY, write_after_commit)


def _known_newest(artifacts: ArtifactStore) -> Checkpoint | None:
    """The newest checkpoint this process wrote or read; read from the store the first time."""
    if artifacts not in _newest:
        try:
            latest = read_latest(artifacts)
        except Exception:  # noqa: BLE001  unreadable now: the write after commit tries again, and logs
            return None
        if latest is None:
            return None
        _newest[artifacts] = latest
    return _newest[artifacts]


def anchor_now(backend: Backend) -> Checkpoint | None:
    """Sign a checkpoint of the current head if it moved; the newest checkpoint (None: nothing to anchor)."""
    if backend.audit_signing_key is None:
        return None
    with backend.read() as session:
        newest = store.last(session)
        if newest is None:
            return None
        previous = read_latest(backend.artifacts)
        seen = (previous.seq, store.hash_at(session, previous.seq)) if previous is not None else None
    head = Anchor(seq=newest.seq, hash=newest.hash, at=newest.at)
    return write(backend, head, seen=seen)


def write(backend: Backend, head: Anchor, *, seen: tuple[int, str | None] | None = None) -> Checkpoint | None:
    """Sign and store a checkpoint of ``head``, unless one of it or of a newer head exists.

    ``seen``: (seq, hash the database holds there), read in a transaction; if it is the
    newest checkpoint's seq and the hash differs, the table was rewritten: refuse to sign.
    """
    if backend.audit_signing_key is None:
        return None
    key = load_key(backend.audit_signing_key, create=True)
    assert key is not None
    with _write_lock:
        previous, raw = _latest_with_bytes(backend.artifacts)
        if previous is not None and previous.seq >= head.seq:
            _newest[backend.artifacts] = previous
            return previous
        if previous is not None and seen is not None and seen[0] == previous.seq and seen[1] != previous.hash:
            log.error("refusing to sign seq %s: the event at seq %s no longer carries the hash %s signed",
                      head.seq, previous.seq, previous.label())
            return previous
        checkpoint = _signed(key, head, previous, raw)
        _publish_key(backend.artifacts, key)
        data = checkpoint.to_bytes()
        backend.artifacts.put_record(object_name(head.seq), data)
        backend.artifacts.put_record(LATEST, data)
        _newest[backend.artifacts] = checkpoint
    return checkpoint


def _signed(key: SigningKey, head: Anchor, previous: Checkpoint | None, raw: bytes | None) -> Checkpoint:
    link = None
    if previous is not None and raw is not None:
        link = CheckpointLink(number=previous.number, seq=previous.seq, digest=hashlib.sha256(raw).hexdigest())
    checkpoint = Checkpoint(
        number=previous.number + 1 if previous else 1, seq=head.seq, hash=head.hash, event_at=head.at,
        at=datetime.now(UTC), previous=link, key_id=key.key_id,
    )
    return checkpoint.model_copy(update={"signature": key.sign(checkpoint.signed_bytes())})


def _publish_key(artifacts: ArtifactStore, key: SigningKey) -> None:
    published = _published.setdefault(artifacts, set())
    if key.key_id in published:
        return
    name = f"{KEY_DIR}/{key.key_id}.pem"
    if not artifacts.record_exists(name):
        artifacts.put_record(name, key.public_pem())
    published.add(key.key_id)


# -- reading ------------------------------------------------------------------------------------


def parse(data: bytes) -> Checkpoint:
    try:
        return Checkpoint.model_validate_json(data)
    except ValidationError:
        raise InvalidInput("not a modelward audit checkpoint") from None


def _latest_with_bytes(artifacts: ArtifactStore) -> tuple[Checkpoint | None, bytes | None]:
    try:
        raw = artifacts.get_record(LATEST)
    except NotFound:
        return None, None
    return parse(raw), raw


def read_latest(artifacts: ArtifactStore) -> Checkpoint | None:
    return _latest_with_bytes(artifacts)[0]


def object_seqs(artifacts: ArtifactStore) -> list[int]:
    """The seqs of every stored checkpoint object, ascending (one listing)."""
    names = (name.rsplit("/", 1)[-1] for name in artifacts.list_records(CHECKPOINT_DIR))
    return sorted(int(match.group(1)) for name in names if (match := _OBJECT_RE.fullmatch(name)))


# -- verifying ----------------------------------------------------------------------------------


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class CheckpointCheck(Findings):
    """The newest checkpoint (and the one it names), checked in the store; then against the events."""

    checkpoint: Checkpoint | None = None
    previous: Checkpoint | None = None
    configured: bool = True

    def watched_seqs(self) -> set[int]:
        return {cp.seq for cp in (self.checkpoint, self.previous) if cp is not None}

    def against_chain(self, hashes: dict[int, str], last_seq: int, last_anchored: AuditEvent | None) -> Findings:
        """``hashes``: the stored hash at each watched seq; ``last_seq``: where the chain ends."""
        found = Findings()
        if not self.configured:
            return found
        for checkpoint in (self.checkpoint, self.previous):
            problem = _chain_problem(checkpoint, hashes, last_seq) if checkpoint is not None else None
            if problem is not None:
                found.problems.append(problem)
                break
        if last_anchored is None:
            return found
        what = f"seq {last_anchored.seq} ({last_anchored.action})"
        if self.checkpoint is None:
            found.problems.append(
                f"no signed checkpoint exists, although {what} was to be anchored: checkpoints were deleted, "
                "or none was written yet (run 'modelward audit anchor' once after upgrading)"
            )
        elif last_anchored.seq > self.checkpoint.seq:
            found.warnings.append(
                f"the newest checkpoint ({self.checkpoint.label()}, seq {self.checkpoint.seq}) is older than {what}: "
                "a checkpoint write failed; 'modelward audit anchor' writes one now"
            )
        return found


def _chain_problem(checkpoint: Checkpoint, hashes: dict[int, str], last_seq: int) -> str | None:
    stored = hashes.get(checkpoint.seq)
    if stored is None and last_seq < checkpoint.seq:
        return (f"rows were removed: the chain ends at seq {last_seq} but checkpoint {checkpoint.number} "
                f"names seq {checkpoint.seq} (signed at {checkpoint.label().split(' at ', 1)[1]})")
    if stored is None:
        return f"the event at seq {checkpoint.seq} named by {checkpoint.label()} is missing (rows deleted)"
    if stored != checkpoint.hash:
        return (f"the table was rewritten since {checkpoint.label()}: the event at seq {checkpoint.seq} carries "
                f"hash {stored[:12]}…, but the checkpoint signed {checkpoint.hash[:12]}…")
    return None


def check_newest_checkpoint(backend: Backend) -> CheckpointCheck:
    """Find the newest checkpoint, check the pointer, its signature, its key and its link back."""
    if backend.audit_signing_key is None:
        return CheckpointCheck(configured=False)
    check = CheckpointCheck()
    newest = _newest_object(backend.artifacts, check)
    if newest is None:
        return check
    check.checkpoint = newest[0]
    _check_signature(check, check.checkpoint, backend.audit_signing_key)
    check.previous = _check_link(check, check.checkpoint, backend.artifacts)
    return check


def _newest_object(artifacts: ArtifactStore, check: CheckpointCheck) -> tuple[Checkpoint, bytes] | None:
    try:
        pointer, raw = _latest_with_bytes(artifacts)
    except InvalidInput:
        pointer, raw = None, None
        check.problems.append(f"{LATEST} is not a checkpoint (overwritten outside modelward?)")
    seqs = object_seqs(artifacts)
    if pointer is None and not seqs:
        return None
    if pointer is not None and raw is not None:
        if pointer.seq not in seqs:
            check.problems.append(f"{pointer.label()} (seq {pointer.seq}), named by {LATEST}, is missing from "
                                  f"{CHECKPOINT_DIR}/: checkpoints were deleted")
        elif artifacts.get_record(object_name(pointer.seq)) != raw:
            check.problems.append(f"{pointer.label()} (seq {pointer.seq}) differs from its copy in {LATEST}: "
                                  "checkpoints were replaced")
        if not seqs or max(seqs) <= pointer.seq:
            return pointer, raw
        check.warnings.append(f"{LATEST} names seq {pointer.seq}, but a checkpoint of seq {max(seqs)} exists "
                              "(a write was interrupted, or the pointer was rolled back)")
    elif pointer is None and raw is None and not check.problems:
        # The objects are the evidence and the newest is checked below; a pointer not written yet
        # (a write in progress in another process) looks just like a deleted one.
        check.warnings.append(f"{LATEST} is missing, but {len(seqs)} checkpoint objects exist (a write in "
                              "progress, or the pointer was deleted): checked the newest object")
    raw = artifacts.get_record(object_name(max(seqs)))
    try:
        return parse(raw), raw
    except InvalidInput:
        check.problems.append(f"{object_name(max(seqs))} is not a checkpoint (overwritten outside modelward?)")
        return None


def _check_signature(check: CheckpointCheck, checkpoint: Checkpoint, key_path: Path) -> None:
    key = load_key(key_path, create=False)
    if key is None:
        check.problems.append(f"cannot check the signature of {checkpoint.label()}: the signing key file "
                              f"{key_path} does not exist (point MODELWARD_AUDIT_SIGNING_KEY at the key that signed it)")
    elif checkpoint.key_id != key.key_id:
        check.problems.append(f"{checkpoint.label()} is signed by key {checkpoint.key_id[:16]}…, not by the configured "
                              f"key {key.key_id[:16]}… ({key_path}): refusing it")
    elif not key.verifies(checkpoint.signature, checkpoint.signed_bytes()):
        check.problems.append(f"{checkpoint.label()} has an invalid signature: it was altered or forged")


def _check_link(check: CheckpointCheck, checkpoint: Checkpoint, artifacts: ArtifactStore) -> Checkpoint | None:
    link = checkpoint.previous
    if link is None:
        return None
    what = f"{checkpoint.label()} names checkpoint {link.number} (seq {link.seq}) before it, but that object"
    try:
        raw = artifacts.get_record(object_name(link.seq))
    except NotFound:
        check.problems.append(f"{what} is missing: checkpoints were deleted")
        return None
    if hashlib.sha256(raw).hexdigest() != link.digest:
        check.problems.append(f"{what} was altered")
        return None
    return parse(raw)


# -- periodic anchoring -------------------------------------------------------------------------


def Anchorer(backend: Backend, *, interval_s: float, leased: bool = True) -> LeasedPeriodic | Periodic:  # noqa: N802  (reads as the thing it starts)
    """``anchor_now`` at start (heals a missed write) and every ``interval_s``: in a server, only
    in the one process of several that holds the ``audit-anchor`` lease; an embedded client
    anchors without one, as it did before leases (a client killed holding it would otherwise
    keep the next one from healing a missed checkpoint for three intervals)."""
    if not leased:
        return Periodic("audit-anchor", lambda: anchor_now(backend), interval_s=interval_s)
    return LeasedPeriodic(backend, "audit-anchor", lambda: anchor_now(backend), interval_s=interval_s, at_start=True)
