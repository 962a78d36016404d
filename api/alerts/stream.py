"""The live stream of alert changes as Server-Sent Events, and its cookie session.

EventSource cannot send an Authorization header. The page therefore asks (with its bearer
token in the header) for a stream session: an HttpOnly, SameSite=Strict cookie scoped to
Path=/alerts/stream that holds a token valid only for this stream (its own audience, so it is
refused everywhere else) and expiring no later than the bearer token. A token in the query
string would end up in access logs, proxy logs and browser history; this cookie does not,
is not readable by page scripts, is not sent cross-site, and can only open a read-only stream.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, cast

import jwt
import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from fastapi.security import OAuth2PasswordBearer
from redis.asyncio import Redis

from api.alerts import service
from api.deps import ALERT_CONSOLE_ROLES, SettingsDep, decode_token, get_principal
from api.errors import ERROR_RESPONSES, Forbidden, Invalid, Unauthorized
from eldercare import keys
from eldercare.settings import Settings

log = logging.getLogger(__name__)

STREAM_AUDIENCE = "eldercare:alerts-stream"
STREAM_COOKIE = "alerts_stream"
STREAM_PATH = "/alerts/stream"
KEEPALIVE_S = 15.0
# Below the shared Redis client's 5 s socket timeout; also how soon a closed client is noticed.
BLOCK_MS = 2000
DEDUPE_KEYS = 10_000
RETRY_MS = 3000
ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")

router = APIRouter(tags=["alerts"], responses=ERROR_RESPONSES)
bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def _stream_token(settings: Settings, *, account_id: int, expires_at: int) -> str:
    claims = {"sub": str(account_id), "aud": STREAM_AUDIENCE, "exp": expires_at}
    return jwt.encode(claims, settings.api_jwt_secret.get_secret_value(), algorithm="HS256")


@router.post("/alerts/stream/session", status_code=204)
async def open_stream_session(
    request: Request, settings: SettingsDep, token: Annotated[str | None, Depends(bearer)]
) -> Response:
    """Set the cookie that lets this browser open the alert stream (bearer token required)."""
    if not token:
        raise Unauthorized("not authenticated")
    claims = decode_token(settings, token)
    async with request.app.state.pool.connection() as conn:
        principal = await get_principal(conn, int(claims["sub"]))
    if principal.role not in ALERT_CONSOLE_ROLES:
        raise Forbidden("your role has no alert console", role=principal.role)
    expires_at = int(claims["exp"])
    response = Response(status_code=204)
    response.set_cookie(
        STREAM_COOKIE,
        _stream_token(settings, account_id=principal.account_id, expires_at=expires_at),
        max_age=max(0, expires_at - int(time.time())),
        path=STREAM_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.delete("/alerts/stream/session", status_code=204)
async def close_stream_session() -> Response:
    """Forget the stream cookie (logout)."""
    response = Response(status_code=204)
    response.delete_cookie(STREAM_COOKIE, path=STREAM_PATH, httponly=True, samesite="strict")
    return response


def _caller_claims(request: Request, settings: Settings, authorization: str | None) -> dict:
    """Claims of the bearer token in the header, else of the stream cookie."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("not authenticated")
        return decode_token(settings, token)
    cookie = request.cookies.get(STREAM_COOKIE)
    if not cookie:
        raise Unauthorized("not authenticated")
    return decode_token(settings, cookie, audience=STREAM_AUDIENCE)


@router.get("/alerts/stream", include_in_schema=False)
async def alert_stream(
    request: Request,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[str | None, Query(description="resume after this event id")] = None,
) -> StreamingResponse:
    """Alert changes the caller may see, as Server-Sent Events (`event: alert`).

    Resumes after `Last-Event-ID` (or `?after=`), else starts from now. Each event's data is
    `{"change": {alert_event_id, alert_id, kind, actor, at}, "alert": <AlertSummary>}`.
    Not in the OpenAPI document: an endless response is no use to generated clients.
    """
    claims = _caller_claims(request, settings, authorization)
    start = last_event_id or after
    if start is not None and not ENTRY_ID.match(start):
        raise Invalid("Last-Event-ID must be a stream entry id like 1700000000000-0")
    async with request.app.state.pool.connection() as conn:
        principal = await get_principal(conn, int(claims["sub"]))
    if principal.role not in ALERT_CONSOLE_ROLES:
        raise Forbidden("your role has no alert console", role=principal.role)
    changes = alert_changes(
        state=request.app.state,
        pool=request.app.state.pool,
        redis=request.app.state.redis,
        key=keys.alert_changes(settings.redis_prefix),
        account_id=principal.account_id,
        start=start,
        expires_at=float(claims["exp"]),
        keepalive_s=getattr(request.app.state, "alert_stream_keepalive_s", KEEPALIVE_S),
        is_disconnected=request.is_disconnected,
    )
    return StreamingResponse(
        changes,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# The client speaks RESP2 without decode_responses: stream entries are (id, {field: value})
# in bytes, and XREAD answers [(stream, entries)]. redis-py types every protocol's shape.
Entries = list[tuple[bytes, dict[bytes, bytes]]]


async def _last_entry_id(redis: Redis, key: str) -> str:
    """The id of the newest entry (so nothing added after connecting is missed), or 0-0."""
    newest = cast(Entries, await redis.xrevrange(key, count=1))
    return newest[0][0].decode() if newest else "0-0"


def _parse(fields: dict[bytes, bytes], seen: OrderedDict[bytes, None]) -> dict | None:
    """The change an entry carries, or None for a repeat or an unreadable entry."""
    key = fields.get(b"idempotency_key", b"")
    if key in seen:
        return None
    seen[key] = None
    if len(seen) > DEDUPE_KEYS:
        seen.popitem(last=False)
    try:
        change = orjson.loads(fields[b"data"])
        int(change["alert_id"])
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        log.warning("skipping an unreadable alert change entry")
        return None
    return change


async def _still_allowed(pool, account_id: int) -> bool:
    """True while the account exists, is enabled and holds a console role."""
    async with pool.connection() as conn:
        try:
            principal = await get_principal(conn, account_id)
        except Unauthorized:
            return False
    return principal.role in ALERT_CONSOLE_ROLES


async def _read(
    redis: Redis, key: str, last_id: str, block_ms: int, seen: OrderedDict[bytes, None]
) -> tuple[str, list[tuple[str, dict]]]:
    """New changes after `last_id` (waiting up to block_ms), and the id to read after next."""
    reply = cast(
        list[tuple[bytes, Entries]] | None,
        await redis.xread({key: last_id}, count=200, block=block_ms),
    )
    batch = []
    for _stream, entries in reply or ():
        for entry_id, fields in entries:
            last_id = entry_id.decode()
            change = _parse(fields, seen)
            if change is not None:
                batch.append((last_id, change))
    return last_id, batch


def _event(entry_id: str, change: dict, alert: dict) -> bytes:
    data = orjson.dumps({"change": change, "alert": jsonable_encoder(alert)})
    return b"id: %s\nevent: alert\ndata: %s\n\n" % (entry_id.encode(), data)


async def alert_changes(
    *,
    state: Any,
    pool,
    redis: Redis,
    key: str,
    account_id: int,
    start: str | None,
    expires_at: float,
    keepalive_s: float,
    is_disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """SSE bytes: changes of alerts the account may see, deduplicated, with keep-alives.

    Ends when the client goes away or the token expires (the browser then reconnects and is
    told 401, so an expired session cannot keep watching). `state.open_alert_streams` counts
    the streams being served.
    """
    state.open_alert_streams = getattr(state, "open_alert_streams", 0) + 1
    try:
        last_id = start or await _last_entry_id(redis, key)
        seen: OrderedDict[bytes, None] = OrderedDict()
        yield b"retry: %d\n: connected\n\n" % RETRY_MS
        quiet_since = time.monotonic()
        while time.time() < expires_at and not await is_disconnected():
            until_keepalive_ms = (keepalive_s - (time.monotonic() - quiet_since)) * 1000
            block_ms = int(max(50, min(BLOCK_MS, until_keepalive_ms)))
            last_id, batch = await _read(redis, key, last_id, block_ms, seen)
            if batch:
                async with pool.connection() as conn:
                    visible = await service.visible_summaries(
                        conn=conn,
                        account_id=account_id,
                        alert_ids=sorted({int(c["alert_id"]) for _, c in batch}),
                    )
                for entry_id, change in batch:
                    alert = visible.get(int(change["alert_id"]))
                    if alert is not None:
                        yield _event(entry_id, change, alert)
                        quiet_since = time.monotonic()
            if time.monotonic() - quiet_since >= keepalive_s:
                if not await _still_allowed(pool, account_id):
                    return  # disabled meanwhile: the reconnect is refused with 401
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
    finally:
        state.open_alert_streams -= 1
