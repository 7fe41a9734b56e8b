"""Pyfunc models for the sandbox tests: each tries one thing and answers what happened, per row.

They are code-bearing (pyfunc by reference): the server runs them only in the isolated worker.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import numpy as np


class Probe:
    def __init__(self, action: str, target: Any = None) -> None:
        self.action, self.target = action, target

    def get_state(self) -> dict[str, Any]:
        return {"action": self.action, "target": self.target}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Probe:
        return cls(state["action"], state["target"])

    def predict(self, frame: Any) -> Any:
        return np.full(len(frame), getattr(self, "_" + self.action)())

    def _uid(self) -> int:
        return os.getuid()

    def _connect(self) -> int:
        try:
            with socket.create_connection(("127.0.0.1", int(self.target)), timeout=2):
                return 1
        except OSError:
            return 0

    def _write(self) -> int:
        try:
            with open(self.target, "w") as out:
                out.write("escaped")
            return 1
        except OSError:
            return 0

    def _read(self) -> int:
        try:
            with open(self.target, "rb") as source:
                return len(source.read())
        except OSError:
            return -1

    def _env(self) -> int:
        return sum(1 for name in os.environ if name.startswith(("MODELWARD_", "AWS_")) or name == self.target)

    def _spin(self) -> int:
        while True:
            pass


class ReturnsDict:
    def predict(self, frame: Any) -> Any:
        return {"label": 1}


class ReturnsNone:
    def predict(self, frame: Any) -> Any:
        return None


class WrongLength:
    def predict(self, frame: Any) -> Any:
        return np.zeros(len(frame) + 1)
