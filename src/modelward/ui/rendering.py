"""Templates, static files and the bits every page needs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from modelward.domain.access import Permission, permissions_of
from modelward.domain.actors import Actor
from modelward.formatting import duration, number

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _json_script(data: Any) -> Markup:
    # Safe inside <script type="application/json">: no "</" can close the tag early.
    text = json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(when=_when, duration=duration, number=number, json_script=_json_script)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    actor: Actor | None = getattr(request.state, "actor", None)
    permissions = permissions_of(actor.roles) if actor else frozenset()
    html = environment.get_template(template).render(
        request=request,
        actor=actor,
        can={p.value: p in permissions for p in Permission},
        auth_enabled=request.app.state.settings.auth,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
