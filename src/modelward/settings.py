"""Settings: one class, read from arguments, ``MODELWARD_*`` variables and a TOML file.

Precedence, highest first: constructor arguments, environment variables, the config
file (``$MODELWARD_CONFIG`` or ``./modelward.toml``), defaults. Nothing is read at
import time: the CLI, the SDK and ``create_app`` each build a ``Settings()``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_HOME = ".modelward"


def _config_file() -> Path:
    return Path(os.environ.get("MODELWARD_CONFIG", "modelward.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELWARD_", extra="ignore")

    home: Path = Field(
        default=Path(DEFAULT_HOME),
        description="Project-local folder holding the embedded database and artifacts.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; default: SQLite file in `home`.",
    )
    database_pool_size: int = Field(
        default=10, ge=1,
        description=(
            "PostgreSQL: connections each process keeps open in its pool. A process opens at most "
            "`database_pool_size` + `database_max_overflow`; across a deployment that sum times the "
            "number of processes must fit the server's max_connections (see docs/deploy.md)."
        ),
    )
    database_max_overflow: int = Field(
        default=20, ge=0,
        description="PostgreSQL: connections a process may open beyond its pool under load, closed when idle.",
    )
    migrate_on_start: bool = Field(
        default=True,
        description=(
            "`modelward server` brings the schema up to date as it starts. In a deployment of several "
            "processes set it to false and run `modelward db upgrade` once before rolling out; a server "
            "on a schema that is behind then answers /ready with 503 until it ran."
        ),
    )
    artifact_root: str | None = Field(
        default=None,
        description="fsspec URI where artifact blobs live; default: `home`/artifacts.",
    )
    artifact_storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Options for the file system of `artifact_root`, passed to fsspec as they are (for s3://, "
            "s3fs's: `key`, `secret`, `token`, `profile`, `endpoint_url`, `client_kwargs`, ...); "
            "a `[artifact_storage_options]` table in modelward.toml, JSON in the environment."
        ),
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint of an S3-compatible store (MinIO, Ceph, ...) for an s3:// `artifact_root`.",
    )
    s3_region: str | None = Field(
        default=None,
        description="Region of the bucket of an s3:// `artifact_root`; default: AWS_REGION or the AWS config.",
    )
    max_artifact_bytes: int = Field(
        default=100 * 1024**3, ge=1,
        description=(
            "Largest artifact one upload may carry (native PUT and the MLflow artifact proxy); "
            "the body streams to the store, so this bounds storage, not memory. Other requests "
            "keep `max_request_bytes`."
        ),
    )
    artifact_direct_transfer: bool = Field(
        default=False,
        description=(
            "For an s3:// `artifact_root`: clients may move artifact bytes to and from the object store "
            "with presigned URLs (the server still picks every key and checks every digest; see "
            "docs/object-storage.md). Ignored for other roots."
        ),
    )
    artifact_presign_expiry_seconds: int = Field(
        default=900, ge=1, le=7 * 24 * 3600,
        description="How long a presigned upload or download URL of direct transfer stays valid.",
    )
    tracking_uri: str | None = Field(
        default=None,
        description="http(s) URL of a modelward server; unset means embedded (in-process).",
    )
    auth: bool = Field(
        default=False,
        description="Require API tokens on every request; needed to bind beyond loopback.",
    )
    max_request_bytes: int = Field(
        default=64 * 1024 * 1024, description="Largest request body the server accepts."
    )
    webhooks_enabled: bool = Field(
        default=True, description="Send webhook deliveries from a background thread while the server runs."
    )
    audit_signing_key: Path | None = Field(
        default=None,
        description=(
            "PEM file of the Ed25519 key that signs audit checkpoints; default: `home`/audit-signing-key.pem, "
            "created (mode 0600) on first use. Every process of a deployment must use the same file, "
            "kept where the database's administrators cannot write."
        ),
    )
    audit_anchor_interval_s: float = Field(
        default=300,
        description="While the server runs, sign a checkpoint of the audit chain's head this often if it moved; 0: never.",
    )
    run_heartbeat_timeout_s: float = Field(
        default=600,
        description=(
            "Mark a RUNNING run KILLED when its heartbeat (sent by the SDK every 30 s while a run is "
            "active) stopped this long ago; 0: never. Runs that never sent one are left alone."
        ),
    )
    gateway_refresh_s: float = Field(
        default=0.5, gt=0, le=60,
        description="How often a gateway process looks for deployment changes (a change made through the same "
                    "process is served at once).",
    )
    canary_check_interval_s: float = Field(
        default=5, ge=0,
        description="While the server runs, judge every canary under way by its guardrails this often; 0: never.",
    )
    alert_evaluation_interval_s: float = Field(
        default=60, ge=0,
        description="While the server runs, judge every deployed model's alert rules this often (one server process "
                    "of several does, holding a lease in the database); 0: only on demand.",
    )
    gc_interval_s: float = Field(
        default=3600, ge=0,
        description=(
            "While the server runs, remove the temp files of uploads that were abandoned (older than "
            "`gc_temp_grace_s`) this often, in the one server process holding the lease; 0: never. Blobs are "
            "never removed automatically: that is `modelward gc`."
        ),
    )
    gc_temp_grace_s: float = Field(
        default=86_400, ge=0,
        description="How old an upload's temp file must be before the periodic garbage collection removes it.",
    )
    prediction_log: bool = Field(default=True, description="Log every prediction the gateway serves (or a sample).")
    prediction_log_sample_rate: float = Field(
        default=1.0, ge=0, le=1, description="Share of requests the prediction log keeps, chosen by request id.")
    prediction_log_capacity: int = Field(
        default=10_000, ge=10,
        description="Records the prediction log queues before it drops (and counts) new ones instead of slowing requests.",
    )
    hash_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Key (16 bytes or more) of the keyed hashes (HMAC-SHA256) the prediction log keeps of the input "
            "columns a policy's `monitoring.log_protect` hashes; the SDK's `protect=` reads the same variable, so "
            "snapshots and logs hash alike. Without it, an endpoint whose policy hashes a column refuses to serve. "
            "Never logged or shown (a SecretStr)."
        ),
    )
    oidc_issuer: str | None = Field(
        default=None,
        description=(
            "Single sign-on: the OpenID Connect issuer URL (Keycloak realm, Entra ID tenant v2.0, Okta "
            "authorization server); with `auth`, the UI offers sign-in through it and the API accepts its "
            "access tokens (JWTs) besides API tokens. Discovery: `{issuer}/.well-known/openid-configuration`."
        ),
    )
    oidc_client_id: str | None = Field(default=None, description="The OAuth client id modelward is registered as.")
    oidc_client_secret: SecretStr | None = Field(
        default=None,
        description="The client's secret, sent to the token endpoint; it also keys the sign-in cookie. Never logged.",
    )
    oidc_audience: str | None = Field(
        default=None, description="The `aud` an API bearer JWT must carry; default: `oidc_client_id`.")
    oidc_scopes: str = Field(default="openid profile email groups", description="Scopes the UI sign-in asks for.")
    oidc_groups_claim: str = Field(
        default="groups",
        description="Claim holding the person's groups (a dotted path reaches into objects: `realm_access.roles`).",
    )
    oidc_username_claim: str = Field(
        default="preferred_username",
        description="Claim naming the person in modelward (and its audit trail); if absent: `email`, then `sub`.",
    )
    oidc_role_mapping: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            'Group -> modelward roles, e.g. `{"ml-reviewers": ["reviewer"], "risk": ["risk"]}` (JSON in the '
            "environment, a `[oidc_role_mapping]` table in modelward.toml); a person's roles are the union over "
            "their groups."
        ),
    )
    oidc_default_roles: list[str] = Field(
        default_factory=list,
        description="Roles of a person none of whose groups is mapped; default: none, so they are refused (403).",
    )
    oidc_session_hours: float = Field(
        default=8, gt=0, le=24 * 7, description="Lifetime of the UI session a single sign-on opens.")
    oidc_redirect_url: str | None = Field(
        default=None,
        description=(
            "The callback URL registered at the provider; default: this server's `/ui/sso/callback` as the "
            "browser reached it (set it behind a proxy that rewrites the host or scheme)."
        ),
    )
    oidc_provider_name: str | None = Field(
        default=None, description="Name on the sign-in button (\"Sign in with ...\"); default: the issuer's host.")
    oidc_allow_http_issuer: bool = Field(
        default=False,
        description="Accept an http:// issuer on loopback (tests, local identity providers); real issuers are https.",
    )

    @field_validator("oidc_role_mapping", "oidc_default_roles")
    @classmethod
    def _known_roles(cls, value: Any) -> Any:
        from modelward.domain.actors import Role

        known = {role.value for role in Role}
        named = [r for roles in value.values() for r in roles] if isinstance(value, dict) else list(value)
        unknown = sorted({r for r in named if r not in known})
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
        return value

    sandbox_user: str = Field(
        default="nobody",
        description=(
            "The unprivileged user an isolated evaluation worker runs as when the server runs as root "
            "(only for policies that enable `evaluation: {code_models: isolated}`)."
        ),
    )

    @model_validator(mode="after")
    def _https_issuer(self) -> Settings:
        if self.oidc_issuer is None:
            return self
        from urllib.parse import urlsplit

        parts = urlsplit(self.oidc_issuer)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme == "https" or (parts.scheme == "http" and loopback and self.oidc_allow_http_issuer):
            return self
        raise ValueError(
            f"oidc_issuer {self.oidc_issuer!r} must be an https:// URL (http:// only on loopback, "
            "with oidc_allow_http_issuer)"
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'modelward.db').resolve()}"

    @property
    def resolved_audit_signing_key(self) -> Path:
        return (self.audit_signing_key or self.home / "audit-signing-key.pem").resolve()

    @property
    def resolved_artifact_root(self) -> str:
        if self.artifact_root:
            return self.artifact_root
        return str((self.home / "artifacts").resolve())

    @property
    def resolved_artifact_storage_options(self) -> dict[str, Any]:
        """`artifact_storage_options`, with `s3_endpoint_url` and `s3_region` folded in for an
        s3:// root (they win over the same options given in the table)."""
        options = copy.deepcopy(self.artifact_storage_options)
        if not self.resolved_artifact_root.startswith(("s3://", "s3a://")):
            return options
        client_kwargs = dict(options.get("client_kwargs") or {})
        if self.s3_endpoint_url:
            options.pop("endpoint_url", None)  # s3fs refuses it twice (top level and client_kwargs)
            client_kwargs["endpoint_url"] = self.s3_endpoint_url
        if self.s3_region:
            client_kwargs["region_name"] = self.s3_region
        if client_kwargs:
            options["client_kwargs"] = client_kwargs
        return options
