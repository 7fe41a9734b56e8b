"""Evaluate a code-bearing model (pyfunc, pickle) without running its code in the server.

Only when the model's policy says ``evaluation: {code_models: isolated}``. The model is
loaded by ``modelward.evaluation.worker`` in a separate ``python -I -B`` process that:

* runs in a throw-away working folder (a copy of the model; deleted afterwards);
* has a stripped environment (PATH, HOME/TMPDIR = its folder, LANG, one BLAS thread):
  no MODELWARD_*, AWS_*, database URLs or tokens;
* has no network: a new network namespace (``unshare(CLONE_NEWNET)``) with only a
  loopback interface, which is down;
* sees a read-only file system except its folder (a new mount namespace; every mount
  made read-only with ``mount_setattr``), and the server's store (database file, artifact
  root) hidden under empty mounts;
* is not the server's user: as root, setgid/setuid to ``SandboxLimits.user`` (``nobody``
  by default); otherwise a new user namespace maps it to an unprivileged id (its file
  access on the host is then still the server user's, which the read-only mounts and
  the hidden store contain); ``PR_SET_NO_NEW_PRIVS`` is set either way;
* has resource limits (``setrlimit``): CPU seconds, address space, file size, number of
  processes and open files, no core files; and every request has a wall-clock timeout
  after which the process group is killed.

If any of that cannot be established the worker does not start (fail closed) and
PolicyViolation says what is missing. The worker answers predict / predict_proba requests
with plain JSON; the server never unpickles anything it gets back, and checks every answer
(an array of the right length) before the gates see it. ``IsolatedModel`` is the proxy the
gates use: metrics, fairness and latency are computed by the server from the worker's
answers (latency then includes the round trip to the worker).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
import os
import pwd
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from modelward.errors import InvalidInput, PolicyViolation

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH, PR_SET_NO_NEW_PRIVS = 2, 38
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 0x1
INNER_ID = 65534  # the unprivileged id inside a user namespace (non-root servers)
SANDBOX_FAILED = 125
_STDERR_TAIL = 2000


@dataclass(frozen=True)
class SandboxLimits:
    user: str = "nobody"  # as root: the unprivileged user the worker runs as
    cpu_seconds: int = 300
    memory_bytes: int = 4 << 30  # address space
    file_bytes: int = 64 << 20  # largest file the worker may write
    processes: int = 64  # threads count too
    open_files: int = 256
    timeout_seconds: float = 120.0  # wall clock per request (load, predict)
    max_reply_bytes: int = 256 << 20


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


# -- the plan: everything computed in the server before fork, applied in the child ------------


@dataclass
class _Plan:
    root: bool
    uid: int
    gid: int
    work: str
    stage: str
    exposures: list[tuple[str, list[str]]]
    hide: list[str]
    limits: SandboxLimits
    libc: Any

    def enter(self) -> None:
        """preexec_fn: runs in the child between fork and exec; any failure ends it (fail closed)."""
        try:
            self._enter()
        except BaseException as exc:  # noqa: BLE001 -- reported on stderr, then the child ends
            os.write(2, f"modelward sandbox: {exc}\n".encode())
            os._exit(SANDBOX_FAILED)

    def _call(self, what: str, result: int) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what} failed: {os.strerror(errno)}")

    def _mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        enc = (lambda v: v.encode() if v is not None else None)
        self._call(f"mount {target}", self.libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                                                      enc(data)))

    def _enter(self) -> None:
        flags = CLONE_NEWNET | CLONE_NEWNS | (0 if self.root else CLONE_NEWUSER)
        if self.libc.unshare(flags) != 0:
            errno = ctypes.get_errno()
            need = ("CAP_SYS_ADMIN" if self.root else
                    "unprivileged user namespaces (sysctl user.max_user_namespaces > 0, "
                    "kernel.unprivileged_userns_clone=1, no AppArmor restriction)")
            raise OSError(errno, f"unshare(new network and mount namespaces) failed ({os.strerror(errno)}): needs {need}")
        if not self.root:
            self._map_ids()
        self._mount(None, "/", None, MS_REC | MS_PRIVATE)
        for directory, children in self.exposures:
            self._expose(directory, children)
        for path in self.hide:
            self._hide(path)
        attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
        self._call("mount_setattr(/, read-only, recursive) (Linux 5.12 or later)",
                   self.libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr),
                                     ctypes.sizeof(attr)))
        self._mount(self.work, self.work, None, MS_BIND)
        self._mount(None, self.work, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
        self._call("prctl(PR_SET_NO_NEW_PRIVS)", self.libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        self._limit()
        if self.root:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)
            if os.getuid() != self.uid or os.geteuid() != self.uid or os.getegid() != self.gid:
                raise OSError(0, "could not drop to the sandbox user")

    def _map_ids(self) -> None:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{INNER_ID} {self.uid} 1"),
                           ("gid_map", f"{INNER_ID} {self.gid} 1")):
            fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)

    def _expose(self, directory: str, children: list[str]) -> None:
        """Cover a directory the sandbox user cannot enter with an empty one, keeping only ``children``."""
        staged = []
        for i, child in enumerate(children):
            place = os.path.join(self.stage, f"{len(directory)}-{i}")
            self._mount(os.path.join(directory, child), place, None, MS_BIND | MS_REC)
            staged.append((child, place))
        self._mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
        for child, place in staged:
            target = os.path.join(directory, child)
            if os.path.isdir(place):
                os.mkdir(target, 0o755)
            else:
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
            self._mount(place, target, None, MS_BIND | MS_REC)
            self.libc.umount2(place.encode(), MNT_DETACH)

    def _hide(self, path: str) -> None:
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except FileNotFoundError:
            return  # already out of sight (under a covered directory)
        if is_dir:
            self._mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0000,size=4k")
        else:
            self._mount("/dev/null", path, None, MS_BIND)

    def _limit(self) -> None:
        import resource

        cpu = self.limits.cpu_seconds
        for kind, value in ((resource.RLIMIT_CPU, (cpu, cpu + 5)), (resource.RLIMIT_AS, self.limits.memory_bytes),
                            (resource.RLIMIT_FSIZE, self.limits.file_bytes), (resource.RLIMIT_NPROC, self.limits.processes),
                            (resource.RLIMIT_NOFILE, self.limits.open_files), (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(kind, value if isinstance(value, tuple) else (value, value))


def _libc() -> Any:
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        for function in ("unshare", "mount", "umount2", "prctl", "syscall"):
            getattr(libc, function)
    except (OSError, AttributeError) as exc:
        raise PolicyViolation(f"the isolated worker needs the C library's unshare/mount/prctl: {exc}") from None
    return libc


def _can_enter(info: os.stat_result, uid: int, gid: int) -> bool:
    mode = info.st_mode
    if info.st_uid == uid:
        return bool(mode & stat.S_IXUSR)
    if info.st_gid == gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def _exposures(needed: list[Path], uid: int, gid: int) -> list[tuple[str, list[str]]]:
    """Directories on the way to ``needed`` paths the sandbox user cannot enter, top-down, each
    with the children to keep (e.g. a Python installed under /root)."""
    found: dict[str, list[str]] = {}
    for path in needed:
        parts = path.parts
        for depth in range(1, len(parts) - 1):
            directory = Path(*parts[:depth])
            if not _can_enter(os.stat(directory), uid, gid):
                children = found.setdefault(str(directory), [])
                if parts[depth] not in children:
                    children.append(parts[depth])
    return sorted(found.items(), key=lambda item: len(Path(item[0]).parts))


def _needed_paths(work: Path) -> list[Path]:
    paths = [Path(sys.executable).resolve(), Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), work]
    paths += [Path(p).resolve() for p in _import_path()]
    return list(dict.fromkeys(paths))


def _import_path() -> list[str]:
    """The server's own import path (installed code), never the model folder or the cwd."""
    return [p for p in sys.path if p and os.path.isabs(p) and os.path.exists(p)]


def _environment(work: Path) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if os.environ.get("LD_LIBRARY_PATH"):  # an interpreter that needs it to start (not a secret)
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return env


def _plan(limits: SandboxLimits, work: Path, stage: Path, hide: list[Path]) -> _Plan:
    if not sys.platform.startswith("linux"):
        raise PolicyViolation("the isolated worker needs Linux (network, mount and user namespaces); "
                              f"this server runs on {sys.platform}, so code models cannot be evaluated here")
    root = os.geteuid() == 0
    if root:
        try:
            account = pwd.getpwnam(limits.user)
        except KeyError:
            raise PolicyViolation(f"the isolated worker's user '{limits.user}' does not exist on this server") from None
        uid, gid = account.pw_uid, account.pw_gid
        if uid == 0 or gid == 0:
            raise PolicyViolation(f"the isolated worker's user '{limits.user}' is root; name an unprivileged user")
        exposures = _exposures(_needed_paths(work), uid, gid)
    else:
        uid, gid, exposures = os.geteuid(), os.getegid(), []
    needed = _needed_paths(work)
    hidden = [str(p) for p in hide if p.exists() and not any(n == p or n.is_relative_to(p) for n in needed)]
    return _Plan(root=root, uid=uid, gid=gid, work=str(work), stage=str(stage), exposures=exposures,
                 hide=hidden, limits=limits, libc=_libc())


def _prepare_stage(stage: Path, exposures: list[tuple[str, list[str]]]) -> None:
    for directory, children in exposures:
        for i, child in enumerate(children):
            place = stage / f"{len(directory)}-{i}"
            if os.path.isdir(os.path.join(directory, child)):
                place.mkdir()
            else:
                place.touch()


# -- the worker process and its proxy -----------------------------------------------------------


class Worker:
    """One sandboxed worker process holding one model; use as a context manager."""

    def __init__(self, model_dir: str | Path, *, limits: SandboxLimits | None = None,
                 hide: list[Path] | None = None, label: str = "the model") -> None:
        self.limits = limits or SandboxLimits()
        self.label = label
        self._source = Path(model_dir)
        self._hide = [Path(p).resolve() for p in (hide or [])]
        self._process: subprocess.Popen[bytes] | None = None
        self._work: Path | None = None
        self._stage: Path | None = None
        self._stderr: Any = None
        self.info: dict[str, Any] = {}
        self.hello: dict[str, Any] = {}
        self.load_seconds = 0.0

    # lifecycle

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        self._work = Path(tempfile.mkdtemp(prefix="modelward-worker-")).resolve()
        self._stage = Path(tempfile.mkdtemp(prefix="modelward-stage-")).resolve()
        shutil.copytree(self._source, self._work / "model", symlinks=False)
        plan = _plan(self.limits, self._work, self._stage, self._hide)
        _prepare_stage(self._stage, plan.exposures)
        if plan.root:
            os.chown(self._work, plan.uid, plan.gid)
            self._work.chmod(0o700)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by close()
        # preexec_fn only makes system calls planned before the fork (no imports, no locks)
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-B", "-m", "modelward.evaluation.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd=self._work,
            env=_environment(self._work), preexec_fn=plan.enter,  # noqa: PLW1509
            start_new_session=True, close_fds=True, bufsize=0,
        )
        self._buffer = b""
        self.hello = self._request({"op": "hello"}, starting=True)
        self._verify(plan)
        started = time.perf_counter()
        self.info = self._request({"op": "load", "folder": str(self._work / "model"), "sys_path": _import_path()})
        self.load_seconds = time.perf_counter() - started

    def _verify(self, plan: _Plan) -> None:
        """Before any model code runs: the worker really is another user, without a network."""
        uid, interfaces = self.hello.get("uid"), self.hello.get("interfaces")
        expected = plan.uid if plan.root else INNER_ID
        if uid != expected or uid == 0 or (plan.root and uid == os.geteuid()):
            raise PolicyViolation(f"the isolated worker runs as uid {uid!r}, not the unprivileged {expected}: refused")
        if interfaces != ["lo"]:
            raise PolicyViolation(f"the isolated worker sees network interfaces {interfaces!r}: refused")

    def close(self) -> None:
        if self._process is not None:
            self._kill()
            self._process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        for folder in (self._work, self._stage):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self._work = self._stage = None

    def _kill(self) -> None:
        assert self._process is not None
        if self._process.poll() is None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)  # its own session: the worker and its children
            except ProcessLookupError:
                pass
        self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()

    @property
    def pid(self) -> int | None:
        """The worker process's id while it exists (None before start and after close)."""
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        """Is the worker process running (not stopped by a limit, a timeout or close)?"""
        return self._process is not None and self._process.poll() is None

    # requests

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - _STDERR_TAIL))
        return self._stderr.read().decode("utf-8", "replace").strip()

    def _request(self, message: dict[str, Any], *, starting: bool = False) -> dict[str, Any]:
        assert self._process is not None and self._process.stdin is not None
        deadline = time.monotonic() + self.limits.timeout_seconds
        try:
            self._send(json.dumps(message, allow_nan=True).encode() + b"\n", deadline)
            line = self._receive(deadline)
        except TimeoutError:
            self._kill()
            raise InvalidInput(f"{self.label} did not answer within {self.limits.timeout_seconds:g} s in the "
                               "isolated worker; the worker was stopped") from None
        except (BrokenPipeError, EOFError):
            self._process.wait()
            raise self._ended(starting) from None
        try:
            reply = json.loads(line)
        except ValueError:
            raise InvalidInput(f"{self.label}'s isolated worker sent an answer that is not JSON") from None
        if not isinstance(reply, dict):
            raise InvalidInput(f"{self.label}'s isolated worker sent an answer that is not an object")
        if "error" in reply:
            raise InvalidInput(f"{self.label} failed in the isolated worker: {str(reply['error'])[:_STDERR_TAIL]}")
        return reply

    def _ended(self, starting: bool) -> Exception:
        assert self._process is not None
        code, tail = self._process.returncode, self._stderr_tail()
        if code == SANDBOX_FAILED and starting:
            return PolicyViolation(f"the isolated worker could not be started, so code models cannot be evaluated "
                                   f"on this server: {tail.splitlines()[-1] if tail else 'no reason given'}")
        if starting:
            return PolicyViolation(f"the isolated worker could not be started (exit {code}): {tail[-500:]}")
        why = {-signal.SIGXCPU: "its CPU time limit", -signal.SIGKILL: "a limit (killed)",
               -signal.SIGXFSZ: "its file size limit"}.get(code or 0, f"exit {code}")
        return InvalidInput(f"{self.label} ended the isolated worker ({why}): {tail[-500:]}")

    def _send(self, data: bytes, deadline: float) -> None:
        assert self._process is not None and self._process.stdin is not None
        fd = self._process.stdin.fileno()
        os.set_blocking(fd, False)
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if _ready(fd, select.POLLOUT, remaining):
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    continue

    def _receive(self, deadline: float) -> bytes:
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            if len(self._buffer) > self.limits.max_reply_bytes:
                self._kill()
                raise InvalidInput(f"{self.label}'s answer is larger than {self.limits.max_reply_bytes} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if _ready(fd, select.POLLIN, remaining):
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise EOFError
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def call(self, op: str, frame: Any) -> Any:
        payload = {"columns": [str(c) for c in frame.columns], "data": json.loads(frame.to_json(orient="values")),
                   "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()}}
        reply = self._request({"op": op, "data": payload})
        return reply.get("value"), str(reply.get("type"))


def _ready(fd: int, event: int, timeout_s: float) -> bool:
    """Is ``fd`` ready for ``event`` within ``timeout_s``? poll, not select: a server with many
    connections open hands out descriptors above select's limit of 1024."""
    poller = select.poll()
    poller.register(fd, event | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(max(0, int(timeout_s * 1000) + 1)))


def _scalars(values: Any) -> bool:
    return all(v is None or isinstance(v, bool | int | float | str) for v in values)


def checked_predictions(value: Any, kind: str, rows: int, label: str) -> Any:
    """The worker's predict answer as a 1-D array of ``rows`` numbers or strings, or InvalidInput."""
    import numpy as np

    if not isinstance(value, list):
        raise InvalidInput(f"{label}'s predict returned a {kind}, not an array of predictions")
    if value and all(isinstance(v, list) and len(v) == 1 for v in value):
        value = [v[0] for v in value]  # one column
    if len(value) != rows or not _scalars(value):
        raise InvalidInput(f"{label}'s predict returned {len(value)} values for {rows} rows"
                           if len(value) != rows else f"{label}'s predict returned values that are not numbers or labels")
    return np.asarray(value)


def checked_probabilities(value: Any, kind: str, rows: int, label: str) -> Any:
    import numpy as np

    if not isinstance(value, list) or len(value) != rows:
        raise InvalidInput(f"{label}'s predict_proba returned a {kind} of the wrong shape, not {rows} rows of probabilities")
    width = len(value[0]) if value and isinstance(value[0], list) else 0
    ok = width > 0 and all(isinstance(r, list) and len(r) == width and all(
        isinstance(p, int | float) and not isinstance(p, bool) and math.isfinite(p) for p in r) for r in value)
    if not ok:
        raise InvalidInput(f"{label}'s predict_proba did not return {rows} rows of finite probabilities")
    return np.asarray(value, dtype=float)


class IsolatedModel:
    """The gates' view of a model living in a Worker: ``predict`` (and ``predict_proba`` on
    ``IsolatedProbabilisticModel``), its signature and requirements read from its files as data."""

    def __init__(self, worker: Worker, description: dict[str, Any]) -> None:
        self._worker = worker
        self.flavor = description["flavor"]
        self.signature = description["signature"]
        self.metadata = {"requirements": description["requirements"], "flavor": self.flavor, "isolated": True}
        classes = worker.info.get("classes")
        if isinstance(classes, list) and _scalars(classes):
            self.classes_ = classes
        self.clean_load = {
            "passed": bool(worker.info.get("has_predict")), "seconds": worker.load_seconds,
            "type": str(worker.info.get("type")), "has_predict": bool(worker.info.get("has_predict")),
            "has_signature": self.signature is not None, "isolated": True,
            "reason": ("the model loads in a fresh isolated worker process" if worker.info.get("has_predict")
                       else "the loaded object has no predict method"),
        }

    def predict(self, data: Any) -> Any:
        value, kind = self._worker.call("predict", data)
        return checked_predictions(value, kind, len(data), self._worker.label)


class IsolatedProbabilisticModel(IsolatedModel):
    def predict_proba(self, data: Any) -> Any:
        value, kind = self._worker.call("predict_proba", data)
        return checked_probabilities(value, kind, len(data), self._worker.label)


def isolated_model(worker: Worker, description: dict[str, Any]) -> IsolatedModel:
    cls = IsolatedProbabilisticModel if worker.info.get("has_proba") else IsolatedModel
    return cls(worker, description)


__all__ = ["IsolatedModel", "SandboxLimits", "Worker", "checked_predictions", "checked_probabilities", "isolated_model"]
