"""Redis clients for hot state (latest band state, streams): one server or a Redis Cluster.

`redis_cluster` chooses: with it, `redis_url` names any node of the cluster (the client finds
the others). Callers use either client the same way; the key names in eldercare.keys keep
what one Lua call touches in one slot.
"""

from __future__ import annotations

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from eldercare.settings import Settings

TIMEOUT_S = 5


def connect_redis(settings: Settings) -> redis.Redis:
    """Open a Redis client; key names come from eldercare.keys, under settings.redis_prefix."""
    url = settings.redis_url.get_secret_value()
    if settings.redis_cluster:
        # Same commands as redis.Redis, so callers stay typed against it.
        return redis.cluster.RedisCluster.from_url(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )  # type: ignore[return-value]
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)


def connect_redis_async(settings: Settings) -> redis.asyncio.Redis:
    """The asyncio client of the same choice, for the API."""
    url = settings.redis_url.get_secret_value()
    if settings.redis_cluster:
        cluster = redis.asyncio.cluster.RedisCluster.from_url(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
        return cluster  # type: ignore[return-value]
    return redis.asyncio.Redis.from_url(
        url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
    )
