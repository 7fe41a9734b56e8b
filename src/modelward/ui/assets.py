"""Static files: our own CSS/JS, and plotly.js from the installed plotly package (no CDN)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from modelward.ui.rendering import STATIC


def plotly_folder() -> Path:
    """Found without importing plotly, which the server never runs."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise RuntimeError("the plotly package (which ships plotly.js for the UI's charts) is not installed")
    return Path(spec.origin).parent / "package_data"


def mount(app: FastAPI) -> None:
    app.mount("/ui/static/vendor", StaticFiles(directory=plotly_folder()), name="vendor")
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="static")
