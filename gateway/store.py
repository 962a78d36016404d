"""The gateway's database work: which watches are provisioned (or revoked), commands that
wait for a watch, cell towers, observations, dead letters. Synchronous psycopg; the server
runs it on a worker thread.

This module owns the writes to cell_towers, watch_observations and watch_pending_commands;
dead letters are written by ingest's store, which owns that table.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import psycopg

from gateway.messages import Cell, WifiAp
from gateway.translate import Place
from ingest.parse import ParsedMessage, Reject
from ingest.store import prepare_connection, store_batch

MIN_CELL_ACC_M = 100.0  # a tower's range is rarely known better than this


@dataclass(frozen=True, slots=True)
class Band:
    """A provisioned watch: its IMEI and how far its clock runs ahead of UTC."""

    watch_id: str
    imei: str
    offset_s: int | None  # None: the gateway's default


def find_band(conn: psycopg.Connection, watch_id: str) -> Band | None:
    """The active band that speaks as `watch_id`, or None."""
    row = conn.execute(
        """SELECT device_id, watch_utc_offset_min FROM devices
           WHERE watch_id = %s AND state = 'active'""",
        (watch_id,),
    ).fetchone()
    if row is None:
        return None
    return Band(watch_id, row[0], None if row[1] is None else row[1] * 60)


def set_watch_id(
    conn: psycopg.Connection, *, device_id: str, watch_id: str | None, offset_min: int | None
) -> None:
    """Record the protocol id (and clock offset) a band's watch speaks with."""
    conn.execute(
        "UPDATE devices SET watch_id = %s, watch_utc_offset_min = %s WHERE device_id = %s",
        (watch_id, offset_min, device_id),
    )


def queue_command(
    conn: psycopg.Connection, *, device_id: str, kind: str, content: bytes, ttl_s: int, cap: int
) -> None:
    """Keep a command for a watch that is away; beyond `cap` per band the oldest go."""
    with conn.transaction():
        conn.execute(
            """INSERT INTO watch_pending_commands (device_id, kind, content, expires_at)
               VALUES (%s, %s, %s, now() + make_interval(secs => %s))""",
            (device_id, kind, content, ttl_s),
        )
        conn.execute(
            """DELETE FROM watch_pending_commands
               WHERE device_id = %s AND command_seq <= (
                   SELECT command_seq FROM watch_pending_commands WHERE device_id = %s
                   ORDER BY command_seq DESC OFFSET %s LIMIT 1)""",
            (device_id, device_id, cap),
        )


def take_commands(conn: psycopg.Connection, *, device_id: str) -> list[tuple[str, bytes]]:
    """The band's waiting commands that have not expired, oldest first, as (kind, content);
    all of its waiting commands are gone afterwards."""
    rows = conn.execute(
        """DELETE FROM watch_pending_commands WHERE device_id = %s
           RETURNING command_seq, kind, content, expires_at > now()""",
        (device_id,),
    ).fetchall()
    return [(kind, bytes(content)) for _seq, kind, content, live in sorted(rows) if live]


def revoked_among(conn: psycopg.Connection, *, device_ids: list[str]) -> list[str]:
    """Those of `device_ids` that are no longer active (revoked or gone)."""
    rows = conn.execute(
        """SELECT id FROM unnest(%s::text[]) AS ids(id)
           WHERE NOT EXISTS (
               SELECT 1 FROM devices d WHERE d.device_id = ids.id AND d.state = 'active')""",
        (device_ids,),
    ).fetchall()
    return [row[0] for row in rows]


def dead_letter(
    conn: psycopg.Connection,
    *,
    watch_id: str | None,
    imei: str | None,
    reason: str,
    detail: str,
    raw: bytes,
    received_ms: int,
) -> None:
    """Record a frame the gateway could not use, with its raw bytes."""
    topic = f"watch/{watch_id or '?'}"
    msg = ParsedMessage(
        topic=topic, payload=raw, device_id=imei, kind=None, received_ms=received_ms
    )
    msg.rejects.append(Reject(reason, detail, raw))
    prepare_connection(conn)
    store_batch(conn, [msg])


def resolve_cells(conn: psycopg.Connection, cells: Iterable[Cell]) -> Place | None:
    """A position from the imported tower table: the towers' signal-weighted centre."""
    keys = [(c.mcc, c.mnc, c.lac, c.cid, c.signal) for c in cells]
    if not keys:
        return None
    rows = conn.execute(
        """SELECT t.lat, t.lon, t.range_m, k.signal
           FROM cell_towers t
           JOIN unnest(%s::int[], %s::int[], %s::int[], %s::int8[], %s::int[])
                AS k(mcc, mnc, lac, cid, signal)
             ON (t.mcc, t.mnc, t.lac, t.cid) = (k.mcc, k.mnc, k.lac, k.cid)""",
        [list(column) for column in zip(*keys, strict=True)],
    ).fetchall()
    if not rows:
        return None
    weights = [max(1, signal) for *_, signal in rows]
    total = sum(weights)
    lat = sum(r[0] * w for r, w in zip(rows, weights, strict=True)) / total
    lon = sum(r[1] * w for r, w in zip(rows, weights, strict=True)) / total
    acc = max(MIN_CELL_ACC_M, max(float(r[2]) for r in rows))
    return Place(lat, lon, acc, "cell")


def record_observation(
    conn: psycopg.Connection,
    *,
    imei: str,
    t_ms: int,
    cells: Iterable[Cell],
    wifi: Iterable[WifiAp],
    place: Place | None,
) -> None:
    """Keep what a watch heard without a fix, and where the tower table put it."""
    conn.execute(
        """INSERT INTO watch_observations
               (device_id, t, cells, wifi, resolved_lat, resolved_lon, resolved_acc_m,
                received_at)
           VALUES (%s, to_timestamp(%s / 1000.0), %s::text::jsonb, %s::text::jsonb, %s, %s, %s,
                   now())
           ON CONFLICT DO NOTHING""",
        (
            imei,
            t_ms,
            orjson.dumps([_cell(c) for c in cells]).decode(),
            orjson.dumps(
                [{"mac": w.mac, "signal": w.signal, "name": w.name} for w in wifi]
            ).decode(),
            place.lat if place else None,
            place.lon if place else None,
            place.acc_m if place else None,
        ),
    )


def _cell(c: Cell) -> dict:
    return {"mcc": c.mcc, "mnc": c.mnc, "lac": c.lac, "cid": c.cid, "signal": c.signal}


def import_cell_towers(conn: psycopg.Connection, path: Path) -> int:
    """Load an OpenCellID CSV export (radio,mcc,net,area,cell,unit,lon,lat,range,...)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            """CREATE TEMP TABLE stage_towers (LIKE cell_towers INCLUDING DEFAULTS)
               ON COMMIT DROP"""
        )
        columns = "radio, mcc, mnc, lac, cid, lon, lat, range_m"
        with cur.copy(f"COPY stage_towers ({columns}) FROM STDIN") as copy:
            for row in _tower_rows(path):
                copy.write_row(row)
        cur.execute(
            """INSERT INTO cell_towers
               SELECT DISTINCT ON (mcc, mnc, lac, cid) * FROM stage_towers
               ON CONFLICT (mcc, mnc, lac, cid) DO UPDATE SET
                   radio = excluded.radio, lat = excluded.lat, lon = excluded.lon,
                   range_m = excluded.range_m"""
        )
        count = cur.rowcount
    return count


def _tower_rows(path: Path) -> Iterator[tuple]:
    with path.open(newline="") as f:
        for record in csv.DictReader(f):
            yield (
                record["radio"],
                int(record["mcc"]),
                int(record["net"]),
                int(record["area"]),
                int(record["cell"]),
                float(record["lon"]),
                float(record["lat"]),
                int(float(record["range"] or 0)),
            )
