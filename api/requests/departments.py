"""Departments a request summons (city management, property company, police, civil affairs,
heating company): several at once, each with its own deadline; each acknowledges and
reports, through its own staff login (role department_staff) or staff on its behalf.

A department's page goes through the outbox like every other; its steps are on the
request's timeline with time and account; a department whose report is past its deadline
is on the overdue list.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting import request_ladder
from api.deps import Principal
from api.errors import Conflict, Forbidden, Invalid, NotFound
from api.requests.queries import REQUEST_SCOPE_SQL

DEPARTMENT_COLUMNS = """d.code, d.name, rd.request_id, rd.summoned_at, rd.due_at,
    rd.acknowledged_at, rd.reported_at, rd.report,
    (rd.reported_at IS NULL AND rd.due_at < %(now)s) AS overdue"""


def summon(
    conn: psycopg.Connection,
    *,
    request_id: int,
    account_id: int,
    departments: list[dict],
    now: datetime,
) -> None:
    """Summon departments at once, each with `due_hours` to report; pages go out with it."""
    with conn.transaction():
        req = conn.execute(
            "SELECT number, status::text FROM requests WHERE request_id = %s FOR UPDATE",
            (request_id,),
        ).fetchone()
        if req is None:
            raise NotFound("request not found", request_id=request_id)
        if req[1] == "resolved":
            raise Conflict("request is resolved; cannot summon", request_id=request_id)
        summoned = []
        for wanted in departments:
            due = now + timedelta(hours=wanted["due_hours"])
            row = conn.execute(
                """INSERT INTO request_departments (request_id, department_id, summoned_at,
                       summoned_by, due_at)
                   SELECT %s, department_id, %s, %s, %s FROM departments WHERE code = %s
                   ON CONFLICT (request_id, department_id) DO NOTHING
                   RETURNING department_id""",
                (request_id, now, account_id, due, wanted["code"]),
            ).fetchone()
            if row is None:
                raise Invalid("unknown or already summoned department", department=wanted["code"])
            key = f"request-{request_id}-department-{wanted['code']}"
            payload = {
                "target": "department",
                "department": wanted["code"],
                "idempotency_key": key,
                "request": {"request_id": request_id, "number": req[0]},
                "due_at": due.isoformat(),
            }
            conn.execute(
                """INSERT INTO outbox (idempotency_key, channel, request_id, priority, payload,
                       status, created_at, next_attempt_at, stop_on)
                   VALUES (%s, 'community_gateway', %s, 3, %s, 'pending', %s, %s, 'resolved')
                   ON CONFLICT (idempotency_key) DO NOTHING""",
                (key, request_id, Jsonb(payload), now, now),
            )
            summoned.append({"department": wanted["code"], "due_at": due.isoformat()})
        request_ladder.record_event(
            conn,
            request_id=request_id,
            at=now,
            actor=f"account:{account_id}",
            kind="departments_summoned",
            public=True,
            data={"departments": summoned},
        )


def _may_act_for(conn: psycopg.Connection, principal: Principal, code: str) -> None:
    if principal.role != "department_staff":
        return  # staff in reach act on a department's behalf (the route checked their role)
    mine = conn.execute(
        """SELECT 1 FROM account_departments ad JOIN departments d USING (department_id)
           WHERE ad.account_id = %s AND d.code = %s""",
        (principal.account_id, code),
    ).fetchone()
    if mine is None:
        raise Forbidden("you do not act for this department", department=code)


def respond(
    conn: psycopg.Connection,
    *,
    request_id: int,
    principal: Principal,
    code: str,
    report: str | None,
    now: datetime,
) -> None:
    """A department acknowledges (report None) or reports (with its report text)."""
    _may_act_for(conn, principal, code)
    column = "acknowledged" if report is None else "reported"
    with conn.transaction():
        row = conn.execute(
            """SELECT rd.acknowledged_at, rd.reported_at FROM request_departments rd
               JOIN departments d USING (department_id)
               WHERE rd.request_id = %s AND d.code = %s FOR UPDATE OF rd""",
            (request_id, code),
        ).fetchone()
        if row is None:
            raise NotFound("department not summoned to this request", department=code)
        if (row[0] if report is None else row[1]) is not None:
            raise Conflict(f"department has already {column}", department=code)
        conn.execute(
            """UPDATE request_departments rd SET
                   acknowledged_at = coalesce(acknowledged_at, %(now)s),
                   acknowledged_by = coalesce(acknowledged_by, %(who)s),
                   reported_at = CASE WHEN %(report)s::text IS NULL THEN NULL ELSE %(now)s END,
                   reported_by = CASE WHEN %(report)s::text IS NULL THEN NULL ELSE %(who)s END,
                   report = %(report)s
               FROM departments d
               WHERE d.department_id = rd.department_id AND rd.request_id = %(rid)s
                 AND d.code = %(code)s""",
            {
                "now": now,
                "who": principal.account_id,
                "report": report,
                "rid": request_id,
                "code": code,
            },
        )
        request_ladder.record_event(
            conn,
            request_id=request_id,
            at=now,
            actor=f"account:{principal.account_id}",
            kind=f"department_{column}",
            public=report is not None,
            data={"department": code, **({"report": report} if report else {})},
        )


def of_request(conn: psycopg.Connection, *, request_id: int, now: datetime) -> list[dict[str, Any]]:
    """The departments summoned to a request, with their state."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""SELECT {DEPARTMENT_COLUMNS} FROM request_departments rd
                JOIN departments d USING (department_id)
                WHERE rd.request_id = %(rid)s ORDER BY d.code""",
            {"rid": request_id, "now": now},
        ).fetchall()


def overdue(
    conn: psycopg.Connection, *, principal: Principal, now: datetime, limit: int = 200
) -> list[dict[str, Any]]:
    """Departments past their deadline without a report, on requests in the caller's reach."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""SELECT {DEPARTMENT_COLUMNS}, q.number FROM request_departments rd
                JOIN departments d USING (department_id)
                JOIN requests q ON q.request_id = rd.request_id
                LEFT JOIN residents r ON r.resident_id = q.resident_id
                WHERE rd.reported_at IS NULL AND rd.due_at < %(now)s AND {REQUEST_SCOPE_SQL}
                ORDER BY rd.due_at, rd.request_id, d.code LIMIT %(limit)s""",
            {"now": now, "limit": limit, "scope_account": principal.account_id},
        ).fetchall()
