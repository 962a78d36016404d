"""Early warnings: a category of alerts or of residents' requests rising above its baseline
in a grid or the community.

Method (a Farrington-style count test): for each series (grid or community x alert rule) of
daily counts, the baseline is the series' own previous `BASELINE_DAYS` days, ending
`GUARD_DAYS` before the days under test so a rise that has begun does not raise its own
baseline. Its mean and variance fit a negative binomial (a Poisson when the counts are not
overdispersed); the sum of the last `RECENT_DAYS` days is a warning when a sum that large
has probability under `ALPHA` under that baseline, and counts at least `MIN_EVENTS`. The
baseline follows the season as it turns (it is always the last few weeks); a rise of days,
like the first cold week of the heating season, stands out against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from scipy import stats

from alerting.rules.common import MEDIUM
from api.alerts.service import RaiseSystemAlert
from api.db import DbConn
from api.deps import STAFF_ALL, Principal
from eldercare.i18n import DEFAULT_LOCALE, text

BASELINE_DAYS = 28
GUARD_DAYS = 7
RECENT_DAYS = 3
ALPHA = 1e-6  # no false warning in 90 simulated series-years (tests/api/test_care_warnings.py)
MIN_EVENTS = 5
VAR_QUANTILE = 0.5
HISTORY_DAYS = RECENT_DAYS + GUARD_DAYS + BASELINE_DAYS
COMMUNITY = -1  # the grid id that stands for the whole community
REQUEST_PREFIX = "request:"  # a series of requests, not alerts: request:<category>


@dataclass
class Verdict:
    """One test of every series on one day: arrays aligned with the series."""

    observed: np.ndarray  # events in the last RECENT_DAYS days
    expected: np.ndarray  # what the baseline expects over those days
    p_value: np.ndarray
    warn: np.ndarray  # bool


def check_last_days(counts: np.ndarray) -> Verdict:
    """Test the last RECENT_DAYS columns of (series x days) daily counts against the baseline."""
    recent = counts[:, -RECENT_DAYS:].sum(axis=1).astype(float)
    base = counts[:, -HISTORY_DAYS : -(RECENT_DAYS + GUARD_DAYS)].astype(float)
    n = base.shape[1]
    mean = base.mean(axis=1)
    # Four weeks say little about the spread: take the upper 95 % bound of the variance (at
    # least the mean, i.e. Poisson), and add the uncertainty of the mean itself.
    var = np.maximum(base.var(axis=1, ddof=1), mean) * (n - 1) / stats.chi2.ppf(VAR_QUANTILE, n - 1)
    expected = RECENT_DAYS * mean
    spread = RECENT_DAYS * var + RECENT_DAYS**2 * var / n
    # A negative binomial with that mean and variance (size r = m^2 / (v - m)).
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(expected > 0, expected**2 / (spread - expected), 1.0)
        prob = np.where(expected > 0, size / (size + expected), 1.0)
    p_value = np.where(expected > 0, stats.nbinom.sf(recent - 1, size, prob), 0.0)
    warn = (recent >= MIN_EVENTS) & (p_value < ALPHA)
    return Verdict(observed=recent, expected=expected, p_value=p_value, warn=warn)


# Alerts about residents by rule, and residents' requests by category (as `request:<c>`).
_DAILY = """
SELECT coalesce(r.grid_id, -1) AS grid_id, a.rule,
       (time_bucket('1 day', a.opened_at, %(tz)s) AT TIME ZONE %(tz)s)::date AS day,
       count(*) AS events
FROM alerts a JOIN residents r USING (resident_id)
WHERE a.opened_at >= %(since)s AND a.opened_at < %(until)s
GROUP BY 1, 2, 3
UNION ALL
SELECT coalesce(q.grid_id, -1), 'request:' || q.category,
       (time_bucket('1 day', q.opened_at, %(tz)s) AT TIME ZONE %(tz)s)::date, count(*)
FROM requests q
WHERE q.opened_at >= %(since)s AND q.opened_at < %(until)s
GROUP BY 1, 2, 3"""


async def daily_counts(
    *, conn: DbConn, today: date, zone: ZoneInfo
) -> tuple[pd.MultiIndex, np.ndarray, list[date]]:
    """Alerts opened per (grid, rule) and per (community, rule) a day, for the complete days
    up to yesterday: (series index, counts matrix, days)."""
    first = today - timedelta(days=HISTORY_DAYS)
    days = [first + timedelta(days=i) for i in range(HISTORY_DAYS)]
    rows = await (
        await conn.execute(
            _DAILY,
            {
                "tz": zone.key,
                "since": datetime.combine(first, datetime.min.time(), zone),
                "until": datetime.combine(today, datetime.min.time(), zone),
            },
        )
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["grid_id", "rule", "day", "events"])
    if frame.empty:
        return pd.MultiIndex.from_tuples([], names=["grid_id", "rule"]), np.zeros((0, 0)), days
    whole = frame.groupby(["rule", "day"], as_index=False)["events"].sum()
    frame = pd.concat([frame, whole.assign(grid_id=COMMUNITY)], ignore_index=True)
    table = frame.pivot_table(
        index=["grid_id", "rule"], columns="day", values="events", aggfunc="sum", fill_value=0
    ).reindex(columns=days, fill_value=0)
    return table.index, table.to_numpy(dtype=np.int64), days


def subject_of(grid_id: int, rule: str) -> str:
    """The alert subject of one series: one open warning per grid (or community) and rule."""
    where = "community" if grid_id == COMMUNITY else f"grid:{grid_id}"
    return f"early_warning:{where}:{rule}"


async def findings(*, conn: DbConn, now: datetime, zone: ZoneInfo) -> list[dict]:
    """The series rising above their baseline as of yesterday, with the data behind each."""
    today = now.astimezone(zone).date()
    index, counts, days = await daily_counts(conn=conn, today=today, zone=zone)
    if not len(index):
        return []
    verdict = check_last_days(counts)
    grid_names = {
        row["grid_id"]: row["name"]
        for row in await (await conn.execute("SELECT grid_id, name FROM grids")).fetchall()
    }
    found = []
    for i in np.flatnonzero(verdict.warn):  # the few series that warn
        grid_id, rule = int(index[i][0]), str(index[i][1])
        found.append(
            {
                "subject_key": subject_of(grid_id, rule),
                "grid_id": None if grid_id == COMMUNITY else grid_id,
                "grid_name": grid_names.get(grid_id),
                "category": rule,
                "observed": int(verdict.observed[i]),
                "expected": round(float(verdict.expected[i]), 1),
                "p_value": float(verdict.p_value[i]),
                "recent_days": RECENT_DAYS,
                "baseline_days": BASELINE_DAYS,
                "days": [d.isoformat() for d in days],
                "counts": counts[i].tolist(),
            }
        )
    return found


async def raise_warnings(
    *, conn: DbConn, raise_alert: RaiseSystemAlert, now: datetime, zone: ZoneInfo
) -> list[dict]:
    """Open a warning (which pages the community director) for each rising series, or
    update the one already open; safe to run again. The warnings as alert rows."""
    raised = []
    for details in await findings(conn=conn, now=now, zone=zone):
        alert_id = await raise_alert(
            rule="early_warning",
            title=explain(details, DEFAULT_LOCALE)["title"],
            details=details,
            now=now,
            severity=MEDIUM,
            subject_key=details["subject_key"],
            actor="early_warning",
        )
        raised.append(
            {"alert_id": alert_id, "status": "open", "opened_at": now, "details": details}
        )
    return raised


def explain(details: dict, locale: str) -> dict[str, str]:
    """Title and explanation of a warning in words, with its figures."""
    if details.get("grid_id") is None:
        scope = text("care.warning.scope.community", locale)
    else:
        scope = text("care.warning.scope.grid", locale, grid=details.get("grid_name") or "")
    category = details["category"]
    if category.startswith(REQUEST_PREFIX):
        name = text(f"request.category.{category.removeprefix(REQUEST_PREFIX)}", locale)
        title = text("care.warning.title.requests", locale, scope=scope, category=name)
    else:
        title = text("care.warning.title", locale, scope=scope, category=category)
    return {
        "title": title,
        "explanation": text(
            "care.warning.explain",
            locale,
            days=details["recent_days"],
            observed=details["observed"],
            baseline_days=details["baseline_days"],
            expected=details["expected"],
            p=f"{details['p_value']:.1e}",
        ),
    }


_OPEN = """
SELECT alert_id, status, details, opened_at, last_seen_at, acknowledged_at
FROM alerts
WHERE rule = 'early_warning' AND status <> 'resolved'
  AND (%(all)s OR (details->>'grid_id') IS NULL
       OR (details->>'grid_id')::bigint = ANY(%(grids)s))
ORDER BY opened_at DESC"""


async def list_open(*, conn: DbConn, principal: Principal) -> list[dict]:
    """Open warnings: all for admin and duty staff; the community's and their grids' for
    grid-scoped roles."""
    params = {"all": principal.role in STAFF_ALL, "grids": list(principal.grid_ids)}
    return await (await conn.execute(_OPEN, params)).fetchall()
