"""Geofences per resident, stored in WGS-84 whatever datum they were drawn in."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from api.db import DbConn, returned_row
from api.errors import NotFound
from api.geofences.models import GeofenceWrite
from eldercare.datum import Datum, from_datum, to_datum

COLUMNS = """geofence_id, resident_id, name, shape, center_lat, center_lon, radius_m, polygon,
    input_crs, active_from, active_until, enabled, created_at, updated_at"""


def _storage_fields(body: GeofenceWrite) -> dict[str, Any]:
    """Columns for a geofence, its coordinates converted to WGS-84."""
    fields: dict[str, Any] = {
        "name": body.name,
        "input_crs": body.crs,
        "enabled": body.enabled,
        "active_from": body.schedule.active_from if body.schedule else None,
        "active_until": body.schedule.active_until if body.schedule else None,
        "center_lat": None,
        "center_lon": None,
        "radius_m": None,
        "polygon": None,
    }
    if body.geometry.type == "Point":
        lon, lat = body.geometry.coordinates
        fields["center_lat"], fields["center_lon"] = from_datum(lat, lon, body.crs)
        fields["shape"], fields["radius_m"] = "circle", body.radius_m
    else:
        rings = [
            [list(reversed(from_datum(lat, lon, body.crs))) for lon, lat in ring]
            for ring in body.geometry.coordinates
        ]
        fields["shape"], fields["polygon"] = "polygon", Jsonb(rings)
    return fields


def to_read(row: dict, datum: Datum) -> dict:
    """A stored geofence as GeoJSON in the datum asked for."""
    if row["shape"] == "circle":
        lat, lon = to_datum(row["center_lat"], row["center_lon"], datum)
        geometry = {"type": "Point", "coordinates": (lon, lat)}
    else:
        rings = [
            [tuple(reversed(to_datum(lat, lon, datum))) for lon, lat in ring]
            for ring in row["polygon"]
        ]
        geometry = {"type": "Polygon", "coordinates": rings}
    schedule = None
    if row["active_from"] is not None:
        schedule = {"active_from": row["active_from"], "active_until": row["active_until"]}
    return {**row, "datum": datum, "geometry": geometry, "schedule": schedule}


async def create(*, conn: DbConn, resident_id: int, body: GeofenceWrite) -> dict:
    """A new geofence for a resident."""
    cur = await conn.execute(
        f"""INSERT INTO geofences (resident_id, name, shape, center_lat, center_lon, radius_m,
                polygon, input_crs, active_from, active_until, enabled)
            VALUES (%(rid)s, %(name)s, %(shape)s, %(center_lat)s, %(center_lon)s, %(radius_m)s,
                %(polygon)s, %(input_crs)s, %(active_from)s, %(active_until)s, %(enabled)s)
            RETURNING {COLUMNS}""",
        {**_storage_fields(body), "rid": resident_id},
    )
    return await returned_row(cur)


async def get(*, conn: DbConn, resident_id: int, geofence_id: int) -> dict | None:
    """One geofence of this resident, or None."""
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM geofences WHERE geofence_id = %s AND resident_id = %s",
        (geofence_id, resident_id),
    )
    return await cur.fetchone()


async def get_or_raise(*, conn: DbConn, resident_id: int, geofence_id: int) -> dict:
    """One geofence of this resident, or NotFound."""
    row = await get(conn=conn, resident_id=resident_id, geofence_id=geofence_id)
    if row is None:
        raise NotFound("geofence not found", geofence_id=geofence_id)
    return row


async def list_for_resident(
    *, conn: DbConn, resident_id: int, limit: int, offset: int
) -> list[dict]:
    """A resident's geofences by id."""
    cur = await conn.execute(
        f"""SELECT {COLUMNS} FROM geofences WHERE resident_id = %s
            ORDER BY geofence_id LIMIT %s OFFSET %s""",
        (resident_id, limit, offset),
    )
    return await cur.fetchall()


async def replace(*, conn: DbConn, resident_id: int, geofence_id: int, body: GeofenceWrite) -> dict:
    """Replace a geofence's shape, name, schedule and state."""
    cur = await conn.execute(
        f"""UPDATE geofences SET name = %(name)s, shape = %(shape)s, center_lat = %(center_lat)s,
                center_lon = %(center_lon)s, radius_m = %(radius_m)s, polygon = %(polygon)s,
                input_crs = %(input_crs)s, active_from = %(active_from)s,
                active_until = %(active_until)s, enabled = %(enabled)s, updated_at = now()
            WHERE geofence_id = %(gid)s AND resident_id = %(rid)s RETURNING {COLUMNS}""",
        {**_storage_fields(body), "gid": geofence_id, "rid": resident_id},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound("geofence not found", geofence_id=geofence_id)
    return row


async def delete(*, conn: DbConn, resident_id: int, geofence_id: int) -> None:
    """Delete a geofence of this resident, or NotFound."""
    cur = await conn.execute(
        "DELETE FROM geofences WHERE geofence_id = %s AND resident_id = %s",
        (geofence_id, resident_id),
    )
    if cur.rowcount == 0:
        raise NotFound("geofence not found", geofence_id=geofence_id)
