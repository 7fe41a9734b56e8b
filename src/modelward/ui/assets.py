"""Static files: our own CSS/JS, and plotly.js from the installed plotly package (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from modelward.ui.rendering import STATIC


def plotly_folder() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data"


def mount(app: FastAPI) -> None:
    app.mount("/ui/static/vendor", StaticFiles(directory=plotly_folder()), name="vendor")
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="static")
