"""Health for load balancers and container checks: can this process reach its database and Redis?"""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.errors import ERROR_RESPONSES, ServiceUnavailable

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get("/health")
async def health(request: Request) -> dict[str, str]:
    """200 when the database and Redis answer; 503 naming what does not. No login needed."""
    state = request.app.state
    checks = {"database": "ok", "redis": "ok"}
    try:
        async with state.pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means the same thing here: not ready
        checks["database"] = "unreachable"
    try:
        await state.redis.ping()
    except Exception:  # noqa: BLE001
        checks["redis"] = "unreachable"
    if "unreachable" in checks.values():
        raise ServiceUnavailable("not ready", **checks)
    return checks
