"""An importable pyfunc model for the tests: a class with JSON state, and a plain function."""

from __future__ import annotations

from typing import Any


class Threshold:
    def __init__(self, cut: float) -> None:
        self.cut = cut

    def get_state(self) -> dict[str, Any]:
        return {"cut": self.cut}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Threshold:
        return cls(state["cut"])

    def predict(self, frame: Any) -> Any:
        return (frame["x"] > self.cut).astype(int).to_numpy()


def double(frame: Any) -> Any:
    return frame["x"].to_numpy() * 2
