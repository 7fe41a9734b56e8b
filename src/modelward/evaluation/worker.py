"""The isolated worker: the only place a code-bearing model (pyfunc, pickle) is loaded for
the server. Started by ``modelward.evaluation.sandbox`` as ``python -I -B -m
modelward.evaluation.worker`` inside the sandbox (no network, read-only file system except
its working folder, another user, resource limits); it trusts the model, because nothing it
can reach is worth anything.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout. Only plain
data crosses: a table as pandas' "split" JSON going in, lists of numbers or strings coming
out. The model's own prints go to stderr, never into the protocol.

    {"op": "hello"}                                  -> {"uid": 65534, "interfaces": ["lo"], ...}
    {"op": "load", "folder": "model", "sys_path": [...]} -> {"has_predict": true, "classes": [0, 1], ...}
    {"op": "predict", "data": {...split JSON...}}    -> {"value": [0, 1, ...], "type": "ndarray"}
    {"op": "predict_proba", "data": {...}}           -> {"value": [[0.2, 0.8], ...], "type": "ndarray"}

Errors come back as ``{"error": "TypeError: ..."}``; the server decides what they mean.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sys
from typing import Any, BinaryIO

_state: dict[str, Any] = {}


def _plain(value: Any) -> Any:
    """A model output as JSON-able lists, or None when it is not array-like at all."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame | pd.Series | np.ndarray | list | tuple):
        array = np.asarray(value)
        if array.dtype == object:
            return [_scalar(v) for v in array.ravel().tolist()] if array.ndim == 1 else array.tolist()
        return array.tolist()
    return None


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def _frame(payload: dict[str, Any]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(payload["data"], columns=payload["columns"])
    for column, dtype in (payload.get("dtypes") or {}).items():
        try:
            frame[column] = frame[column].astype(dtype)
        except (TypeError, ValueError, KeyError):
            pass  # keep what JSON gave; the model's signature check decides
    return frame


def _hello(_: dict[str, Any]) -> dict[str, Any]:
    return {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "cwd": os.getcwd(),
            "interfaces": [name for _, name in socket.if_nameindex()]}


def _load(request: dict[str, Any]) -> dict[str, Any]:
    sys.path[:] = list(dict.fromkeys([*request.get("sys_path", []), *sys.path]))
    from modelward.formats.loader import load_folder

    model = load_folder(request["folder"], trust_pickle=True)  # trusted here: this process is the sandbox
    _state["model"] = model
    classes = getattr(model, "classes_", None)
    if classes is None:
        classes = getattr(getattr(model, "raw", None), "classes_", None)
    return {"type": type(model).__name__, "flavor": getattr(model, "flavor", None),
            "has_predict": hasattr(model, "predict"), "has_proba": hasattr(model, "predict_proba"),
            "has_signature": getattr(model, "signature", None) is not None,
            "classes": _plain(classes) if classes is not None else None}


def _predict(request: dict[str, Any]) -> dict[str, Any]:
    model = _state.get("model")
    if model is None:
        return {"error": "no model is loaded"}
    output = getattr(model, request["op"])(_frame(request["data"]))
    return {"value": _plain(output), "type": type(output).__name__}


HANDLERS = {"hello": _hello, "load": _load, "predict": _predict, "predict_proba": _predict}


def _answer(request: Any) -> dict[str, Any]:
    if not isinstance(request, dict) or request.get("op") not in HANDLERS:
        return {"error": "unknown request"}
    try:
        return HANDLERS[request["op"]](request)
    except BaseException as exc:  # whatever the model raises is reported, not fatal
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return {"error": f"{type(exc).__name__}: {exc}"}


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    for line in requests:
        reply = _answer(json.loads(line))
        replies.write(json.dumps(reply, default=str).encode("utf-8") + b"\n")
        replies.flush()


def main() -> None:
    replies = io.FileIO(os.dup(1), "wb")
    os.dup2(2, 1)  # the model's prints go to stderr, never into the protocol
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
