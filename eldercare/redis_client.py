"""Redis client for hot state (latest band state, streams)."""

from __future__ import annotations

import redis

from eldercare.settings import Settings


def connect_redis(settings: Settings) -> redis.Redis:
    """Open a Redis client; key names come from eldercare.keys, under settings.redis_prefix."""
    return redis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5
    )
