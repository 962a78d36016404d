"""A demo community for development: grids, staff, residents, families, fences, bound bands.

`eldercare run` calls `seed_demo_community` with the simulated fleet's bands and where their
wearers live, so a newcomer sees alerts about people within a minute. It is idempotent (a
band already bound to a resident is left alone; accounts and grids are found by name) and
refuses to run outside development: it writes one known password on every account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import psycopg

from api.accounts.service import hash_password
from eldercare.settings import Settings

log = logging.getLogger(__name__)

DEMO_LOCK = 0x64656D6F  # pg advisory lock: one seeding at a time
GRIDS = ("幸福里社区 第一网格", "幸福里社区 第二网格")
# (username, full name, role, grid index or None)
STAFF = (
    ("duty", "值班员 王芳", "duty_staff", None),
    ("grid1", "网格员 李强", "grid_worker", 0),
    ("director1", "社区主任 张敏", "community_director", 0),
    ("grid2", "网格员 陈杰", "grid_worker", 1),
    ("director2", "社区主任 刘洋", "community_director", 1),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖"
GIVEN = (
    "秀英",
    "桂兰",
    "玉兰",
    "建国",
    "志强",
    "淑珍",
    "凤英",
    "国华",
    "德明",
    "素梅",
    "文斌",
    "丽华",
)
RELATIONS = ("女儿", "儿子", "儿媳", "外孙女")
BOUND_SINCE = timedelta(days=1)  # before the demo fleet's replayed past, so the engine uses it


class DemoRefused(RuntimeError):
    """The demo community is only for a development database."""


@dataclass(frozen=True)
class DemoBand:
    """A simulated band and where its wearer lives (WGS-84)."""

    device_id: str
    home_lat: float
    home_lon: float


def seed_demo_community(
    conn: psycopg.Connection, settings: Settings, bands: list[DemoBand], fence_radius_m: float
) -> int:
    """Seed the community around `bands`; return how many residents were created.

    Each resident's home fence is a circle of `fence_radius_m` around their home.
    """
    if settings.environment != "development":
        raise DemoRefused(
            f"the demo community is seeded only with ELDERCARE_ENVIRONMENT=development "
            f"(this is {settings.environment})"
        )
    password_hash = hash_password(settings.api_demo_password.get_secret_value())
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (DEMO_LOCK,))
        grid_ids = [_grid(conn, name) for name in GRIDS]
        staff = {u: _account(conn, u, n, r, password_hash) for u, n, r, _g in STAFF}
        for username, _name, _role, grid in STAFF:
            if grid is not None:
                conn.execute(
                    """INSERT INTO account_grids (account_id, grid_id) VALUES (%s, %s)
                       ON CONFLICT DO NOTHING""",
                    (staff[username], grid_ids[grid]),
                )
        conn.execute(
            "INSERT INTO devices (device_id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
            ([b.device_id for b in bands],),
        )
        created = 0
        for number, band in enumerate(bands, start=1):
            bound = conn.execute(
                "SELECT resident_id FROM devices WHERE device_id = %s", (band.device_id,)
            ).fetchone()
            if bound is not None and bound[0] is not None:
                continue
            grid_id = grid_ids[(number - 1) % len(grid_ids)]
            _resident(conn, number, band, grid_id, staff["duty"], password_hash, fence_radius_m)
            created += 1
    log.info("demo community: %s residents created, %s bands in the fleet", created, len(bands))
    return created


def _id(conn: psycopg.Connection, sql: str, params: tuple) -> int:
    """The id the statement returns (it always returns one row)."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None, sql
    return int(row[0])


def _grid(conn: psycopg.Connection, name: str) -> int:
    conn.execute("INSERT INTO grids (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (name,))
    return _id(conn, "SELECT grid_id FROM grids WHERE name = %s", (name,))


def _account(
    conn: psycopg.Connection, username: str, full_name: str, role: str, password_hash: str
) -> int:
    conn.execute(
        """INSERT INTO accounts (username, full_name, password_hash, role)
           VALUES (%s, %s, %s, %s) ON CONFLICT (username) DO NOTHING""",
        (username, full_name, password_hash, role),
    )
    return _id(conn, "SELECT account_id FROM accounts WHERE username = %s", (username,))


def demo_name(number: int) -> str:
    """A resident's name, the same for the same number."""
    return SURNAMES[(number * 7) % len(SURNAMES)] + GIVEN[number % len(GIVEN)]


def _resident(
    conn: psycopg.Connection,
    number: int,
    band: DemoBand,
    grid_id: int,
    recorded_by: int,
    password_hash: str,
    fence_radius_m: float,
) -> None:
    """One resident with risk flags, two contacts, a family account with consent, a fence."""
    sex = "female" if number % 3 else "male"
    resident_id = _id(
        conn,
        """INSERT INTO residents (full_name, birth_date, sex, address, phone, grid_id,
               living_alone, disabled, low_income, medical_notes, home_lat, home_lon)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING resident_id""",
        (
            demo_name(number),
            date(1936 + number % 20, 1 + number % 12, 1 + number % 28),
            sex,
            f"幸福里 {1 + number // 10} 号楼 {1 + number % 3} 单元 {101 + number % 6 * 100}",
            f"1390427{number:04d}",
            grid_id,
            number % 3 == 1,
            number % 10 == 4,
            number % 7 == 2,
            ("高血压" if number % 4 == 0 else ""),
            band.home_lat,
            band.home_lon,
        ),
    )
    relation = RELATIONS[number % len(RELATIONS)]
    for priority, (name, phone) in enumerate(
        ((f"{demo_name(number)[0]}家属", f"1380427{number:04d}"), ("社区服务站", "04272800000")),
        start=1,
    ):
        conn.execute(
            """INSERT INTO emergency_contacts (resident_id, name, relation, phone, priority)
               VALUES (%s, %s, %s, %s, %s)""",
            (resident_id, name, relation if priority == 1 else "社区", phone, priority),
        )
    family = _account(
        conn, f"family{number:02d}", f"{demo_name(number)}的{relation}", "family", password_hash
    )
    conn.execute(
        """INSERT INTO family_links (resident_id, account_id, relation, consent_method,
               consent_note, consent_recorded_by)
           VALUES (%s, %s, %s, 'written', %s, %s)""",
        (resident_id, family, relation, "演示数据：书面同意书", recorded_by),
    )
    conn.execute(
        """INSERT INTO geofences (resident_id, name, shape, center_lat, center_lon, radius_m)
           VALUES (%s, '家', 'circle', %s, %s, %s)""",
        (resident_id, band.home_lat, band.home_lon, fence_radius_m),
    )
    conn.execute(
        """UPDATE devices SET resident_id = %s, bound_at = now() - %s WHERE device_id = %s""",
        (resident_id, BOUND_SINCE, band.device_id),
    )
