"""Write a batch of parsed messages in one transaction: COPY to staging, then idempotent inserts.

Samples, by far the most rows, are copied straight into their table instead: a unique
violation means some were stored already (a redelivery), and only then do they take the
staging path, whose `INSERT .. ON CONFLICT DO NOTHING` costs about twice as much per row.
Either way the unique index decides, so a sample is stored exactly once.

This module owns the writes to telemetry_samples, location_fixes, device_events,
device_status and dead_letters.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import psycopg

from eldercare.datum import gcj02_to_wgs84
from ingest.contract import URGENT_EVENT_TYPES
from ingest.parse import ParsedMessage, Reject

_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS stage_samples (
    device_id text, t timestamptz, hr int2, sbp int2, dbp int2, steps int4, worn bool,
    temp_c float4, received_at timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_fixes (
    device_id text, t_ms int8, lat float8, lon float8, acc_m float4, src text,
    reported_crs text, received_ms int8) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_events (
    device_id text, event_id text, t_ms int8, type text, service text, lat float8,
    lon float8, acc_m float4, received_ms int8) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_status (
    device_id text, sent_ms int8, online bool, battery int2, charging bool, rssi int2,
    fw text, received_ms int8) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_dead_letters (
    received_ms int8, topic text, device_id text, reason text, detail text, payload bytea,
    fingerprint bytea) ON COMMIT DELETE ROWS;
"""

_MS = "'epoch'::timestamptz + {col} * interval '1 millisecond'"

_SAMPLE_COLUMNS = "device_id, t, hr, sbp, dbp, steps, worn, temp_c, received_at"
_SAMPLE_TYPES = [
    "text",
    "timestamptz",
    "int2",
    "int2",
    "int2",
    "int4",
    "bool",
    "float4",
    "timestamptz",
]

_INSERT_TELEMETRY = f"""
WITH ins AS (
    INSERT INTO telemetry_samples ({_SAMPLE_COLUMNS})
    SELECT {_SAMPLE_COLUMNS} FROM stage_samples
    ON CONFLICT DO NOTHING
    RETURNING device_id)
SELECT device_id, count(*) FROM ins GROUP BY device_id"""

_INSERT_FIXES = f"""
WITH ins AS (
    INSERT INTO location_fixes (device_id, t, lat, lon, acc_m, src, reported_crs, received_at)
    SELECT device_id, {_MS.format(col="t_ms")}, lat, lon, acc_m, src::fix_source, reported_crs,
           {_MS.format(col="received_ms")}
    FROM stage_fixes
    ON CONFLICT DO NOTHING
    RETURNING device_id)
SELECT device_id, count(*) FROM ins GROUP BY device_id"""

# An event's identity is (device, id); t is only in the unique index because hypertables
# require it, so an id already stored under another t is skipped explicitly.
_INSERT_EVENTS = f"""
INSERT INTO device_events (device_id, event_id, t, type, service, lat, lon, acc_m, received_at)
SELECT DISTINCT ON (s.device_id, s.event_id)
       s.device_id, s.event_id, {_MS.format(col="s.t_ms")}, s.type::event_type, s.service,
       s.lat, s.lon, s.acc_m, {_MS.format(col="s.received_ms")}
FROM stage_events s
WHERE NOT EXISTS (
    SELECT 1 FROM device_events e WHERE e.device_id = s.device_id AND e.event_id = s.event_id)
ORDER BY s.device_id, s.event_id, s.received_ms
ON CONFLICT DO NOTHING
RETURNING device_id, event_id, type::text, (extract(epoch FROM t) * 1000)::int8, service,
          lat, lon, acc_m"""

_UPSERT_STATUS = f"""
WITH ins AS (
    INSERT INTO device_status (device_id, sent_at, online, battery, charging, rssi, fw,
                               received_at)
    SELECT DISTINCT ON (device_id) device_id, {_MS.format(col="sent_ms")}, online, battery,
           charging, rssi, fw, {_MS.format(col="received_ms")}
    FROM stage_status
    ORDER BY device_id, sent_ms DESC, received_ms DESC
    ON CONFLICT (device_id) DO UPDATE SET
        sent_at = excluded.sent_at, online = excluded.online, battery = excluded.battery,
        charging = excluded.charging, rssi = excluded.rssi, fw = excluded.fw,
        received_at = excluded.received_at
    WHERE excluded.sent_at >= device_status.sent_at
    RETURNING device_id)
SELECT device_id FROM ins"""

_INSERT_DEAD_LETTERS = f"""
INSERT INTO dead_letters (received_at, topic, device_id, reason, detail, payload, fingerprint)
SELECT {_MS.format(col="received_ms")}, topic, device_id, reason::dead_letter_reason, detail,
       payload, fingerprint
FROM stage_dead_letters
ON CONFLICT (fingerprint) DO NOTHING"""


@dataclass
class StoreResult:
    """What one committed batch changed."""

    rows_in: Counter = field(default_factory=Counter)  # table -> rows offered
    rows_stored: Counter = field(default_factory=Counter)  # table -> rows new
    devices_with_new_rows: dict[str, set[str]] = field(default_factory=dict)
    new_events: list[dict] = field(default_factory=list)
    urgent_events: list[tuple[str, str]] = field(default_factory=list)  # (device, event id)
    dead_letters: Counter = field(default_factory=Counter)  # reason -> count

    @property
    def duplicates(self) -> Counter:
        return self.rows_in - self.rows_stored


def prepare_connection(conn: psycopg.Connection) -> None:
    """Create this session's staging tables (once per connection)."""
    with conn.transaction():
        conn.execute(_STAGING_DDL)  # type: ignore[arg-type]


def reject_unknown_devices(messages: list[ParsedMessage], known: set[str]) -> None:
    """Turn the rows of messages from unregistered or revoked bands into one dead letter each."""
    for msg in messages:
        if msg.device_id is None or msg.device_id in known or msg.kind is None:
            continue
        if msg.row_count:
            msg.samples, msg.fixes, msg.events, msg.status = [], [], [], None
            msg.rejects = [Reject("unknown_device", "band is not registered", msg.payload)]


def store_batch(conn: psycopg.Connection, messages: list[ParsedMessage]) -> StoreResult:
    """Store the rows and dead letters of `messages` in one transaction and commit."""
    result = StoreResult()
    convert_to_wgs84(messages)
    with conn.transaction(), conn.cursor() as cur:
        _store_samples(cur, messages, result)
        _copy_fixes(cur, messages, result)
        _copy_events(cur, messages, result)
        _copy_status(cur, messages, result)
        _copy_dead_letters(cur, messages, result)
        _insert_counted(cur, _INSERT_FIXES, "location", result)
        _insert_events(cur, result)
        _upsert_status(cur, result)
        if result.dead_letters:
            cur.execute(_INSERT_DEAD_LETTERS)
    return result


def store_isolating(conn: psycopg.Connection, messages: list[ParsedMessage]) -> StoreResult:
    """Store one message at a time; a message the database refuses becomes a dead letter."""
    total = StoreResult()
    for msg in messages:
        try:
            result = store_batch(conn, [msg])
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            detail = f"database refused the message: {exc.sqlstate} {type(exc).__name__}"
            msg.samples, msg.fixes, msg.events, msg.status = [], [], [], None
            msg.rejects = [Reject("schema", detail, msg.payload)]
            result = store_batch(conn, [msg])
        _merge(total, result)
    return total


def _merge(total: StoreResult, part: StoreResult) -> None:
    total.rows_in.update(part.rows_in)
    total.rows_stored.update(part.rows_stored)
    total.dead_letters.update(part.dead_letters)
    total.new_events.extend(part.new_events)
    total.urgent_events.extend(part.urgent_events)
    for table, devices in part.devices_with_new_rows.items():
        total.devices_with_new_rows.setdefault(table, set()).update(devices)


def _insert_counted(cur: psycopg.Cursor, sql: str, table: str, result: StoreResult) -> None:
    if not result.rows_in[table]:
        result.devices_with_new_rows[table] = set()
        return
    cur.execute(sql)  # type: ignore[arg-type]
    counts = cur.fetchall()
    result.rows_stored[table] = sum(n for _, n in counts)
    result.devices_with_new_rows[table] = {device for device, _ in counts}


def _insert_events(cur: psycopg.Cursor, result: StoreResult) -> None:
    if not result.rows_in["events"]:
        return
    cur.execute(_INSERT_EVENTS)
    keys = ("device_id", "event_id", "type", "t_ms", "service", "lat", "lon", "acc_m")
    result.new_events = [dict(zip(keys, row, strict=True)) for row in cur.fetchall()]
    result.rows_stored["events"] = len(result.new_events)


def _upsert_status(cur: psycopg.Cursor, result: StoreResult) -> None:
    devices: set[str] = set()
    if result.rows_in["status"]:
        cur.execute(_UPSERT_STATUS)
        devices = {row[0] for row in cur.fetchall()}
    result.rows_stored["status"] = len(devices)
    result.devices_with_new_rows["status"] = devices


def _copy_rows(cur: psycopg.Cursor, table: str, types: list[str], rows: list[tuple]) -> None:
    with cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _store_samples(cur: psycopg.Cursor, messages: list[ParsedMessage], result: StoreResult) -> None:
    """COPY the samples into telemetry_samples; if any is stored already, dedupe via staging."""
    rows = _sample_rows(messages)
    result.rows_in["telemetry"] = len(rows)
    result.devices_with_new_rows["telemetry"] = set()
    if not rows:
        return
    try:
        with cur.connection.transaction():  # a savepoint: a duplicate undoes only this COPY
            _copy_rows(cur, f"telemetry_samples ({_SAMPLE_COLUMNS})", _SAMPLE_TYPES, rows)
    except psycopg.errors.UniqueViolation:
        _copy_rows(cur, "stage_samples", _SAMPLE_TYPES, rows)
        _insert_counted(cur, _INSERT_TELEMETRY, "telemetry", result)
        return
    result.rows_stored["telemetry"] = len(rows)
    result.devices_with_new_rows["telemetry"] = {row[0] for row in rows}


def _sample_rows(messages: list[ParsedMessage]) -> list[tuple]:
    rows = []
    for m in messages:
        if m.samples:
            received_at = _timestamp(m.received_ms)
            rows += [(m.device_id, _timestamp(t), *rest, received_at) for t, *rest in m.samples]
    return rows


def _timestamp(ms: int) -> datetime:
    """Exact to the millisecond: a float's error at today's epoch seconds is under 0.5 µs."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def _copy_fixes(cur: psycopg.Cursor, messages: list[ParsedMessage], result: StoreResult) -> None:
    rows = [(m.device_id, *fix, m.received_ms) for m in messages for fix in m.fixes]
    result.rows_in["location"] = len(rows)
    if rows:
        types = ["text", "int8", "float8", "float8", "float4", "text", "text", "int8"]
        _copy_rows(cur, "stage_fixes", types, rows)


def convert_to_wgs84(messages: list[ParsedMessage]) -> None:
    """Replace GCJ-02 positions of fixes and events with WGS-84, in one vectorised call.

    The tuple keeps the reported datum's name so the table records what the band sent.
    """
    places = [
        (m, kind, i)
        for m in messages
        for kind, items in (("fix", m.fixes), ("event", m.events))
        for i, item in enumerate(items)
        if item[-1] == "gcj02" and _lat_lon(kind, item)[0] is not None
    ]
    if not places:
        return
    coords = np.array([_lat_lon(kind, _item(m, kind, i)) for m, kind, i in places], dtype=float)
    lat, lon = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
    for k, (m, kind, i) in enumerate(places):
        item = list(_item(m, kind, i))
        lat_at = 1 if kind == "fix" else 4
        item[lat_at], item[lat_at + 1] = float(lat[k]), float(lon[k])
        (m.fixes if kind == "fix" else m.events)[i] = tuple(item)


def _item(m: ParsedMessage, kind: str, i: int) -> tuple:
    return m.fixes[i] if kind == "fix" else m.events[i]


def _lat_lon(kind: str, item: tuple) -> tuple:
    return (item[1], item[2]) if kind == "fix" else (item[4], item[5])


def _copy_events(cur: psycopg.Cursor, messages: list[ParsedMessage], result: StoreResult) -> None:
    rows = []
    for m in messages:
        for event_id, t_ms, type_, service, lat, lon, acc, _crs in m.events:
            rows.append((m.device_id, event_id, t_ms, type_, service, lat, lon, acc, m.received_ms))
            if type_ in URGENT_EVENT_TYPES and m.device_id is not None:
                result.urgent_events.append((m.device_id, event_id))
    result.rows_in["events"] = len(rows)
    if rows:
        types = ["text", "text", "int8", "text", "text", "float8", "float8", "float4", "int8"]
        _copy_rows(cur, "stage_events", types, rows)


def _copy_status(cur: psycopg.Cursor, messages: list[ParsedMessage], result: StoreResult) -> None:
    rows = [(m.device_id, *m.status, m.received_ms) for m in messages if m.status is not None]
    result.rows_in["status"] = len(rows)
    if rows:
        types = ["text", "int8", "bool", "int2", "bool", "int2", "text", "int8"]
        _copy_rows(cur, "stage_status", types, rows)


def _copy_dead_letters(
    cur: psycopg.Cursor, messages: list[ParsedMessage], result: StoreResult
) -> None:
    rows = []
    for m in messages:
        for reject in m.rejects:
            rows.append(
                (
                    m.received_ms,
                    m.topic,
                    m.device_id,
                    reject.reason,
                    reject.detail[:2000],
                    reject.payload,
                    _fingerprint(m.topic, reject),
                )
            )
            result.dead_letters[reject.reason] += 1
    if rows:
        types = ["int8", "text", "text", "text", "text", "bytea", "bytea"]
        _copy_rows(cur, "stage_dead_letters", types, rows)


def _fingerprint(topic: str, reject: Reject) -> bytes:
    """Same bad input, same fingerprint: re-sent or redelivered rejects are stored once."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (
        topic.encode(),
        reject.payload,
        reject.reason.encode(),
        str(reject.index).encode(),
    ):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.digest()
