"""The FastAPI application: routers, error mapping, request limits, pool lifecycle."""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import openapi
from api.errors import ApiError, error_body
from api.metrics import instrument
from api.ratelimit import RateLimiter
from eldercare.redis_client import connect_redis_async
from eldercare.settings import Settings

log = logging.getLogger(__name__)

# Routes are matched in order: the hot family-location look-ups come first.
ROUTER_MODULES = (
    "api.health",
    "api.docs",
    "api.location.routes",
    "api.accounts.routes",
    "api.audit.routes",
    "api.residents.routes",
    "api.devices.routes",
    "api.geofences.routes",
    "api.bookings.routes",
    "api.timebank.routes",
    "api.alerts.routes",
    "api.board.routes",
    "api.vitals.routes",
    "api.family.routes",
    "api.requests.routes",
    "api.requests.report_routes",
    "api.care.routes",
    "api.care.warning_routes",
    "api.councils.routes",
    "api.partners.routes",
    "api.care.page",
)


class BodySizeLimit:
    """Refuse request bodies over a byte limit, declared or streamed (413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _send_error(send, 413, "payload_too_large", "request body too large")
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _send_error(send, 413, "payload_too_large", "request body too large")


class _TooLarge(Exception):
    pass


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on the request's path."""
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        route = getattr(context, "route", context)
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    response = JSONResponse(error_body(code, message), status_code=status)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {}
        if "retry_after_s" in exc.detail:
            headers["Retry-After"] = str(exc.detail["retry_after_s"])
        return JSONResponse(
            error_body(exc.code, exc.message, exc.detail), status_code=exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid", "invalid request", {"errors": errors}), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette names only the first route of the path; a path has one per method.
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(psycopg.DataError)
    async def out_of_range(_request: Request, exc: psycopg.DataError) -> JSONResponse:
        # Ids beyond bigint, NUL characters in text: bad input that only the database noticed.
        return JSONResponse(
            error_body("invalid", "a value is out of range or not storable"), status_code=422
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal error"), status_code=500)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """Build the application; the pool and Redis client open with its lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            settings.database_url.get_secret_value(),
            min_size=2,
            max_size=settings.api_db_pool_size,
            kwargs={"autocommit": True, "row_factory": dict_row, "application_name": "api"},
            open=False,
        )
        await pool.open(wait=True, timeout=10)
        app.state.pool = pool
        app.state.redis = connect_redis_async(settings)
        try:
            yield
        finally:
            await app.state.redis.aclose()
            await pool.close()

    app = FastAPI(
        title="Eldercare API",
        version="1.0.0",
        description="Residents, bands, family location, geofences, bookings and the time bank.",
        lifespan=lifespan,
        docs_url=None,  # api.docs serves Swagger UI from vendored files, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.login_limiter = RateLimiter(settings.api_login_rate_per_min)
    app.state.login_ip_limiter = RateLimiter(settings.api_login_rate_per_min * 5)
    app.state.location_limiter = RateLimiter(settings.api_location_rate_per_min)
    _install_error_handlers(app)
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    openapi.install(app)
    app.state.metrics_registry = instrument(app)
    return app
