"""The serving gateway: ``/serve/{endpoint}/predict`` and friends, in front of the deployments.

Each process holds a ``Gateway``: a snapshot per endpoint (its revision, the compiled traffic
split and the loaded versions), replaced whole when the deployment changes, so a request reads
one snapshot from start to end and never sees half a switch. A background thread looks for
changed revisions every ``gateway_refresh_s``; it loads a new state's versions *before* it
swaps the snapshot in (a blue-green standby is loaded long before its switch). Changes made
through this process's REST API are picked up at once.

The request path does no database work: pick a version (sticky by the endpoint's key), decode
and check the input against that version's signature, predict, answer. The prediction log and
shadow copies run off the path: the log through its bounded queue, shadows in one thread after
the response has been sent, dropping (and counting) copies it cannot keep up with.

A snapshot also holds the log protection of its model's policy (``monitoring.log_protect``,
``services.predictions.LogProtection``), applied to each record before it is queued. It is
resolved when the snapshot is built, and again for every snapshot when the refresh sees the set of
active policies change (a policy set, replaced or removed), so a policy change reaches the log
within about one ``gateway_refresh_s``; a change of what a policy applies to a model without a
policy change (its ``risk_tier`` tag) waits for the deployment's next change or a restart. A
policy that hashes a column on a server without ``hash_secret`` takes the endpoint out of
service (503 naming the setting): it never logs those columns in clear.
"""

from __future__ import annotations

import logging
import re
import threading
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelward import errors
from modelward.api.errors import error_body, status_of
from modelward.domain.access import Permission
from modelward.domain.deployments import DeploymentStatus, Router
from modelward.domain.predictions import PredictionRecord, Rows
from modelward.services.backend import Backend
from modelward.settings import Settings

log = logging.getLogger("modelward.gateway")

REQUEST_ID_HEADERS = ("modelward-request-id", "x-request-id")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SHADOW_BACKLOG = 1_000
JSON = "application/json"


class EndpointView:
    """One deployment state, ready to serve. Never changed after it is built."""

    __slots__ = ("name", "model_name", "revision", "router", "models", "shadows", "header", "field", "task", "routes",
                 "protection")

    def __init__(self, deployment: Any, models: dict[int, Any], task: str, protection: Any = None) -> None:
        state = deployment.state
        self.routes = list(state.routes)
        self.name, self.model_name, self.revision = deployment.name, deployment.model_name, state.revision
        self.router = Router(state.routes)
        self.models = models
        self.shadows = [models[r.version] for r in state.shadows()]
        kind, _, key = deployment.sticky_key.partition(":")
        self.header = key.lower() if kind == "header" else None
        self.field = key if kind == "field" else None
        self.task = task
        self.protection = protection  # LogProtection | None: what the log keeps of the inputs

    def protected_by(self, protection: Any) -> EndpointView:
        """This snapshot with another log protection (everything else shared)."""
        import copy

        changed = copy.copy(self)
        changed.protection = protection
        return changed

    def key_of(self, request: Request, body: bytes) -> str | None:
        if self.header is not None:
            return request.headers.get(self.header)
        return _field_value(body, self.field) if self.field else None


def _field_value(body: bytes, field: str | None) -> str | None:
    """The sticky field's value in the first record of a JSON body, if it has one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        for key in ("dataframe_records", "instances", "inputs"):
            if key in data:
                data = data[key]
                break
        else:
            if "dataframe_split" in data and isinstance(data["dataframe_split"], dict):
                split = data["dataframe_split"]
                columns, rows = split.get("columns") or [], split.get("data") or []
                if field in columns and rows and isinstance(rows[0], list):
                    return str(rows[0][columns.index(field)])
                return None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict) and field in data:
        value = data[field]
        return str(value[0] if isinstance(value, list) and value else value)
    return None


class Gateway:
    """The endpoints this process serves. Nothing is loaded until needed: a server process starts
    it eagerly (every deployment loaded, then kept current); an embedded client that never
    serves pays nothing, and one that does loads an endpoint at its first request."""

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend, self.settings = backend, settings
        self._pool: Any = None
        self.predictions: Any = None
        self._views: dict[str, EndpointView] = {}
        self._problems: dict[str, str] = {}
        self._refresh_lock = threading.RLock()
        self._start_lock = threading.Lock()
        self._running = False
        self._shadow_runner: ThreadPoolExecutor | None = None
        self._shadow_pending = 0
        self._shadow_lock = threading.Lock()
        self.shadow_dropped = 0
        self._refresher: Any = None
        self.refreshed = False  # True after the first complete look at every deployment
        self._policies_seen: Any = None  # the active policies' (scope, version)s at the last refresh

    def known(self) -> set[str]:
        """The endpoints this process serves or has tried to load."""
        return set(self._views) | {n for n, p in self._problems.items() if p != "retired"}

    @property
    def pool(self) -> Any:
        if self._pool is None:
            with self._start_lock:
                if self._pool is None:
                    from modelward.services.model_pool import ModelPool

                    self._pool = ModelPool(self.backend)
        return self._pool

    # -- life cycle -------------------------------------------------------------------------------

    def start(self, *, eager: bool) -> None:
        if eager:
            self._ensure_running()

    def _ensure_running(self) -> None:
        if self._running:
            return
        with self._start_lock:
            if self._running:
                return
            from modelward.services.background import Periodic

            if self.settings.prediction_log:
                from modelward.services.predictions import PredictionLog

                self.predictions = PredictionLog(self.backend, capacity=self.settings.prediction_log_capacity,
                                                 sample_rate=self.settings.prediction_log_sample_rate)
                self.predictions.start()
            self._shadow_runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelward-shadow")
            self._refresher = Periodic("gateway-refresh", self.refresh, interval_s=self.settings.gateway_refresh_s)
            self._refresher.start()
            self._running = True

    def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.stop()
        if self._shadow_runner is not None:
            # Copies still queued are dropped: a slow shadow must not hold a shutdown for minutes.
            self._shadow_runner.shutdown(wait=True, cancel_futures=True)
        if self.predictions is not None:
            self.predictions.close()
        if self._pool is not None:
            self._pool.close()

    # -- keeping the snapshots current ------------------------------------------------------------

    def refresh(self) -> None:
        """Load every deployment whose revision moved; drop the ones that are gone or retired."""
        from modelward.services import deployments

        with self._refresh_lock:
            current = deployments.revisions(self.backend)
            for name in [n for n in self._views if n not in current]:
                self._drop(name)
            for name, revision in current.items():
                view = self._views.get(name)
                if view is None or view.revision != revision:
                    self._load(name)
            self._follow_policies()
            self.refreshed = True

    def _follow_policies(self) -> None:
        """Re-resolve every snapshot's log protection when the active policies changed."""
        from modelward.services import policies

        seen = tuple((p.scope, p.version) for p in policies.list_(self.backend))
        if seen == self._policies_seen:
            return
        self._policies_seen = seen
        for name, view in list(self._views.items()):
            try:
                policy = policies.effective_policy(self.backend, view.model_name)
            except errors.ModelwardError as exc:
                self._policies_seen = None  # try again at the next refresh
                log.warning("deployment %s: policy not re-read: %s", name, exc)
                continue
            try:
                protection = self._protection(policy)
            except errors.ServiceUnavailable as exc:
                self._refuse(name, exc)
                continue
            if protection != view.protection:
                self._views = {**self._views, name: view.protected_by(protection)}

    def _protection(self, policy: Any) -> Any:
        """The log protection ``policy`` asks for (None when nothing is logged or protected)."""
        if not self.settings.prediction_log:
            return None
        from modelward.services.predictions import log_protection

        secret = self.settings.hash_secret
        return log_protection(policy.monitoring.log_protect, secret.get_secret_value() if secret else None)

    def _refuse(self, name: str, exc: errors.ModelwardError) -> None:
        """Take ``name`` out of service: its last snapshot would log what its policy forbids."""
        self._drop(name)
        if self._problems.get(name) != str(exc):  # once, not at every retry
            log.warning("deployment %s: not served: %s", name, exc)
        self._problems[name] = str(exc)

    def _load(self, name: str) -> None:
        from modelward.services import deployments, policies

        try:
            deployment = deployments.get(self.backend, name)
            if deployment.state.status is DeploymentStatus.RETIRED:
                retired = self._views.get(name)
                if retired is not None:
                    from modelward.api.metrics import observe_routes

                    observe_routes(name, retired.routes, retired=True)
                self._drop(name)
                self._problems[name] = "retired"
                return
            models = {v: self.pool.get(deployment.model_name, v) for v in sorted(deployment.state.loaded_versions())}
            policy = policies.effective_policy(self.backend, deployment.model_name)
            task = policy.task.value
        except errors.ModelwardError as exc:
            if isinstance(exc, errors.NotFound) and name not in deployments.revisions(self.backend):
                self._drop(name)  # the deployment itself does not exist
                return
            # The endpoint keeps serving its last good snapshot; readiness names the problem.
            self._problems[name] = str(exc)
            log.warning("deployment %s: revision not loaded: %s", name, exc)
            return
        try:
            protection = self._protection(policy)
        except errors.ServiceUnavailable as exc:
            self._refuse(name, exc)
            return
        self._views = {**self._views, name: EndpointView(deployment, models, task, protection)}
        self._problems.pop(name, None)
        from modelward.api.metrics import observe_routes

        observe_routes(name, deployment.state.routes)

    def _drop(self, name: str) -> None:
        self._views = {n: v for n, v in self._views.items() if n != name}

    def view(self, name: str) -> EndpointView:
        """The endpoint's snapshot; loaded here (blocking) when this process has not served it yet."""
        found = self._views.get(name)
        if found is None and self._problems.get(name) != "retired":
            self._ensure_running()
            with self._refresh_lock:
                if name not in self._views:
                    self._load(name)
            found = self._views.get(name)
        if found is None:
            problem = self._problems.get(name)
            if problem == "retired":
                raise errors.NotFound(f"deployment '{name}' is retired")
            if problem:
                raise errors.ServiceUnavailable(f"deployment '{name}' is not ready: {problem}")
            raise errors.NotFound(f"no deployment named '{name}' serves here")
        return found

    def readiness(self, name: str) -> dict[str, Any]:
        view = self._views.get(name)
        problem = self._problems.get(name)
        if view is None:
            return {"deployment": name, "ready": False, "problem": problem or "not loaded"}
        unhealthy = [v for v, m in view.models.items() if not m.healthy]
        return {"deployment": name, "ready": not unhealthy and problem is None, "revision": view.revision,
                "versions": sorted(view.models), "unhealthy": unhealthy, "problem": problem,
                "log_protect": dict(view.protection.columns) if view.protection is not None else {},
                "shadow_backlog": self._shadow_pending, "shadow_dropped": self.shadow_dropped}

    # -- answering --------------------------------------------------------------------------------

    async def predict(self, request: Request, *, proba: bool) -> Response:
        from modelward.formats.scoring import parse_request, render_predictions

        started = perf_counter()
        name = request.path_params["endpoint"]
        view = self._views.get(name) or await run_in_threadpool(self.view, name)
        request_id = _request_id(request)
        try:
            body = await request.body()
        except ClientDisconnect:  # the client went away before its request was whole: no one to answer
            return Response(status_code=400)
        version = view.router.pick(view.key_of(request, body))
        served = view.models[version]
        frame, outputs, error, status, rows = None, None, None, 200, 0
        try:
            parsed = parse_request(body, request.headers.get("content-type"), served.signature)
            frame, rows = parsed.frame, parsed.rows
            call = served.predict_proba_checked if proba else served.predict_checked
            outputs = await run_in_threadpool(call, frame) if served.isolated else call(frame)
            payload = render_predictions(outputs, probabilities=proba)
        except errors.ModelwardError as exc:
            status, error = status_of(exc), str(exc)
            payload = orjson.dumps(error_body(exc.error_code, error))
        except Exception as exc:  # noqa: BLE001  the model failed on valid input: the version's fault
            status, error = 500, f"version {version} of model '{view.model_name}' failed to predict: {exc}"
            log.warning("deployment %s: %s", view.name, error)
            payload = orjson.dumps(error_body("INTERNAL_ERROR", error))
        latency_ms = (perf_counter() - started) * 1000
        self._log(PredictionRecord(
            request_id=request_id, endpoint=view.name, model_name=view.model_name, version=version,
            mode="live", at=datetime.now(UTC), latency_ms=latency_ms, status=status, error=error,
            inputs=frame, outputs=outputs, rows=rows), view.protection)
        shadow = None
        if view.shadows and status == 200:
            shadow = BackgroundTask(self._shadow, view, body, request.headers.get("content-type"), request_id, proba)
        return Response(payload, status, media_type=JSON, background=shadow, headers={
            "modelward-version": str(version), "modelward-request-id": request_id,
            "modelward-deployment-revision": str(view.revision)})

    def _shadow(self, view: EndpointView, body: bytes, content_type: str | None, request_id: str,
                proba: bool) -> None:
        """Queue the shadow copies of one answered request (runs after its response was sent)."""
        with self._shadow_lock:
            if self._shadow_pending >= SHADOW_BACKLOG:
                self.shadow_dropped += len(view.shadows)
                return
            self._shadow_pending += 1
        try:
            assert self._shadow_runner is not None
            self._shadow_runner.submit(self._score_shadows, view, body, content_type, request_id, proba)
        except RuntimeError:  # shutting down
            with self._shadow_lock:
                self._shadow_pending -= 1

    def _score_shadows(self, view: EndpointView, body: bytes, content_type: str | None, request_id: str,
                       proba: bool) -> None:
        from modelward.formats.scoring import parse_request

        try:
            for served in view.shadows:
                started = perf_counter()
                frame, outputs, error, status, rows = None, None, None, 200, 0
                try:
                    parsed = parse_request(body, content_type, served.signature)
                    frame, rows = parsed.frame, parsed.rows
                    outputs = (served.predict_proba_checked if proba else served.predict_checked)(frame)
                except errors.ModelwardError as exc:
                    status, error = status_of(exc), str(exc)
                except Exception as exc:  # noqa: BLE001  a failing shadow is logged, never raised
                    status, error = 500, f"shadow version {served.version} failed: {exc}"
                self._log(PredictionRecord(
                    request_id=request_id, endpoint=view.name, model_name=view.model_name,
                    version=served.version, mode="shadow", at=datetime.now(UTC),
                    latency_ms=(perf_counter() - started) * 1000, status=status, error=error,
                    inputs=frame, outputs=outputs, rows=rows), view.protection)
        finally:
            with self._shadow_lock:
                self._shadow_pending -= 1

    def _log(self, record: PredictionRecord, protection: Any) -> None:
        """Count the answer for /metrics, and queue it for the prediction log (never blocking),
        its inputs (the checked frame) protected first when the policy says so."""
        from modelward.api.metrics import observe_dropped, observe_prediction

        live = record.mode == "live"
        observe_prediction(record.endpoint, record.version, record.mode, record.status, record.rows,
                           record.latency_ms / 1000 if live else None)
        if self.predictions is None:
            return
        if protection is not None:
            protection.apply(record)
        else:
            record.inputs = Rows.of(record.inputs)
        if not self.predictions.submit(record):
            from modelward.services.predictions import sampled

            if sampled(record.request_id, self.predictions.sample_rate):
                observe_dropped(record.endpoint)

    def stats(self) -> dict[str, Any]:
        return {"endpoints": {n: v.revision for n, v in self._views.items()}, "loaded": self.pool.loaded(),
                "shadow_dropped": self.shadow_dropped,
                "prediction_log": self.predictions.stats() if self.predictions is not None else None}


def _request_id(request: Request) -> str:
    for header in REQUEST_ID_HEADERS:
        given = request.headers.get(header)
        if given is not None:
            if not REQUEST_ID.match(given):
                raise errors.InvalidInput(f"request id {given[:40]!r} must be 1-128 letters, digits, '.', '_', ':' "
                                          "or '-'")
            return given
    return os.urandom(16).hex()  # 128 random bits, as uuid4 without building a UUID


# -- the ASGI app -------------------------------------------------------------------------------


def _failure(exc: errors.ModelwardError) -> JSONResponse:
    return JSONResponse(error_body(exc.error_code, str(exc)), status_of(exc))


async def _caller(request: Request, permission: Permission) -> Any:
    """Who asks, when the server requires auth (the gateway is not behind FastAPI's dependencies)."""
    gateway: Gateway = request.app.state.gateway
    if not gateway.settings.auth:
        return None
    from modelward.services import access

    return await run_in_threadpool(
        access.authorize_request, gateway.backend, gateway.settings,
        authorization=request.headers.get("authorization"), claimed_user=None, permission=permission)


def _answering(proba: bool) -> Any:
    async def answer(request: Request) -> Response:
        try:
            await _caller(request, Permission.READ)
            return await request.app.state.gateway.predict(request, proba=proba)
        except errors.ModelwardError as exc:
            return _failure(exc)
    return answer


async def _feedback(request: Request) -> Response:
    from modelward.services import predictions

    gateway: Gateway = request.app.state.gateway
    try:
        actor = await _caller(request, Permission.WRITE)
        name = request.path_params["endpoint"]
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise errors.InvalidInput(f"feedback body is not valid JSON: {exc}") from None
        items = body.get("feedback") if isinstance(body, dict) and "feedback" in body else body
        items = [items] if isinstance(items, dict) else items
        if not isinstance(items, list):
            raise errors.InvalidInput("feedback is an object {request_id, ground_truth, values?}, a list of them, "
                                      "or {\"feedback\": [...]}")
        if gateway.predictions is not None:
            await run_in_threadpool(gateway.predictions.flush)  # this process's answers are indexed first
        from modelward.services.access import local_operator

        result = await run_in_threadpool(predictions.add_feedback, gateway.backend,
                                         actor or local_operator(None), name, items)
        return JSONResponse(result)
    except errors.ModelwardError as exc:
        return _failure(exc)


async def _endpoint_health(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        await _caller(request, Permission.READ)
        view = gateway.view(request.path_params["endpoint"])
    except errors.ModelwardError as exc:
        return _failure(exc)
    return JSONResponse({"deployment": view.name, "status": "ok", "revision": view.revision})


async def _endpoint_ready(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        await _caller(request, Permission.READ)
    except errors.ModelwardError as exc:
        return _failure(exc)
    report = gateway.readiness(request.path_params["endpoint"])
    return JSONResponse(report, 200 if report["ready"] else 503)


def routes() -> list[Route]:
    return [
        Route("/{endpoint}/predict", _answering(False), methods=["POST"]),
        Route("/{endpoint}/invocations", _answering(False), methods=["POST"]),
        Route("/{endpoint}/predict_proba", _answering(True), methods=["POST"]),
        Route("/{endpoint}/feedback", _feedback, methods=["POST"]),
        Route("/{endpoint}/health", _endpoint_health, methods=["GET"]),
        Route("/{endpoint}/ready", _endpoint_ready, methods=["GET"]),
    ]


def serving_app(gateway: Gateway) -> Starlette:
    """The gateway's routes as an app to mount at ``/serve``."""
    app = Starlette(routes=routes())
    app.state.gateway = gateway
    return app


def create_gateway_app(settings: Settings | None = None, *, default_endpoint: str | None = None) -> Starlette:
    """The gateway alone (``modelward serve``): ``/serve/...`` as in the full server, plus
    ``/health`` and ``/ready`` (ready once every deployment's versions are loaded). With
    ``default_endpoint``, MLflow's scoring-server routes too (``POST /invocations``, ``GET /ping``),
    answering for that endpoint, so a client of ``mlflow models serve`` works unchanged."""
    from contextlib import asynccontextmanager
    from starlette.routing import Mount

    settings = settings or Settings()
    backend = Backend.from_settings(settings)
    gateway = Gateway(backend, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        gateway.start(eager=True)
        try:
            yield
        finally:
            gateway.stop()
            backend.close()

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        reports = [gateway.readiness(name) for name in sorted(gateway.known())]
        ok = gateway.refreshed and all(r["ready"] for r in reports)
        return JSONResponse({"ready": ok, "deployments": reports}, 200 if ok else 503)

    async def metrics(request: Request) -> Response:
        from modelward.api.metrics import metrics_response

        try:
            await _caller(request, Permission.READ)
        except errors.ModelwardError as exc:
            return _failure(exc)
        return await metrics_response(request, gateway.backend)

    extra: list[Route] = [Route("/metrics", metrics)]
    if default_endpoint is not None:
        answer = _answering(False)

        async def invocations(request: Request) -> Response:
            request.scope["path_params"] = {"endpoint": default_endpoint}
            return await answer(request)

        async def ping(request: Request) -> Response:
            report = gateway.readiness(default_endpoint)
            return JSONResponse(report, 200 if report["ready"] else 503)

        async def version(request: Request) -> Response:
            from modelward.version import __version__

            return Response(__version__, media_type="text/plain")

        extra += [Route("/invocations", invocations, methods=["POST"]), Route("/ping", ping),
                  Route("/version", version)]
    from starlette.middleware import Middleware

    from modelward.api.guards import RequestGuards

    from modelward.api.metrics import MetricsMiddleware

    guards = Middleware(RequestGuards, max_bytes=settings.max_request_bytes, loopback_only=not settings.auth)
    app = Starlette(routes=[Route("/health", health), Route("/ready", ready), *extra,
                            Mount("/serve", serving_app(gateway))], lifespan=lifespan,
                    middleware=[Middleware(MetricsMiddleware), guards])
    app.state.gateway = gateway
    return app
