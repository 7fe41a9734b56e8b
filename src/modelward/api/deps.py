"""Annotated dependencies, so route signatures read as prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from modelward.domain.actors import LOCAL_USER, Actor
from modelward.services.backend import Backend


def get_backend(request: Request) -> Backend:
    return request.app.state.backend  # type: ignore[no-any-return]


def get_actor(request: Request) -> Actor:
    """Who is calling. Without authentication every caller is the local admin;
    the embedded SDK names its user in a header so runs say who made them."""
    name = request.headers.get("x-modelward-user") or LOCAL_USER
    return Actor(name=name[:256])


BackendDep = Annotated[Backend, Depends(get_backend)]
ActorDep = Annotated[Actor, Depends(get_actor)]
