"""Single sign-on through an OpenID Connect identity provider (Keycloak, Entra ID, Okta, ...).

With ``auth`` and ``oidc_issuer`` set, people come in two ways:

* the API: ``Authorization: Bearer <JWT>`` (or basic auth with the JWT as password), an access
  token the provider issued for ``oidc_audience``, verified against the provider's published
  keys (its JWKS). API tokens (``mw_...``, no dots) keep working beside it, for machines;
* the web UI: the authorization-code flow with PKCE (S256). The flow's state, nonce and PKCE
  verifier travel in a short-lived signed cookie; the callback exchanges the code, verifies the
  id_token and its nonce, and opens a session: a modelward API token named ``ui-session`` that
  expires after ``oidc_session_hours`` and is revoked at sign-out.

The person is the token's ``oidc_username_claim`` and their roles are the union of the roles
``oidc_role_mapping`` gives their groups (``oidc_default_roles`` if none is mapped: none by
default, so an unmapped person is refused). The provider is the source of truth: the stored
user of that name is created or updated to those roles as the person comes in (so reviewers
from the provider appear in governance like stored users), stored roles add nothing, and
disabling the stored user locks the person out whatever the provider says.

``jwt`` (pyjwt) and ``httpx`` load at first use: a server without single sign-on never does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from modelward.domain.actors import Actor, Role
from modelward.domain.auth import User
from modelward.domain.names import new_id
from modelward.errors import AlreadyExists, NotFound, PermissionDenied, ServiceUnavailable, Unauthenticated
from modelward.services import audit
from modelward.services.access import MAX_NAME_CHARS, token_digest
from modelward.services.backend import Backend
from modelward.settings import Settings
from modelward.store import auth as store

# Never "none" nor HS*: a symmetric algorithm would take the provider's public key as the secret.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
CLOCK_LEEWAY_S = 60
KEY_REFETCH_INTERVAL_S = 30  # an unknown ``kid`` refetches the JWKS at most this often
DISCOVERY_RETRY_S = 5  # after a failed discovery, requests fail fast this long
HTTP_TIMEOUT_S = 10
FLOW_LIFETIME_S = 600
FLOW_AUDIENCE = "modelward-sso-flow"
SESSION_TOKEN_NAME = "ui-session"
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def enabled(settings: Settings) -> bool:
    return bool(settings.auth and settings.oidc_issuer and settings.oidc_client_id)


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts (the last empty for alg "none"); our API tokens hold no dot."""
    return _JWT_SHAPE.fullmatch(token) is not None


def provider_name(settings: Settings) -> str | None:
    """The name on the sign-in button, or None without single sign-on."""
    if not enabled(settings):
        return None
    return settings.oidc_provider_name or urlsplit(settings.oidc_issuer or "").hostname or "single sign-on"


# --- the provider: discovery document and signing keys, fetched at first use and cached ---


def _get_json(url: str, what: str) -> dict[str, Any]:
    import httpx

    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT_S, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"the identity provider's {what} at {url} is unreachable: {exc}") from None
    if response.status_code != 200:
        raise ServiceUnavailable(f"the identity provider's {what} at {url} answered {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        raise ServiceUnavailable(f"the identity provider's {what} at {url} is not JSON") from None
    if not isinstance(document, dict):
        raise ServiceUnavailable(f"the identity provider's {what} at {url} is not a JSON object")
    return document


class Provider:
    """One issuer's metadata and keys. The JWKS is refetched when a token names a key it lacks
    (the provider rotated), at most every KEY_REFETCH_INTERVAL_S, so junk ``kid`` values
    cannot turn requests into a flood against the provider."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._lock = threading.RLock()
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, Any] = {}  # kid -> jwt.PyJWK
        self._keys_fetched_at = float("-inf")
        self._failure: str | None = None
        self._failed_at = float("-inf")

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                # While the provider is down, answer at once instead of every request waiting on it.
                if self._failure is not None and time.monotonic() - self._failed_at < DISCOVERY_RETRY_S:
                    raise ServiceUnavailable(self._failure)
                try:
                    self._metadata = self._discover()
                except ServiceUnavailable as exc:
                    self._failure, self._failed_at = str(exc), time.monotonic()
                    raise
            return self._metadata

    def _discover(self) -> dict[str, Any]:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = _get_json(url, "discovery document")
        published = str(document.get("issuer", ""))
        if published.rstrip("/") != self.issuer.rstrip("/"):
            raise ServiceUnavailable(
                f"the discovery document at {url} names the issuer '{published}', not '{self.issuer}': "
                "set oidc_issuer to the issuer exactly"
            )
        missing = [f for f in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not document.get(f)]
        if missing:
            raise ServiceUnavailable(f"the discovery document at {url} lacks {', '.join(missing)}")
        return document

    @property
    def expected_issuer(self) -> str:
        return str(self.metadata()["issuer"])

    def algorithms(self) -> list[str]:
        listed = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        return sorted(ASYMMETRIC_ALGORITHMS.intersection(listed))

    def signing_key(self, kid: str | None) -> Any:
        with self._lock:
            key = self._pick(kid)
            if key is None and time.monotonic() - self._keys_fetched_at >= KEY_REFETCH_INTERVAL_S:
                self._keys_fetched_at = time.monotonic()  # a failed fetch counts too: no hammering
                self._keys = self._fetch_keys()
                key = self._pick(kid)
        if key is None and not self._keys:
            raise ServiceUnavailable("the identity provider's key set (JWKS) could not be fetched or holds no "
                                     f"usable signing key; retried after {KEY_REFETCH_INTERVAL_S} s")
        if key is None:
            raise Unauthenticated(
                f"the token's signing key {kid!r} is not among the identity provider's published keys"
            )
        return key

    def _pick(self, kid: str | None) -> Any:
        if kid is not None:
            return self._keys.get(kid)
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    def _fetch_keys(self) -> dict[str, Any]:
        import jwt

        document = _get_json(str(self.metadata()["jwks_uri"]), "key set (JWKS)")
        keys: dict[str, Any] = {}
        for data in document.get("keys") or []:
            if not isinstance(data, dict) or data.get("use", "sig") != "sig":
                continue
            try:
                keys[str(data.get("kid", ""))] = jwt.PyJWK(data)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a key type this library cannot use: tokens signed with it are refused
        return keys


_providers: dict[str, Provider] = {}
_providers_lock = threading.Lock()


def provider(settings: Settings) -> Provider:
    issuer = settings.oidc_issuer or ""
    with _providers_lock:
        if issuer not in _providers:
            _providers[issuer] = Provider(issuer)
        return _providers[issuer]


# --- verifying a token the provider signed ---


def _unverified_claims(token: str) -> dict[str, Any]:
    import jwt

    try:
        return dict(jwt.decode(token, options={"verify_signature": False}))
    except jwt.InvalidTokenError:
        return {}


def _moment(value: Any) -> str:
    try:
        return datetime.fromtimestamp(float(value), UTC).isoformat()
    except (TypeError, ValueError, OverflowError):
        return str(value)


def verify_jwt(found: Provider, token: str, *, audience: str, what: str, nonce: str | None = None) -> dict[str, Any]:
    """The claims of ``token`` once its signature, issuer, audience and times check out."""
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"malformed {what}: {exc}") from None
    algorithm = header.get("alg")
    allowed = found.algorithms()
    if algorithm not in allowed:
        raise Unauthenticated(
            f"the {what} is signed with alg {algorithm!r}, which is refused: only the identity provider's "
            f"asymmetric algorithms ({', '.join(allowed) or 'none listed'}) are accepted"
        )
    key = found.signing_key(header.get("kid"))
    declared = key._jwk_data.get("alg")
    if declared and declared != algorithm:
        raise Unauthenticated(f"the {what} says alg {algorithm!r}, but its key '{key.key_id}' is for {declared!r}")
    try:
        claims = jwt.decode(
            token, key.key, algorithms=[algorithm], audience=audience, issuer=found.expected_issuer,
            leeway=CLOCK_LEEWAY_S, options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        expired = _moment(_unverified_claims(token).get("exp"))
        raise Unauthenticated(f"the {what} expired at {expired}: get a new one from the identity provider") from None
    except jwt.ImmatureSignatureError:
        raise Unauthenticated(f"the {what} is not valid yet (its nbf or iat lies in the future)") from None
    except jwt.InvalidAudienceError:
        got = _unverified_claims(token).get("aud")
        raise Unauthenticated(f"the {what} is for the audience {got!r}, not '{audience}'") from None
    except jwt.InvalidIssuerError:
        got = _unverified_claims(token).get("iss")
        raise Unauthenticated(f"the {what} was issued by {got!r}, not by '{found.expected_issuer}'") from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated(
            f"the {what}'s signature does not verify against the identity provider's key {key.key_id!r}"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated(f"the {what} lacks the '{exc.claim}' claim") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"invalid {what}: {exc}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp", audience) != audience:
        raise Unauthenticated(f"the {what} was issued to {claims.get('azp')!r} (azp), not to '{audience}'")
    if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise Unauthenticated(
            f"the {what}'s nonce does not match this sign-in's: a replayed or foreign response; "
            "start again from the sign-in page"
        )
    return dict(claims)


# --- who the token names, and with which roles ---


@dataclass(frozen=True)
class Identity:
    username: str
    subject: str
    issuer: str
    groups: tuple[str, ...]
    roles: frozenset[Role]


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _groups(claims: dict[str, Any], path: str) -> tuple[str, ...]:
    value = _claim(claims, path)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(group) for group in value)
    return ()


def _username(settings: Settings, claims: dict[str, Any]) -> str:
    for claim in (settings.oidc_username_claim, "email", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            name = value.strip()
            if "/" in name or len(name) > MAX_NAME_CHARS:
                raise Unauthenticated(
                    f"the token's '{claim}' claim {name[:80]!r} cannot name a modelward user (no '/', at most "
                    f"{MAX_NAME_CHARS} characters): set oidc_username_claim to another claim"
                )
            return name
    raise Unauthenticated(
        f"the token names no one: it lacks the '{settings.oidc_username_claim}', 'email' and 'sub' claims"
    )


def roles_for(settings: Settings, username: str, groups: tuple[str, ...]) -> frozenset[Role]:
    mapped = {Role(role) for group in groups for role in settings.oidc_role_mapping.get(group, [])}
    roles = frozenset(mapped or {Role(role) for role in settings.oidc_default_roles})
    if not roles:
        held = ", ".join(repr(g) for g in groups) if groups else f"none in the '{settings.oidc_groups_claim}' claim"
        example = groups[0] if groups else "GROUP"
        raise PermissionDenied(
            f"user '{username}' signed in through the identity provider, but none of their groups ({held}) is "
            f'mapped to a modelward role: add one to oidc_role_mapping, e.g. {{"{example}": ["viewer"]}}'
        )
    return roles


def identity_of(settings: Settings, claims: dict[str, Any]) -> Identity:
    username = _username(settings, claims)
    groups = _groups(claims, settings.oidc_groups_claim)
    return Identity(username=username, subject=str(claims["sub"]), issuer=str(claims["iss"]), groups=groups,
                    roles=roles_for(settings, username, groups))


def _disabled(name: str) -> PermissionDenied:
    return PermissionDenied(f"user '{name}' is disabled in modelward, whatever the identity provider says")


def admit(backend: Backend, identity: Identity) -> Actor:
    """The actor for ``identity``; its stored user created or brought to the provider's roles."""
    with backend.read() as session:
        user = _stored_user(session, identity.username)
    if user is not None and user.disabled:
        raise _disabled(user.name)
    if user is None or user.roles != identity.roles:
        try:
            _store_user(backend, identity)
        except AlreadyExists:  # created by a concurrent request of the same person
            _store_user(backend, identity)
    return Actor(name=identity.username, roles=identity.roles)


def _stored_user(session: Any, name: str) -> User | None:
    try:
        return store.get_user(session, name)
    except NotFound:
        return None


def _store_user(backend: Backend, identity: Identity) -> None:
    actor = Actor(name=identity.username, roles=identity.roles)
    with backend.write() as session:
        user = _stored_user(session, identity.username)
        if user is not None and user.disabled:
            raise _disabled(user.name)
        if user is not None and user.roles == identity.roles:
            return
        if user is None:
            store.create_user(session, identity.username, identity.roles)
        else:
            store.set_roles(session, identity.username, identity.roles)
        audit.record(
            session, actor, "user.created" if user is None else "user.roles_changed", subject_type="user",
            subject_id=identity.username,
            details={"from": user.roles if user else None, "roles": identity.roles, "via": "oidc",
                     "issuer": identity.issuer, "subject": identity.subject, "groups": list(identity.groups)},
        )


def authenticate_bearer(backend: Backend, settings: Settings, token: str, *, claimed: str | None = None) -> Actor:
    """An API request's caller from an access token the identity provider issued."""
    found = provider(settings)
    audience = settings.oidc_audience or settings.oidc_client_id or ""
    identity = identity_of(settings, verify_jwt(found, token, audience=audience, what="access token"))
    if claimed is not None and claimed != identity.username:
        raise Unauthenticated("the user name does not match the token's user")
    return admit(backend, identity)


# --- the UI's sign-in: authorization code with PKCE, then a modelward session ---


def _flow_key(settings: Settings) -> bytes:
    """The flow cookie's HMAC key: from the client secret, so every server process of a
    deployment accepts the cookie another one set; a public client (no secret) gets a key per
    process, so its sign-in must come back to the process that began it."""
    if settings.oidc_client_secret is not None:
        secret = settings.oidc_client_secret.get_secret_value().encode()
        return hmac.new(secret, b"modelward sign-in flow", hashlib.sha256).digest()
    return _PROCESS_FLOW_KEY


_PROCESS_FLOW_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class SignInStart:
    authorize_url: str
    flow_cookie: str


def begin_sign_in(settings: Settings, *, redirect_url: str, next_path: str) -> SignInStart:
    import jwt

    found = provider(settings)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code", "client_id": settings.oidc_client_id, "redirect_uri": redirect_url,
        "scope": settings.oidc_scopes, "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256",
    }
    endpoint = str(found.metadata()["authorization_endpoint"])
    flow = {"jti": new_id(), "state": state, "nonce": nonce, "verifier": verifier, "next": next_path,
            "redirect": redirect_url, "aud": FLOW_AUDIENCE, "exp": int(time.time()) + FLOW_LIFETIME_S}
    cookie = jwt.encode(flow, _flow_key(settings), algorithm="HS256")
    return SignInStart(authorize_url=endpoint + ("&" if "?" in endpoint else "?") + urlencode(query),
                       flow_cookie=cookie)


def _open_flow(settings: Settings, cookie: str | None) -> dict[str, Any]:
    import jwt

    if not cookie:
        raise Unauthenticated("this browser has no sign-in under way (its cookie is missing): start again")
    try:
        return dict(jwt.decode(cookie, _flow_key(settings), algorithms=["HS256"], audience=FLOW_AUDIENCE))
    except jwt.ExpiredSignatureError:
        raise Unauthenticated(f"the sign-in took longer than {FLOW_LIFETIME_S // 60} minutes: start again") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the sign-in cookie is not one this server made: start again") from None


_used_flows: dict[str, float] = {}  # flow id -> its expiry: each sign-in completes once (per process)
_used_flows_lock = threading.Lock()


def _use_once(flow: dict[str, Any]) -> None:
    now = time.time()
    with _used_flows_lock:
        for jti in [j for j, expiry in _used_flows.items() if expiry < now]:
            del _used_flows[jti]
        if flow["jti"] in _used_flows:
            raise Unauthenticated("this sign-in response was already used: start again from the sign-in page")
        _used_flows[flow["jti"]] = float(flow["exp"])


def _exchange_code(settings: Settings, found: Provider, code: str, flow: dict[str, Any]) -> dict[str, Any]:
    import httpx

    metadata = found.metadata()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow["redirect"],
            "code_verifier": flow["verifier"], "client_id": settings.oidc_client_id or ""}
    auth = None
    if settings.oidc_client_secret is not None:
        secret = settings.oidc_client_secret.get_secret_value()
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if "client_secret_post" in methods:
            form["client_secret"] = secret
        else:  # RFC 6749 2.3.1: both parts form-encoded inside the basic credentials
            auth = (quote(form["client_id"], safe=""), quote(secret, safe=""))
    endpoint = str(metadata["token_endpoint"])
    try:
        response = httpx.post(endpoint, data=form, auth=auth, timeout=HTTP_TIMEOUT_S,
                              headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"the identity provider's token endpoint {endpoint} is unreachable: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code in (400, 401):
        said = body if isinstance(body, dict) else {}
        reason = ": ".join(str(said[k]) for k in ("error", "error_description") if said.get(k))
        raise Unauthenticated(f"the identity provider refused the sign-in code ({reason or response.status_code})")
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
        raise ServiceUnavailable(
            f"the identity provider's token endpoint answered {response.status_code} without an id_token"
        )
    return body


@dataclass(frozen=True)
class SignIn:
    actor: Actor
    session_token: str
    expires_at: datetime
    next_path: str


def finish_sign_in(
    backend: Backend, settings: Settings, *, flow_cookie: str | None, state: str | None, code: str | None,
    error: str | None = None, error_description: str | None = None,
) -> SignIn:
    """The callback: the provider's answer checked against this browser's flow, then a session."""
    flow = _open_flow(settings, flow_cookie)
    if not state or not hmac.compare_digest(state, str(flow["state"])):
        raise Unauthenticated("the sign-in response's state does not match this browser's sign-in: start again")
    if error:
        detail = f" ({error_description})" if error_description else ""
        raise Unauthenticated(f"the identity provider refused the sign-in: {error}{detail}")
    if not code:
        raise Unauthenticated("the identity provider's answer carries no authorization code")
    _use_once(flow)
    found = provider(settings)
    tokens = _exchange_code(settings, found, code, flow)
    claims = verify_jwt(found, tokens["id_token"], audience=settings.oidc_client_id or "", what="id_token",
                        nonce=str(flow["nonce"]))
    identity = identity_of(settings, claims)
    actor = admit(backend, identity)
    token, expires_at = _open_session(backend, settings, identity, actor)
    return SignIn(actor=actor, session_token=token, expires_at=expires_at, next_path=str(flow["next"]))


def _open_session(backend: Backend, settings: Settings, identity: Identity, actor: Actor) -> tuple[str, datetime]:
    from modelward.services.users import TOKEN_PREFIX

    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(hours=settings.oidc_session_hours)
    with backend.write() as session:
        info = store.add_token(session, token_id=new_id(), user=identity.username, name=SESSION_TOKEN_NAME,
                               digest=token_digest(token), expires_at=expires_at)
        audit.record(session, actor, "token.created", subject_type="token", subject_id=info.id,
                     details={"user": identity.username, "name": SESSION_TOKEN_NAME, "expires_at": expires_at,
                              "via": "oidc", "issuer": identity.issuer, "subject": identity.subject})
    return token, expires_at


def end_ui_session(backend: Backend, token: str | None) -> None:
    """Sign-out: revoke the session a single sign-on opened. A token someone pasted into the
    sign-in form is theirs to keep (machines may use it too): only the cookie goes."""
    if not token:
        return
    with backend.write() as session:
        found = store.find_by_digest(session, token_digest(token))
        if found is None:
            return
        info, user = found
        if info.name != SESSION_TOKEN_NAME or info.revoked_at is not None:
            return
        store.revoke_token(session, info.id)
        audit.record(session, Actor(name=user.name, roles=user.roles), "token.revoked", subject_type="token",
                     subject_id=info.id, details={"user": user.name, "name": SESSION_TOKEN_NAME, "via": "sign-out"})
