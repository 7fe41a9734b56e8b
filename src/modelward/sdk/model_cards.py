"""``client.cards``: model cards of model versions."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelward.formats.cards import CardRevision, ModelCard
from modelward.sdk._http import HttpSession


def _base(name: str, version: int) -> str:
    return f"/api/v1/models/{quote(name, safe='')}/versions/{int(version)}/card"


class ModelCards:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def get(self, name: str, version: int) -> ModelCard:
        return ModelCard.model_validate(self._http.call("GET", _base(name, version)))

    def generate(self, name: str, version: int, *, comment: str | None = None) -> ModelCard:
        """Fill the card from the version, its run and lineage; human-written fields are kept."""
        data = self._http.call("POST", _base(name, version) + "/generate", json={"comment": comment})
        return ModelCard.model_validate(data)

    def update(
        self, name: str, version: int, *, card: ModelCard | dict[str, Any] | None = None,
        edits: dict[str, Any] | None = None, comment: str | None = None,
    ) -> ModelCard:
        """Replace the card and/or set fields: ``edits={"intended_use.primary_uses": "..."}``."""
        whole = card.model_dump(mode="json") if isinstance(card, ModelCard) else card
        body = {"card": whole, "edits": edits or {}, "comment": comment}
        return ModelCard.model_validate(self._http.call("PUT", _base(name, version), json=body))

    def render(self, name: str, version: int, *, format: str = "markdown") -> str | bytes:
        """The card as text (markdown, html, json), or the document's bytes for ``pdf``."""
        chunks = self._http.stream(_base(name, version) + "/rendered", params={"format": format})
        data = b"".join(chunks)
        return data if format == "pdf" else data.decode("utf-8")

    def revisions(self, name: str, version: int) -> list[CardRevision]:
        data = self._http.call("GET", _base(name, version) + "/revisions")
        return [CardRevision.model_validate(item) for item in data["revisions"]]

    def attach(
        self, name: str, version: int, *, kind: str, title: str, text: str, media_type: str = "text/markdown",
    ) -> ModelCard:
        """Attach usage guidelines (kind='usage_guidelines') or a performance report ('performance_report')."""
        body = {"kind": kind, "title": title, "text": text, "media_type": media_type}
        return ModelCard.model_validate(self._http.call("POST", _base(name, version) + "/attachments", json=body))

    def attachment_text(self, name: str, version: int, digest: str) -> str:
        chunks = self._http.stream(_base(name, version) + f"/attachments/{quote(digest, safe='')}")
        return b"".join(chunks).decode("utf-8")
