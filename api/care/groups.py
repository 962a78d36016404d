"""Priority groups: living alone, disabled, low income. Declared flags on the resident, plus
suggestions from the data that a person confirms or rejects; lists for home visits.

What the data can say: *living alone* when no family member is linked and no other band was
ever with the resident at home (same hour, same ~100 m cell) in 30 days although the
resident's own band was home for a day's worth of hours; *disabled* when the resident's
median daily steps over 30 days are very low, or they asked for help (bookings) often.
Nothing in the data speaks to income: `low_income` is declared only.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from psycopg.types.json import Jsonb

from api.access import SCOPE_SQL, scope_params
from api.care.daily import WINDOW_DAYS
from api.db import DbConn
from api.deps import Principal
from api.errors import Conflict, NotFound
from api.residents import service as residents
from eldercare.i18n import DEFAULT_TIME_ZONE, text

GROUPS = ("living_alone", "disabled", "low_income")
HOME_MIN_HOURS = 24
LOW_MOBILITY_STEPS = 1000
LOW_MOBILITY_MIN_DAYS = 7
HELP_REQUESTS_30D = 4
REJECTED_QUIET = timedelta(days=90)

# Positions per resident and hour, in ~100 m cells; company = another band in the same cell
# and hour while the resident is within 150 m of home. Cells cut some true neighbours apart:
# a suggestion, never a verdict.
_EVIDENCE = f"""
WITH seen AS (
    SELECT r.resident_id, r.living_alone, r.disabled, r.home_lat, r.home_lon
    FROM residents r WHERE {SCOPE_SQL}
), pos AS (
    SELECT d.resident_id, time_bucket('1 hour', l.t) AS hour,
           round(avg(l.lat) * 1000) AS cell_lat, round(avg(l.lon) * 1000) AS cell_lon,
           avg(l.lat) AS lat, avg(l.lon) AS lon
    FROM location_fixes l JOIN devices d USING (device_id)
    WHERE d.resident_id IS NOT NULL AND l.t >= %(since)s
    GROUP BY 1, 2
), at_home AS (
    SELECT p.* FROM pos p JOIN seen s USING (resident_id)
    WHERE s.home_lat IS NOT NULL
      AND 6371000 * sqrt(power(radians(p.lat - s.home_lat), 2)
          + power(cos(radians(s.home_lat)) * radians(p.lon - s.home_lon), 2)) < 150
), company AS (
    SELECT h.resident_id, count(DISTINCT h.hour) AS home_hours,
           count(DISTINCT o.hour::date) AS company_days
    FROM at_home h LEFT JOIN pos o ON o.hour = h.hour AND o.cell_lat = h.cell_lat
         AND o.cell_lon = h.cell_lon AND o.resident_id <> h.resident_id
    GROUP BY 1
), asks AS (
    SELECT resident_id, count(*) AS requests FROM bookings
    WHERE requested_at >= %(since)s GROUP BY 1
), walks AS (
    SELECT resident_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY steps) AS steps,
           count(steps) AS step_days
    FROM care_days WHERE day >= %(since)s::date AND day < %(today)s GROUP BY 1
)
SELECT s.resident_id, s.living_alone, s.disabled,
       EXISTS (SELECT 1 FROM family_links f WHERE f.resident_id = s.resident_id
               AND f.withdrawn_at IS NULL) AS has_family,
       coalesce(c.home_hours, 0) AS home_hours, coalesce(c.company_days, 0) AS company_days,
       coalesce(a.requests, 0) AS requests, w.steps, coalesce(w.step_days, 0) AS step_days
FROM seen s LEFT JOIN company c USING (resident_id) LEFT JOIN asks a USING (resident_id)
LEFT JOIN walks w USING (resident_id)"""

_PROPOSE = """
INSERT INTO care_group_suggestions (resident_id, grp, evidence, created_at)
SELECT p.resident_id, p.grp, p.evidence, %(now)s
FROM jsonb_to_recordset(%(rows)s) AS p(resident_id bigint, grp text, evidence jsonb)
WHERE NOT EXISTS (
    SELECT 1 FROM care_group_suggestions o
    WHERE o.resident_id = p.resident_id AND o.grp = p.grp AND o.status = 'rejected'
      AND o.decided_at > %(quiet_since)s)
ON CONFLICT (resident_id, grp) WHERE status = 'pending' DO NOTHING"""

_SUGGESTION_COLUMNS = """s.suggestion_id, s.resident_id, r.full_name, r.grid_id, s.grp,
    s.evidence, s.status, s.created_at, s.decided_at, s.decided_by, s.note"""


def suggest(evidence: pd.DataFrame) -> list[dict]:
    """(resident_id, grp, evidence) for each group the figures point to and is not declared."""
    e = evidence
    alone = (
        ~e["living_alone"]
        & ~e["has_family"]
        & (e["home_hours"] >= HOME_MIN_HOURS)
        & (e["company_days"] == 0)
    )
    still = (e["step_days"] >= LOW_MOBILITY_MIN_DAYS) & (e["steps"] < LOW_MOBILITY_STEPS)
    asks = e["requests"] >= HELP_REQUESTS_30D
    out = [
        {"resident_id": int(r.resident_id), "grp": "living_alone",
         "evidence": {"alone": {"days": WINDOW_DAYS, "home_hours": int(r.home_hours)}}}
        for r in e[alone].itertuples()
    ]  # fmt: skip
    for r in e[~e["disabled"] & (still | asks)].itertuples():
        found: dict[str, dict] = {}
        if r.step_days >= LOW_MOBILITY_MIN_DAYS and r.steps < LOW_MOBILITY_STEPS:
            found["low_steps"] = {"days": int(r.step_days), "steps": int(r.steps)}
        if r.requests >= HELP_REQUESTS_30D:
            found["requests"] = {"days": WINDOW_DAYS, "requests": int(r.requests)}
        out.append({"resident_id": int(r.resident_id), "grp": "disabled", "evidence": found})
    return out


async def refresh_suggestions(*, conn: DbConn, principal: Principal, now: datetime) -> int:
    """Propose what the data shows for the caller's residents; how many new suggestions."""
    zone = ZoneInfo(DEFAULT_TIME_ZONE)
    today = now.astimezone(zone).date()
    params = {**scope_params(principal), "since": now - timedelta(days=WINDOW_DAYS), "today": today}
    evidence = pd.DataFrame(await (await conn.execute(_EVIDENCE, params)).fetchall())
    if evidence.empty:
        return 0
    rows = suggest(evidence)
    if not rows:
        return 0
    cur = await conn.execute(
        _PROPOSE, {"rows": Jsonb(rows), "now": now, "quiet_since": now - REJECTED_QUIET}
    )
    return cur.rowcount


def explain(suggestion: dict, locale: str) -> list[str]:
    """The evidence of a suggestion in words."""
    return [
        text(f"care.suggest.{kind}", locale, **figures)
        for kind, figures in suggestion["evidence"].items()
    ]


async def list_suggestions(*, conn: DbConn, principal: Principal, status: str) -> list[dict]:
    """Suggestions on residents the caller may see."""
    cur = await conn.execute(
        f"""SELECT {_SUGGESTION_COLUMNS}
            FROM care_group_suggestions s JOIN residents r USING (resident_id)
            WHERE s.status = %(status)s AND {SCOPE_SQL}
            ORDER BY s.suggestion_id""",
        {**scope_params(principal), "status": status},
    )
    return await cur.fetchall()


async def decide(
    *, conn: DbConn, principal: Principal, suggestion_id: int, confirm: bool, note: str,
    now: datetime,
) -> dict:  # fmt: skip
    """Confirm (the resident's flag is set) or reject a pending suggestion, as this person."""
    async with conn.transaction():
        row = await (
            await conn.execute(
                f"""SELECT s.suggestion_id, s.resident_id, s.grp, s.status
                    FROM care_group_suggestions s JOIN residents r USING (resident_id)
                    WHERE s.suggestion_id = %(sid)s AND {SCOPE_SQL} FOR UPDATE OF s""",
                {**scope_params(principal), "sid": suggestion_id},
            )
        ).fetchone()
        if row is None:
            raise NotFound("suggestion not found", suggestion_id=suggestion_id)
        if row["status"] != "pending":
            raise Conflict("already decided", status=row["status"])
        await conn.execute(
            """UPDATE care_group_suggestions SET status = %s, decided_at = %s, decided_by = %s,
                   note = %s WHERE suggestion_id = %s""",
            ("confirmed" if confirm else "rejected", now, principal.account_id, note,
             suggestion_id),
        )  # fmt: skip
        if confirm:
            await residents.update(
                conn=conn, resident_id=row["resident_id"], changes={row["grp"]: True}
            )
    cur = await conn.execute(
        f"""SELECT {_SUGGESTION_COLUMNS} FROM care_group_suggestions s
            JOIN residents r USING (resident_id) WHERE s.suggestion_id = %s""",
        (suggestion_id,),
    )
    return await cur.fetchone()  # type: ignore[return-value]


EXPORT_COLUMNS = ("full_name", "address", "phone", "grid", "birth_date", "living_alone",
                  "disabled", "low_income")  # fmt: skip


async def members(
    *, conn: DbConn, principal: Principal, grp: str, grid_id: int | None
) -> list[dict]:
    """Residents declared in a group, in the caller's reach, for a home-visit list."""
    # grp is one of GROUPS (checked by the route), so naming the column is safe.
    cur = await conn.execute(
        f"""SELECT r.resident_id, r.full_name, r.address, coalesce(r.phone, '') AS phone,
                   coalesce(g.name, '') AS grid, r.birth_date, r.living_alone, r.disabled,
                   r.low_income
            FROM residents r LEFT JOIN grids g USING (grid_id)
            WHERE r.{grp} AND {SCOPE_SQL}
              AND (%(grid)s::bigint IS NULL OR r.grid_id = %(grid)s)
            ORDER BY g.name, r.address, r.resident_id""",
        {**scope_params(principal), "grid": grid_id},
    )
    return await cur.fetchall()


def _cell(value: object, yes: str, no: str) -> str:
    """A value as text a spreadsheet shows and never runs (no formula injection)."""
    if isinstance(value, bool):
        return yes if value else no
    shown = "" if value is None else str(value)
    return "'" + shown if shown[:1] in ("=", "+", "-", "@", "\t", "\r") else shown


def _table(rows: list[dict], locale: str) -> list[list[str]]:
    yes, no = text("care.export.yes", locale), text("care.export.no", locale)
    header = [text(f"care.export.col.{c}", locale) for c in EXPORT_COLUMNS]
    return [header, *([_cell(r[c], yes, no) for c in EXPORT_COLUMNS] for r in rows)]


def to_csv(rows: list[dict], locale: str) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese right."""
    out = io.StringIO()
    csv.writer(out).writerows(_table(rows, locale))
    return ("\ufeff" + out.getvalue()).encode()


def to_xlsx(rows: list[dict], locale: str, title: str) -> bytes:
    """An Excel workbook with one sheet."""
    book = Workbook()
    sheet = book.active
    # Excel refuses these characters in a sheet's name ("失能/残疾" has one).
    sheet.title = re.sub(r"[\\/*?:\[\]]", "、", title)[:31]
    for line in _table(rows, locale):
        # A control character (which a name typed into the API may hold) cannot be stored in
        # a worksheet: it is shown as the replacement character, not a 500 for the whole list.
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("\ufffd", cell) for cell in line])
    for row in sheet.iter_rows():
        for cell in row:
            cell.data_type = "s"  # text, even where it starts like a formula
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
