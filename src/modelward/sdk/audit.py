"""``client.audit`` (read, verify and export the audit trail) and ``client.webhooks`` (admin)."""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelward.domain.audit import Anchor, AuditEvent, ChainReport, Checkpoint
from modelward.domain.webhooks import Delivery, NewWebhook, Webhook
from modelward.sdk._http import HttpSession


def _filters(**values: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        params[key] = value.isoformat() if isinstance(value, datetime) else value
    return params


class Audit:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def list(
        self,
        *,
        model: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[AuditEvent]:
        """Events matching every filter given; ``since`` inclusive, ``until`` exclusive."""
        params = _filters(model=model, actor=actor, action=action, since=since, until=until,
                          limit=limit, offset=offset, newest_first=str(newest_first).lower())
        data = self._http.call("GET", "/api/v1/audit", params=params)
        return [AuditEvent.model_validate(item) for item in data["events"]]

    def verify(self, anchor: Anchor | dict[str, Any] | None = None) -> ChainReport:
        """Recompute the chain on the server, check it against the newest signed checkpoint, and
        check each version's status and approvals against the events; ``report.problems()`` lists
        what failed. With an anchor exported earlier, the chain must also hold at that seq."""
        params: dict[str, Any] = {}
        if anchor is not None:
            pinned = Anchor.model_validate(anchor)
            params = {"anchor_seq": pinned.seq, "anchor_hash": pinned.hash}
        return ChainReport.model_validate(self._http.call("GET", "/api/v1/audit/verify", params=params))

    def anchor(self) -> Anchor | None:
        """The newest (seq, hash, at), to keep or sign outside the database."""
        data = self._http.call("GET", "/api/v1/audit/anchor")
        return Anchor.model_validate(data["anchor"]) if data["anchor"] else None

    def checkpoint(self) -> Checkpoint | None:
        """Have the server sign a checkpoint of the head now (if it moved); the newest checkpoint."""
        data = self._http.call("POST", "/api/v1/audit/checkpoints")
        return Checkpoint.model_validate(data["checkpoint"]) if data["checkpoint"] else None

    def export_bytes(
        self,
        format: str = "jsonl",
        *,
        model: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[bytes]:
        params = _filters(format=format, model=model, actor=actor, action=action, since=since, until=until)
        return self._http.stream("/api/v1/audit/export", params=params)

    def export(self, format: str = "jsonl", **filters: Any) -> Iterator[str]:
        """The export as text chunks (JSON Lines or CSV), streamed; join them for the whole file."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        for chunk in self.export_bytes(format, **filters):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def export_to(self, path: str | os.PathLike[str], format: str = "jsonl", **filters: Any) -> Path:
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        with open(partial, "wb") as out:
            out.writelines(self.export_bytes(format, **filters))
        partial.replace(target)
        return target


class Webhooks:
    def __init__(self, http: HttpSession) -> None:
        self._http = http

    def add(self, url: str, events: list[str], *, secret: str | None = None) -> NewWebhook:
        """Register ``url``; the answer carries the signing secret, the only time it is shown."""
        body = {"url": url, "events": list(events), "secret": secret}
        return NewWebhook.model_validate(self._http.call("POST", "/api/v1/webhooks", json=body))

    def list(self) -> list[Webhook]:
        data = self._http.call("GET", "/api/v1/webhooks")
        return [Webhook.model_validate(item) for item in data["webhooks"]]

    def remove(self, webhook_id: str) -> None:
        self._http.call("DELETE", f"/api/v1/webhooks/{quote(webhook_id, safe='')}")

    def deliveries(
        self, *, webhook_id: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Delivery]:
        params = _filters(webhook_id=webhook_id, status=status, limit=limit, offset=offset)
        data = self._http.call("GET", "/api/v1/webhooks/deliveries", params=params)
        return [Delivery.model_validate(item) for item in data["deliveries"]]
