"""Bands: provisioning (the row is the broker credential), binding, revocation, status,
commands."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime

import psycopg
from psycopg_pool import ConnectionPool
from redis.asyncio import Redis

from alerting.alerts import service as alerts
from alerting.rules import thresholds
from api.alerts.service import run_action
from api.db import DbConn
from api.devices import broker
from api.errors import Conflict, Invalid, NotFound
from eldercare import keys
from eldercare.broker import hash_password
from eldercare.imei import is_valid_imei
from eldercare.settings import Settings

DEVICE_COLUMNS = (
    "device_id, resident_id, state, registered_at, provisioned_at, revoked_at, watch_id"
)


async def get(*, conn: DbConn, device_id: str) -> dict | None:
    """One band, or None."""
    cur = await conn.execute(
        f"SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = %s", (device_id,)
    )
    return await cur.fetchone()


async def get_or_raise(*, conn: DbConn, device_id: str) -> dict:
    """One band, or NotFound."""
    row = await get(conn=conn, device_id=device_id)
    if row is None:
        raise NotFound("device not found", device_id=device_id)
    return row


async def list_devices(*, conn: DbConn, limit: int, offset: int) -> list[dict]:
    """Bands by IMEI."""
    cur = await conn.execute(
        f"SELECT {DEVICE_COLUMNS} FROM devices ORDER BY device_id LIMIT %s OFFSET %s",
        (limit, offset),
    )
    return await cur.fetchall()


async def provision(
    *,
    conn: DbConn,
    device_id: str,
    watch_id: str | None = None,
    watch_utc_offset_min: int | None = None,
) -> dict:
    """Register a band and issue its MQTT password (returned once, stored only as a hash).

    A 4G watch also gets the id it speaks with on the watch gateway, and its clock offset.
    """
    if not is_valid_imei(device_id):
        raise Invalid("not a valid IMEI (15 digits with a Luhn check digit)", device_id=device_id)
    password = secrets.token_urlsafe(24)
    password_hash = hash_password(password)  # fast by design (see eldercare.broker)
    try:
        # One statement, one row: the committed row is the band's broker credential.
        cur = await conn.execute(
            f"""INSERT INTO devices (device_id, mqtt_password_hash, provisioned_at, watch_id,
                                   watch_utc_offset_min)
                VALUES (%s, %s, now(), %s, %s)
                ON CONFLICT (device_id) DO UPDATE
                SET mqtt_password_hash = EXCLUDED.mqtt_password_hash,
                    provisioned_at = now(), state = 'active', revoked_at = NULL,
                    watch_id = EXCLUDED.watch_id,
                    watch_utc_offset_min = EXCLUDED.watch_utc_offset_min
                WHERE devices.mqtt_password_hash IS NULL
                RETURNING {DEVICE_COLUMNS}""",
            (device_id, password_hash, watch_id, watch_utc_offset_min),
        )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("watch id belongs to another band", watch_id=watch_id) from exc
    row = await cur.fetchone()
    if row is None:
        current = await get_or_raise(conn=conn, device_id=device_id)
        raise Conflict("device already provisioned", device_id=device_id, state=current["state"])
    return {**row, "mqtt_username": device_id, "mqtt_password": password}


async def revoke(
    *,
    conn: DbConn,
    pool: ConnectionPool,
    settings: Settings,
    device_id: str,
    actor: str,
    now: datetime,
) -> dict:
    """Revoke a band: the broker refuses it, ingest ignores it, its device-state alerts end.

    Its live connections close after the commit, so a reconnect finds it revoked; if the
    broker is unreachable the revocation stands and a retry (idempotent) disconnects it.
    """
    await run_action(pool, _revoke, device_id=device_id, actor=actor, now=now)
    await asyncio.to_thread(broker.disconnect_band, settings=settings, device_id=device_id)
    return await get_or_raise(conn=conn, device_id=device_id)


# On a sync connection, as alerting's functions take one: the band and its device-state
# alerts (offline, low battery, not worn) change in one transaction.
def _revoke(sync: psycopg.Connection, *, device_id: str, actor: str, now: datetime) -> None:
    with sync.transaction():
        cur = sync.execute(
            """UPDATE devices SET state = 'revoked', revoked_at = coalesce(revoked_at, now())
               WHERE device_id = %s""",
            (device_id,),
        )
        if cur.rowcount == 0:
            raise NotFound("device not found", device_id=device_id)
        alerts.resolve_band_alerts(
            sync, device_id=device_id, actor=actor, resolution="band revoked", now=now
        )


async def bind(*, conn: DbConn, device_id: str, resident_id: int) -> dict:
    """Bind an active, unbound band to a resident."""
    cur = await conn.execute(
        """UPDATE devices
           SET bound_at = CASE WHEN resident_id IS DISTINCT FROM %s THEN now() ELSE bound_at END,
               resident_id = %s
           WHERE device_id = %s AND state = 'active'
             AND (resident_id IS NULL OR resident_id = %s)""",
        (resident_id, resident_id, device_id, resident_id),
    )
    if cur.rowcount == 0:
        raise Conflict("device is revoked or bound to another resident", device_id=device_id)
    return await get_or_raise(conn=conn, device_id=device_id)


async def unbind(
    *, conn: DbConn, pool: ConnectionPool, device_id: str, actor: str, now: datetime
) -> dict:
    """Unbind a band from its resident; its device-state alerts end (SOS, falls, vitals stay)."""
    await run_action(pool, _unbind, device_id=device_id, actor=actor, now=now)
    return await get_or_raise(conn=conn, device_id=device_id)


def _unbind(sync: psycopg.Connection, *, device_id: str, actor: str, now: datetime) -> None:
    with sync.transaction():
        sync.execute(
            "UPDATE devices SET resident_id = NULL, bound_at = NULL WHERE device_id = %s",
            (device_id,),
        )
        alerts.resolve_band_alerts(
            sync, device_id=device_id, actor=actor, resolution="band unbound", now=now
        )


def _ms(value: bytes | str | None) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None


async def status(*, conn: DbConn, redis: Redis, prefix: str, device: dict) -> dict:
    """A band's online state, battery and last contact (Redis, else the last stored status)."""
    state = await redis.hgetall(keys.band_state(prefix, device["device_id"]))
    if state:
        online, charging = state.get(b"online"), state.get(b"charging")
        return {
            **device,
            "online": None if online is None else online == b"1",
            "battery": int(state[b"battery"]) if state.get(b"battery") else None,
            "charging": None if charging is None else charging in (b"1", b"true"),
            "last_seen": _ms(state.get(b"last_seen")),
        }
    row = await (
        await conn.execute(
            """SELECT online, battery, charging, received_at AS last_seen FROM device_status
               WHERE device_id = %s""",
            (device["device_id"],),
        )
    ).fetchone()
    empty = {"online": None, "battery": None, "charging": None, "last_seen": None}
    return {**device, **(row or empty)}


def slowest_telemetry_interval_s(settings: Settings) -> int:
    """Half the silence after which the engine calls a band offline, so one late report is not."""
    return int(settings.alerting_band_interval_s * thresholds.defaults()["offline_factor"]) // 2


async def send_command(*, settings: Settings, device: dict, command: dict) -> dict:
    """Publish a locate or config command to an active band."""
    if device["state"] != "active":
        raise Conflict("device is revoked", device_id=device["device_id"])
    slowest = slowest_telemetry_interval_s(settings)
    if command.get("telemetry_interval_s", 0) > slowest:
        raise Invalid(
            "the alerting engine would report a band this slow as offline",
            max_telemetry_interval_s=slowest,
        )
    command_id = uuid.uuid4().hex[:16]
    payload = {"v": 1, "id": command_id, **command}
    await asyncio.to_thread(
        broker.publish_command, settings=settings, device_id=device["device_id"], payload=payload
    )
    return {"command_id": command_id, "device_id": device["device_id"], "type": command["type"]}
