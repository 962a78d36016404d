"""The daily check list and the calls and visits that answer it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from api.access import SCOPE_SQL, scope_params
from api.care import rollup
from api.care.daily import (
    DEFAULT_THRESHOLDS,
    WINDOW_DAYS,
    CareThresholds,
    Community,
    find_reasons,
)
from api.db import DbConn
from api.deps import Principal
from api.requests.queries import PROMISE_WARN
from eldercare.i18n import DEFAULT_TIME_ZONE, local_time, text

# Alerts that already told staff about a vital sign: drift is not a reason while one exists.
VITAL_RULES = ("tachycardia", "bradycardia", "hypotension", "hypertensive_crisis",
               "baseline_deviation")  # fmt: skip
LOW_SEVERITY_MAX = 2
# Reasons in the order staff should read them, most pressing first.
REASON_ORDER = (
    "not_reached",
    "no_data",
    "night_out",
    "vitals_drift",
    "not_worn",
    "low_steps",
    "unanswered_request",
    "low_alerts",
)

# A further source of reasons: (conn, resident ids, now) -> frame of (resident_id, figures...).
ReasonSource = Callable[[DbConn, list[int], datetime], Awaitable[pd.DataFrame]]

# Residents' requests still without a public reply when the 24 h first-answer promise is
# close (requests' own warning age): someone should call before the resident gives up.
_UNANSWERED = """
SELECT resident_id, count(*) AS count,
       floor(extract(epoch FROM %(now)s - min(opened_at)) / 3600)::int AS hours
FROM requests
WHERE resident_id = ANY(%(ids)s) AND status <> 'resolved' AND first_reply_at IS NULL
  AND opened_at <= %(now)s - %(warn)s
GROUP BY resident_id"""


async def unanswered_requests(conn: DbConn, ids: list[int], now: datetime) -> pd.DataFrame:
    """Per resident: how many requests wait for a first answer, and the oldest one's hours."""
    cur = await conn.execute(_UNANSWERED, {"ids": ids, "now": now, "warn": PROMISE_WARN})
    rows = await cur.fetchall()
    return pd.DataFrame(rows, columns=["resident_id", "count", "hours"])


EXTRA_SOURCES: dict[str, ReasonSource] = {"unanswered_request": unanswered_requests}

# The residents on the caller's list: in reach, in the grid asked for.
_SEEN = f"""SELECT r.resident_id FROM residents r
    WHERE {SCOPE_SQL} AND (%(grid)s::bigint IS NULL OR r.grid_id = %(grid)s)"""

# ... packed as (id, wears an active band) in id order: a whole community is one value.
_IN_VIEW = f"""
SELECT string_agg(int8send(r.resident_id) || boolsend(b.resident_id IS NOT NULL), ''
                  ORDER BY r.resident_id) AS packed
FROM residents r
LEFT JOIN (SELECT DISTINCT resident_id FROM devices WHERE state = 'active') b USING (resident_id)
WHERE {SCOPE_SQL} AND (%(grid)s::bigint IS NULL OR r.grid_id = %(grid)s)"""
IN_VIEW_LAYOUT = np.dtype([("resident_id", ">i8"), ("has_band", "?")])

# Names and contact details, only of the few residents on the list.
_PEOPLE = """SELECT resident_id, full_name, grid_id, phone, address FROM residents
    WHERE resident_id = ANY(%s)"""

_ALERTS = f"""
SELECT resident_id,
       count(*) FILTER (WHERE severity <= %(low)s AND opened_at >= %(week)s) AS low_alerts,
       bool_or(rule = ANY(%(vital)s) AND last_seen_at >= %(recent)s) AS vital_recent
FROM alerts JOIN ({_SEEN}) AS seen USING (resident_id)
WHERE opened_at >= %(week)s OR last_seen_at >= %(recent)s
GROUP BY resident_id"""

# Calls and visits: today's last one, and how many failed since the resident was last reached.
_CONTACTS = f"""
SELECT c.resident_id,
       count(*) FILTER (WHERE c.outcome = 'not_reached'
                        AND c.at > coalesce(lr.at, '-infinity')) AS not_reached,
       (array_agg(c.outcome ORDER BY c.at DESC))[1] AS last_outcome,
       max(c.at) AS last_at
FROM care_contacts c JOIN ({_SEEN}) AS seen USING (resident_id)
LEFT JOIN LATERAL (
    SELECT max(at) AS at FROM care_contacts
    WHERE resident_id = c.resident_id AND outcome = 'reached') lr ON true
GROUP BY c.resident_id"""


async def _by_resident(conn: DbConn, sql: str, params: dict, ids: np.ndarray) -> pd.DataFrame:
    """A per-resident query as a frame aligned to `ids` (missing residents: NaN)."""
    rows = await (await conn.execute(sql, params)).fetchall()
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(index=pd.Index(ids, name="resident_id"))
    return frame.set_index("resident_id").reindex(ids)


async def daily_list(
    *,
    conn: DbConn,
    principal: Principal,
    now: datetime,
    locale: str,
    grid_id: int | None = None,
    thresholds: CareThresholds = DEFAULT_THRESHOLDS,
) -> list[dict]:
    """Today's residents to call or visit, reasons first-things-first, with their figures.

    Reads only stored rollups (kept by `eldercare jobs`), never raw samples.
    """
    async with conn.transaction():
        # Compiling these short scans over a whole community costs more than it saves.
        await conn.execute("SET LOCAL jit = off")
        return await _daily_list(
            conn=conn, principal=principal, now=now, locale=locale, grid_id=grid_id,
            thresholds=thresholds,
        )  # fmt: skip


async def _daily_list(
    *,
    conn: DbConn,
    principal: Principal,
    now: datetime,
    locale: str,
    grid_id: int | None,
    thresholds: CareThresholds,
) -> list[dict]:
    zone = ZoneInfo(DEFAULT_TIME_ZONE)
    today = now.astimezone(zone).date()
    params = {**scope_params(principal), "grid": grid_id}
    row = await (await conn.execute(_IN_VIEW, params, binary=True)).fetchone()
    in_view = np.frombuffer((row and row["packed"]) or b"", dtype=IN_VIEW_LAYOUT)
    if not len(in_view):
        return []
    ids = in_view["resident_id"].astype(np.int64)
    recent_from = datetime.combine(
        today - timedelta(days=thresholds.recent_days), datetime.min.time(), zone
    )
    alerts = await _by_resident(
        conn,
        _ALERTS,
        {
            **params,
            "low": LOW_SEVERITY_MAX,
            "week": now - timedelta(days=7),
            "recent": recent_from,
            "vital": list(VITAL_RULES),
        },
        ids,
    )
    contacts = await _by_resident(conn, _CONTACTS, params, ids)
    community = Community(
        resident_ids=ids,
        has_band=in_view["has_band"].astype(bool),
        days=await rollup.read_days(conn=conn, today=today, days=WINDOW_DAYS),
        low_alerts_week=_column(alerts, "low_alerts", 0).astype(np.int64),
        vital_alert_recent=_column(alerts, "vital_recent", False).astype(bool),
        not_reached=_column(contacts, "not_reached", 0).astype(np.int64),
    )
    found = find_reasons(community, now_s=now.timestamp(), th=thresholds)
    for code, source in EXTRA_SOURCES.items():
        extra = await source(conn, ids.tolist(), now)
        if len(extra):
            extra = extra.assign(row=pd.Index(ids).get_indexer(extra["resident_id"]))
            found[code] = extra.drop(columns="resident_id")
    listed = np.unique(np.concatenate([f["row"].to_numpy(dtype=np.int64) for f in found.values()]
                                      or [np.zeros(0, np.int64)]))  # fmt: skip
    cur = await conn.execute(_PEOPLE, (ids[listed].tolist(),))
    people = {person["resident_id"]: person for person in await cur.fetchall()}
    return _items(ids, people, contacts, found, locale, zone, today)


def _column(frame: pd.DataFrame, name: str, default: object) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), default)
    return frame[name].fillna(default).to_numpy()


def _items(
    ids: np.ndarray,
    people: dict[int, dict],
    contacts: pd.DataFrame,
    found: dict[str, pd.DataFrame],
    locale: str,
    zone: ZoneInfo,
    today: object,
) -> list[dict]:
    """One item per flagged resident, its reasons in REASON_ORDER, explained in `locale`."""
    reasons: dict[int, list[dict]] = {}
    for code in REASON_ORDER:
        if code not in found:
            continue
        for figures in found[code].to_dict("records"):
            row = int(figures.pop("row"))
            figures = {k: _plain(v) for k, v in figures.items()}
            reasons.setdefault(row, []).append(
                {"code": code, "figures": figures, "text": explain(code, figures, locale)}
            )
    items = []
    for row, its_reasons in reasons.items():
        rid = int(ids[row])
        items.append(
            {
                **people[rid],
                "handler": "grid_worker" if its_reasons[0]["code"] == "not_reached" else "staff",
                "reasons": its_reasons,
                **_last_contact(contacts, rid, zone, today),
            }
        )
    items.sort(key=lambda i: (i["done_today"], -len(i["reasons"]), i["resident_id"]))
    return items


def _last_contact(contacts: pd.DataFrame, rid: int, zone: ZoneInfo, today: object) -> dict:
    """The resident's last call or visit, and whether it reached them today."""
    last_at = contacts.at[rid, "last_at"] if "last_at" in contacts else None
    if last_at is None or pd.isna(last_at):
        return {"last_contact_at": None, "last_contact_local": None, "last_outcome": None,
                "done_today": False}  # fmt: skip
    outcome = contacts.at[rid, "last_outcome"]
    return {
        "last_contact_at": last_at,
        "last_contact_local": local_time(last_at, zone.key),
        "last_outcome": outcome,
        "done_today": last_at.astimezone(zone).date() == today and outcome == "reached",
    }


def _plain(value: object) -> object:
    """numpy scalars and NaN as JSON-friendly Python values."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def explain(code: str, figures: dict, locale: str) -> str:
    """The reason in words, with its figures."""
    if code == "no_data" and not figures.get("ever"):
        return text("care.reason.no_data_ever", locale, days=WINDOW_DAYS)
    if code == "vitals_drift":
        return text(f"care.reason.vitals_drift.{figures['metric']}", locale, **figures)
    return text(f"care.reason.{code}", locale, **figures)


async def audit_listed(
    *, conn: DbConn, principal: Principal, resident_ids: list[int], action: str = "care.daily"
) -> None:
    """One audit row per resident whose personal data the caller was shown."""
    if resident_ids:
        await conn.execute(
            """INSERT INTO audit_log (account_id, role, resident_id, action, purpose)
               SELECT %s, %s, unnest(%s::bigint[]), %s, %s""",
            (principal.account_id, principal.role, resident_ids, action, f"{principal.role}_duty"),
        )


async def record_contact(
    *, conn: DbConn, principal: Principal, resident_id: int, fields: dict, now: datetime
) -> dict:
    """Record a call or visit and its outcome."""
    cur = await conn.execute(
        """INSERT INTO care_contacts (resident_id, kind, outcome, reasons, note, recorded_by, at)
           VALUES (%(rid)s, %(kind)s, %(outcome)s, %(reasons)s, %(note)s, %(by)s, %(now)s)
           RETURNING contact_id, resident_id, kind, outcome, reasons, note, recorded_by, at""",
        {**fields, "rid": resident_id, "by": principal.account_id, "now": now},
    )
    return await cur.fetchone()  # type: ignore[return-value]


async def list_contacts(*, conn: DbConn, resident_id: int, limit: int) -> list[dict]:
    """A resident's calls and visits, newest first."""
    cur = await conn.execute(
        """SELECT contact_id, resident_id, kind, outcome, reasons, note, recorded_by, at
           FROM care_contacts WHERE resident_id = %s ORDER BY at DESC, contact_id DESC
           LIMIT %s""",
        (resident_id, limit),
    )
    return await cur.fetchall()
