"""``client.models``: the model registry over the REST API.

Local files are registered through a run: ``register(name, local_path=...)`` creates a
run in the ``_uploads`` experiment, uploads the files with the artifacts API, then
registers that run's files (source "upload"). The server never opens a client path.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from modelward.domain.registry import (
    AliasEvent,
    ModelPage,
    ModelVersion,
    RegisteredModel,
    VersionComparison,
    VersionFile,
    VersionPage,
    manifest_digest,
    validate_model_name,
)
from modelward.domain.tracking import ArtifactFile, RunStatus
from modelward.errors import IntegrityError, InvalidInput
from modelward.sdk._http import HttpSession

UPLOADS_EXPERIMENT = "_uploads"
UPLOAD_ARTIFACT_PATH = "model"
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/]+)|@(?P<alias>[^/]+))$")
_RUNS_URI = re.compile(r"^runs:/(?P<run_id>[^/]+)(?:/(?P<path>.*))?$")


def _q(value: str) -> str:
    return quote(value, safe="")


def _name(name: str) -> str:
    # Checked here too: a '/' in a name would change the URL path before the server sees it.
    return _q(validate_model_name(name))


def _reason(reason: str | None) -> dict[str, str] | None:
    return {"reason": reason} if reason else None


class Comparison(VersionComparison):
    """What ``compare`` returns; ``to_frame()`` gives one column per version."""

    def to_frame(self) -> Any:
        import pandas as pd

        columns = [str(v) for v in self.versions]
        rows: dict[str, dict[str, Any]] = {}
        for key, values in self.metrics.items():
            rows[f"metrics.{key}"] = values
        for key, values in self.params.items():
            rows[f"params.{key}"] = values
        for group in ("artifact_digest", "signature", "requirements", "card", "data_digests"):
            rows[group] = {v: getattr(self, group).get(v) for v in columns}
        return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


class Resolved(BaseModel):
    """What a URI names: a model version (models:/) or a run's files (runs:/)."""

    uri: str
    run_id: str | None = None
    artifact_path: str | None = None
    version: ModelVersion | None = None
    files: list[VersionFile]


class Models:
    def __init__(
        self, http: HttpSession, runs: Any = None, artifacts: Any = None, experiments: Any = None,
        flush: Any = None,
    ) -> None:
        self._http = http
        self._runs = runs
        self._artifacts = artifacts
        self._experiments = experiments
        self._flush = flush  # the client's metric queue: emptied before a registration reads the run

    # -- registered models -------------------------------------------------------------
    def create(
        self, name: str, *, description: str | None = None, tags: dict[str, str] | None = None
    ) -> RegisteredModel:
        body = {"name": name, "description": description, "tags": tags or {}}
        return RegisteredModel.model_validate(self._http.call("POST", "/api/v1/models", json=body))

    def get(self, name: str) -> RegisteredModel:
        return RegisteredModel.model_validate(self._http.call("GET", f"/api/v1/models/{_name(name)}"))

    def search(
        self, filter: str | None = None, *, max_results: int = 100, page_token: str | None = None
    ) -> ModelPage:
        body = {"filter": filter, "max_results": max_results, "page_token": page_token}
        return ModelPage.model_validate(self._http.call("POST", "/api/v1/models/search", json=body))

    def list(self, filter: str | None = None, *, max_results: int = 1000) -> list[RegisteredModel]:
        """Every matching model, following pages."""
        found, token = [], None
        while True:
            page = self.search(filter, max_results=max_results, page_token=token)
            found.extend(page.models)
            token = page.next_page_token
            if not token:
                return found

    def update(
        self, name: str, *, description: str | None = None, new_name: str | None = None,
        tags: dict[str, str] | None = None, reason: str | None = None,
    ) -> RegisteredModel:
        """Description, a new name (a governed model needs an approver and a ``reason``), tags."""
        data = self._http.call(
            "PATCH", f"/api/v1/models/{_name(name)}",
            json={"description": description, "name": new_name, "reason": reason},
        )
        if tags:
            data = self._http.call("PUT", f"/api/v1/models/{_q(new_name or name)}/tags", json={"tags": tags})
        return RegisteredModel.model_validate(data)

    def delete(self, name: str, *, reason: str | None = None) -> None:
        """The model and all its versions; the audit trail keeps what was deleted."""
        self._http.call("DELETE", f"/api/v1/models/{_name(name)}", params=_reason(reason))

    # -- versions ------------------------------------------------------------------------
    def register(
        self,
        name: str,
        *,
        run_id: str | None = None,
        artifact_path: str = "model",
        local_path: str | os.PathLike[str] | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        """A new version from a run's ``artifact_path`` files, or from a local file or folder."""
        if (run_id is None) == (local_path is None):
            raise InvalidInput("register needs exactly one of run_id= or local_path=")
        if local_path is not None:
            run_id, artifact_path = self._upload(name, Path(local_path)), UPLOAD_ARTIFACT_PATH
        if self._flush is not None:  # metrics still queued for the run belong in the version's snapshot
            self._flush()
        body = {"run_id": run_id, "artifact_path": artifact_path, "description": description, "tags": tags or {}}
        return ModelVersion.model_validate(
            self._http.call("POST", f"/api/v1/models/{_name(name)}/versions", json=body)
        )

    def _upload(self, name: str, source: Path) -> str:
        if not source.exists():
            raise InvalidInput(f"local_path '{source}' does not exist")
        experiment = self._experiments.get_or_create(UPLOADS_EXPERIMENT)
        run = self._runs.create(experiment.id, name=f"upload:{name}", tags={"modelward.upload_of": name})
        try:
            self._artifacts.upload(run.id, source, UPLOAD_ARTIFACT_PATH)
        except BaseException:
            self._runs.end(run.id, RunStatus.FAILED)
            raise
        self._runs.end(run.id, RunStatus.FINISHED)
        return str(run.id)

    def get_version(self, name: str, version: int | str) -> ModelVersion:
        data = self._http.call("GET", f"/api/v1/models/{_name(name)}/versions/{int(version)}")
        return ModelVersion.model_validate(data)

    def versions(self, name: str, *, filter: str | None = None, max_results: int = 1000) -> list[ModelVersion]:
        found, token = [], None
        while True:
            params: dict[str, Any] = {"max_results": max_results}
            if filter:
                params["filter"] = filter
            if token:
                params["page_token"] = token
            page = VersionPage.model_validate(
                self._http.call("GET", f"/api/v1/models/{_name(name)}/versions", params=params)
            )
            found.extend(page.versions)
            token = page.next_page_token
            if not token:
                return found

    def search_versions(
        self, filter: str | None = None, *, max_results: int = 100, page_token: str | None = None
    ) -> VersionPage:
        body = {"filter": filter, "max_results": max_results, "page_token": page_token}
        return VersionPage.model_validate(self._http.call("POST", "/api/v1/models/versions/search", json=body))

    def update_version(
        self, name: str, version: int, *, description: str | None = None, tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        """Description and tags. The status moves by ``archive`` or through governance."""
        url = f"/api/v1/models/{_name(name)}/versions/{int(version)}"
        data = self._http.call("PATCH", url, json={"description": description})
        if tags:
            data = self._http.call("PUT", f"{url}/tags", json={"tags": tags})
        return ModelVersion.model_validate(data)

    def archive(self, name: str, version: int, *, reason: str | None = None) -> ModelVersion:
        url = f"/api/v1/models/{_name(name)}/versions/{int(version)}/archive"
        return ModelVersion.model_validate(self._http.call("POST", url, params=_reason(reason)))

    def delete_version(self, name: str, version: int, *, reason: str | None = None) -> None:
        self._http.call("DELETE", f"/api/v1/models/{_name(name)}/versions/{int(version)}", params=_reason(reason))

    # -- aliases -------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int, *, reason: str | None = None) -> ModelVersion:
        data = self._http.call(
            "PUT", f"/api/v1/models/{_name(name)}/aliases/{_q(alias)}", json={"version": int(version), "reason": reason}
        )
        return ModelVersion.model_validate(data)

    def delete_tag(self, name: str, key: str, *, version: int | None = None) -> None:
        """Remove a tag of the model, or of one version."""
        where = f"/versions/{int(version)}" if version is not None else ""
        self._http.call("DELETE", f"/api/v1/models/{_name(name)}{where}/tags/{quote(key)}")

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        self._http.call("DELETE", f"/api/v1/models/{_name(name)}/aliases/{_q(alias)}", params=_reason(reason))

    def get_by_alias(self, name: str, alias: str, *, as_of: datetime | None = None) -> ModelVersion:
        params = {"as_of": as_of.isoformat()} if as_of else None
        data = self._http.call("GET", f"/api/v1/models/{_name(name)}/aliases/{_q(alias)}", params=params)
        return ModelVersion.model_validate(data)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        params = {"alias": alias} if alias else None
        data = self._http.call("GET", f"/api/v1/models/{_name(name)}/alias-history", params=params)
        return [AliasEvent.model_validate(item) for item in data["events"]]

    # -- uris, files, compare ------------------------------------------------------------
    def resolve(self, uri: str) -> Resolved:
        """``models:/NAME/VERSION``, ``models:/NAME/latest``, ``models:/NAME@ALIAS`` or ``runs:/RUN_ID/path``."""
        match = _MODELS_URI.match(uri)
        if match:
            version = self._version_for(match["name"], match["version"], match["alias"])
            return Resolved(uri=uri, run_id=version.source_run_id, version=version, files=version.files)
        match = _RUNS_URI.match(uri)
        if match:
            path = (match["path"] or "").strip("/")
            listed: list[ArtifactFile] = self._artifacts.list(match["run_id"], path)
            cut = len(path) + 1 if path else 0
            files = [VersionFile(path=f.path[cut:], digest=f.digest, size=f.size) for f in listed]
            return Resolved(uri=uri, run_id=match["run_id"], artifact_path=path, files=files)
        raise InvalidInput(
            f"cannot resolve {uri!r}: use models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/path"
        )

    def _version_for(self, name: str, version: str | None, alias: str | None) -> ModelVersion:
        if alias is not None:
            return self.get_by_alias(name, alias)
        if version == "latest":
            model = self.get(name)
            if model.latest_version is None:
                from modelward.errors import NotFound

                raise NotFound(f"model '{name}' has no versions")
            return self.get_version(name, model.latest_version)
        if version is None or not version.isdigit():
            raise InvalidInput(f"model version {version!r} is not a number, 'latest' or an @alias")
        return self.get_version(name, int(version))

    def download(self, name: str, version: int, dest: str | os.PathLike[str]) -> Path:
        """Every file of the version into ``dest``; each file and the manifest are verified.

        Raises IntegrityError when any byte differs from what was registered.
        """
        found = self.get_version(name, version)
        if manifest_digest(found.files) != found.artifact_digest:
            raise IntegrityError(
                f"version {version} of model '{name}': its file list does not match its artifact digest "
                f"{found.artifact_digest}; refusing to download a tampered version"
            )
        root = Path(dest)
        for item in found.files:
            self._download_file(name, version, item, root)
        return root

    def _download_file(self, name: str, version: int, item: VersionFile, root: Path) -> None:
        target = (root / item.path).resolve()
        if not target.is_relative_to(root.resolve()):
            raise IntegrityError(f"file path {item.path!r} would leave the destination folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        hasher = hashlib.sha256()
        url = f"/api/v1/models/{_name(name)}/versions/{int(version)}/files/{quote(item.path)}"
        try:
            with open(partial, "wb") as out:
                for chunk in self._http.stream(url):
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.hexdigest() != item.digest:
                raise IntegrityError(
                    f"file '{item.path}' of model '{name}' version {version} is corrupted: its bytes hash to "
                    f"{hasher.hexdigest()}, registered digest is {item.digest}"
                )
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)

    def compare(self, name: str, versions: Sequence[int]) -> Comparison:
        data = self._http.call("POST", f"/api/v1/models/{_name(name)}/compare", json={"versions": [int(v) for v in versions]})
        return Comparison.model_validate(data)
