"""Templates, static files and the bits every page needs."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from modelward.domain.access import Permission, permissions_of
from modelward.domain.actors import Actor
from modelward.formatting import duration, number

if TYPE_CHECKING:
    from jinja2 import Environment

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _json_script(data: Any) -> Markup:
    # Safe inside <script type="application/json">: no "</" can close the tag early.
    text = json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


_GLOBALS: dict[str, Any] = {}  # names the page modules give every template


def add_globals(**names: Any) -> None:
    _GLOBALS.update(names)
    if environment.cache_info().currsize:
        environment().globals.update(names)


@functools.cache
def environment() -> Environment:
    """The templates' environment, made at the first page: the server's start needs no jinja2."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    made = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    made.filters.update(when=_when, duration=duration, number=number, json_script=_json_script)
    made.globals.update(_GLOBALS)
    return made


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    actor: Actor | None = getattr(request.state, "actor", None)
    permissions = permissions_of(actor.roles) if actor else frozenset()
    html = environment().get_template(template).render(
        request=request,
        actor=actor,
        can={p.value: p in permissions for p in Permission},
        auth_enabled=request.app.state.settings.auth,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
