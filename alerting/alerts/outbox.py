"""Writes to the outbox (always inside the transaction that changed the alert).

Targets are people or systems; channels are how they are reached:
duty_console -> console (Redis stream), grid_worker / community_director / street ->
community_gateway, family -> family_gateway, gateway_120 -> gateway_120.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting.channels import texts
from alerting.geo.datum import wgs84_to_gcj02
from alerting.rules.common import SEVERITY_NAMES

TARGET_CHANNELS = {
    "duty_console": "console",
    "grid_worker": "community_gateway",
    "community_director": "community_gateway",
    "street": "community_gateway",
    "family": "family_gateway",
    "gateway_120": "gateway_120",
}
# Notifications of these rules wait briefly so a storm (a cell outage) becomes one message.
# SOS and falls are never listed here: they are never grouped, delayed or suppressed.
GROUPABLE_RULES = {"device_offline", "low_battery"}
STORM_WINDOW = timedelta(seconds=30)
# Their pages go before every other page (priority 0), whatever the resident's risk flags.
URGENT_RULES = {"sos", "fall"}


def _insert(
    conn,
    *,
    key: str,
    channel: str,
    alert_id: int | None,
    priority: int,
    payload: dict,
    now: datetime,
    held_until: datetime | None = None,
    group_key: str | None = None,
    stop_on: str | None = None,
    target: str | None = None,
):
    conn.execute(
        """INSERT INTO outbox (idempotency_key, channel, alert_id, priority, payload, status,
               group_key, created_at, next_attempt_at, stop_on, target)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (idempotency_key) DO NOTHING""",
        (
            key,
            channel,
            alert_id,
            priority,
            Jsonb(payload),
            "held" if held_until else "pending",
            group_key,
            now,
            held_until or now,
            stop_on,
            target,
        ),
    )


def enqueue_change(
    conn, *, alert_event_id: int, alert_id: int, kind: str, actor: str, at: datetime
) -> None:
    """Queue a timeline entry for the console's live stream of alert changes."""
    _insert(
        conn,
        key=f"change-{alert_event_id}",
        channel="changes",
        alert_id=alert_id,
        priority=1,
        payload={
            "alert_event_id": alert_event_id,
            "alert_id": alert_id,
            "kind": kind,
            "actor": actor,
            "at": at.isoformat(),
        },
        now=at,
    )


def load_alert(conn, alert_id: int) -> dict:
    """The alert with its resident and grid, as notices describe it."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT a.alert_id, a.rule, a.title, a.severity, a.priority, a.status, a.details,
                      a.opened_at, a.first_seen_at, a.device_id, a.resident_id, a.lat, a.lon,
                      a.acc_m, r.full_name, r.birth_date, r.sex, r.address, r.phone, r.grid_id,
                      r.medical_notes, g.name AS grid_name, a.policy_steps
               FROM alerts a LEFT JOIN residents r USING (resident_id)
               LEFT JOIN grids g ON g.grid_id = r.grid_id
               WHERE a.alert_id = %s""",
            (alert_id,),
        ).fetchone()


def summary(alert: dict) -> dict:
    """What every notification says about the alert."""
    return {
        "alert_id": alert["alert_id"],
        "rule": alert["rule"],
        "title": alert["title"],
        "severity": SEVERITY_NAMES[alert["severity"]],
        "priority": alert["priority"],
        "opened_at": alert["opened_at"].isoformat(),
        "observed_at": alert["first_seen_at"].isoformat(),
        "resident_id": alert["resident_id"],
        "resident_name": alert["full_name"],
        "grid_id": alert["grid_id"],
        "grid_name": alert["grid_name"],
        "device_id": alert["device_id"],
    }


def _age(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _location(conn, alert: dict) -> dict | None:
    lat, lon, acc, at, src = (
        alert["lat"],
        alert["lon"],
        alert["acc_m"],
        alert["first_seen_at"],
        None,
    )
    if lat is None and alert["device_id"]:
        row = conn.execute(
            """SELECT f.lat, f.lon, f.acc_m, f.t, f.src::text
               FROM location_fixes f JOIN devices d USING (device_id)
               WHERE f.device_id = %s AND f.t >= coalesce(d.bound_at, '-infinity')
               ORDER BY f.t DESC LIMIT 1""",
            (alert["device_id"],),
        ).fetchone()
        if row:
            lat, lon, acc, at, src = row
    if lat is None:
        return None
    g_lat, g_lon = wgs84_to_gcj02(lat, lon)
    return {
        "wgs84": {"lat": round(float(lat), 7), "lon": round(float(lon), 7)},
        "gcj02": {"lat": round(float(g_lat), 7), "lon": round(float(g_lon), 7)},
        "accuracy_m": float(acc) if acc is not None else None,
        "fix_time": at.isoformat(),
        "source": src,
    }


def _contacts(conn, resident_id: int | None) -> list[dict]:
    if resident_id is None:
        return []
    rows = conn.execute(
        """SELECT name, relation, phone FROM emergency_contacts WHERE resident_id = %s
           ORDER BY priority, contact_id""",
        (resident_id,),
    ).fetchall()
    return [{"name": n, "relation": r, "phone": p} for n, r, p in rows]


def dispatch_120_payload(conn, alert: dict, now: datetime) -> dict:
    """What a 120 dispatcher needs (documented in alerting/channels/schemas/dispatch_120.json)."""
    case = {
        "schema": "eldercare.dispatch_120.v1",
        "alert_id": alert["alert_id"],
        "alert_time": alert["opened_at"].isoformat(),
        "event_time": alert["first_seen_at"].isoformat(),
        "kind": alert["rule"],
        "severity": SEVERITY_NAMES[alert["severity"]],
        "resident": {
            "name": alert["full_name"],
            "age": _age(alert["birth_date"], now.date()),
            "sex": alert["sex"],
            "address": alert["address"],
            "phone": alert["phone"],
            "medical_notes": alert["medical_notes"] or "",
        },
        "location": _location(conn, alert),
        "emergency_contacts": _contacts(conn, alert["resident_id"]),
        "device_id": alert["device_id"],
    }
    # The same facts as one text a call-taker reads out (Chinese by default).
    case["text"] = texts.render(
        texts.message(alert=alert, target="gateway_120", channel="gateway_120", case=case)
    )
    return case


def enqueue_notifications(
    conn: psycopg.Connection,
    *,
    alert_id: int,
    targets: list[str],
    step: int,
    repetition: int,
    now: datetime,
    key_base: str | None = None,
    about: dict | None = None,
) -> list[str]:
    """Queue one notification per target of an escalation step; return the targets queued.

    `key_base` replaces the step/repetition part of the idempotency keys (for notifications
    that are not ladder steps, e.g. a repeated SOS press). `about`: what a page about a
    resolved alert says (e.g. a family's low rating); nothing makes such a page moot.
    """
    alert = load_alert(conn, alert_id)
    base = summary(alert)
    # The alert status that makes these pages moot (the dispatcher then cancels them); a
    # repeated SOS press (no step) pages whoever is on it even after acknowledgement.
    stop_on = (
        alert["policy_steps"][step].get("stop_on", "acknowledged") if step >= 0 else "resolved"
    )
    if about is not None:
        stop_on = None
    queued = []
    for target in targets:
        channel = TARGET_CHANNELS.get(target)
        if channel is None:
            continue
        if target in ("family", "gateway_120") and alert["resident_id"] is None:
            continue  # a band bound to nobody has no family and no address to send help to
        payload: dict = {"target": target, "alert": base, **(about or {})}
        if target == "family":
            payload["contacts"] = _contacts(conn, alert["resident_id"])
            if not payload["contacts"]:
                continue
        elif target == "gateway_120":
            payload = dispatch_120_payload(conn, alert, now)
        elif channel == "community_gateway":
            payload["role"] = target
        if alert["rule"] == "emergency_unreached":
            # Whoever is paged must be able to call 120 themselves.
            payload["emergencies"] = alert["details"].get("emergencies", [])
        key = f"alert-{alert_id}-{key_base or f'step-{step}-rep-{repetition}'}-{target}"
        held_until, group_key = None, None
        if alert["rule"] in GROUPABLE_RULES:
            held_until = now + STORM_WINDOW
            group_key = f"{alert['rule']}:{target}:{alert['grid_id']}"
        payload["idempotency_key"] = key
        _insert(
            conn,
            key=key,
            channel=channel,
            alert_id=alert_id,
            priority=0 if alert["rule"] in URGENT_RULES else alert["priority"],
            payload=payload,
            now=now,
            held_until=held_until,
            group_key=group_key,
            stop_on=stop_on,
            target=target,
        )
        queued.append(target)
    return queued
