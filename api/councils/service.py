"""Residents' councils: topics, meetings, attendance, household votes, decided tasks."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import psycopg

from alerting.rules.common import MEDIUM
from api.alerts.service import RaiseSystemAlert
from api.db import DbConn
from api.errors import Conflict, Invalid, NotFound
from eldercare.i18n import DEFAULT_LOCALE, text

_TOPIC = """topic_id, title, body, source, resident_id, status, created_at, decided_at,
    votes_for, votes_against, votes_abstain"""


async def create_topic(*, conn: DbConn, fields: dict, created_by: int, now: datetime) -> dict:
    """A topic proposed by a resident (recorded by staff), collected from requests, or staff's."""
    cur = await conn.execute(
        f"""INSERT INTO council_topics (title, body, source, resident_id, created_by, created_at)
            VALUES (%(title)s, %(body)s, %(source)s, %(resident_id)s, %(by)s, %(now)s)
            RETURNING {_TOPIC}""",
        {**fields, "by": created_by, "now": now},
    )
    return await cur.fetchone()  # type: ignore[return-value]


async def list_topics(*, conn: DbConn, status: str | None) -> list[dict]:
    """Topics, newest first."""
    cur = await conn.execute(
        f"""SELECT {_TOPIC} FROM council_topics
            WHERE %(status)s::text IS NULL OR status = %(status)s ORDER BY topic_id DESC""",
        {"status": status},
    )
    return await cur.fetchall()


async def create_meeting(*, conn: DbConn, fields: dict, created_by: int) -> dict:
    """A meeting with its agenda (the topics, in order; each must still be open)."""
    async with conn.transaction():
        meeting = await (
            await conn.execute(
                """INSERT INTO council_meetings (title, place, starts_at, created_by)
                   VALUES (%(title)s, %(place)s, %(starts_at)s, %(by)s)
                   RETURNING meeting_id, title, place, starts_at""",
                {**fields, "by": created_by},
            )
        ).fetchone()
        assert meeting is not None
        for position, topic_id in enumerate(fields["topic_ids"]):
            cur = await conn.execute(
                """UPDATE council_topics SET status = 'on_agenda'
                   WHERE topic_id = %s AND status IN ('proposed', 'on_agenda')""",
                (topic_id,),
            )
            if cur.rowcount != 1:
                raise Conflict("topic is not open for an agenda", topic_id=topic_id)
            await conn.execute(
                "INSERT INTO council_agenda (meeting_id, topic_id, position) VALUES (%s, %s, %s)",
                (meeting["meeting_id"], topic_id, position),
            )
    return {**meeting, "topic_ids": fields["topic_ids"]}


async def get_meeting_or_raise(*, conn: DbConn, meeting_id: int) -> dict:
    row = await (
        await conn.execute(
            """SELECT m.meeting_id, m.title, m.place, m.starts_at,
                      coalesce(array_agg(a.topic_id ORDER BY a.position)
                               FILTER (WHERE a.topic_id IS NOT NULL), '{}') AS topic_ids
               FROM council_meetings m LEFT JOIN council_agenda a USING (meeting_id)
               WHERE m.meeting_id = %s GROUP BY m.meeting_id""",
            (meeting_id,),
        )
    ).fetchone()
    if row is None:
        raise NotFound("meeting not found", meeting_id=meeting_id)
    return row


async def attend(*, conn: DbConn, meeting_id: int, resident_id: int) -> None:
    """Record that a resident came to the meeting."""
    await conn.execute(
        "INSERT INTO council_attendance VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (meeting_id, resident_id),
    )


async def vote(
    *, conn: DbConn, meeting_id: int, topic_id: int, resident_id: int, choice: str,
    recorded_by: int, now: datetime,
) -> dict:  # fmt: skip
    """A present resident's vote for their household; a second vote of the household is refused."""
    present = await (
        await conn.execute(
            """SELECT lower(btrim(r.address)) AS household FROM council_attendance a
               JOIN residents r USING (resident_id)
               WHERE a.meeting_id = %s AND a.resident_id = %s""",
            (meeting_id, resident_id),
        )
    ).fetchone()
    if present is None:
        raise Conflict("only residents present at the meeting vote", resident_id=resident_id)
    household = present["household"] or f"resident:{resident_id}"
    try:
        await conn.execute(
            """INSERT INTO council_votes (meeting_id, topic_id, household, resident_id, choice,
                   cast_at, recorded_by) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (meeting_id, topic_id, household, resident_id, choice, now, recorded_by),
        )
    except psycopg.errors.UniqueViolation:
        raise Conflict("this household has voted on this topic", topic_id=topic_id) from None
    except psycopg.errors.ForeignKeyViolation:
        raise NotFound("topic not on this meeting's agenda", topic_id=topic_id) from None
    return {"meeting_id": meeting_id, "topic_id": topic_id, "choice": choice}


async def decide(
    *, conn: DbConn, meeting_id: int, topic_id: int, task: dict | None, now: datetime
) -> dict:
    """Count the votes; a majority for makes the topic decided and its task (owner, deadline)."""
    async with conn.transaction():
        tally = await (
            await conn.execute(
                """SELECT count(*) FILTER (WHERE choice = 'for') AS yes,
                          count(*) FILTER (WHERE choice = 'against') AS no,
                          count(*) FILTER (WHERE choice = 'abstain') AS abstain
                   FROM council_votes WHERE meeting_id = %s AND topic_id = %s""",
                (meeting_id, topic_id),
            )
        ).fetchone()
        assert tally is not None
        carried = tally["yes"] > tally["no"]
        if carried and task is None:
            raise Invalid("a decided topic needs its task: title, owner and deadline")
        cur = await conn.execute(
            f"""UPDATE council_topics SET status = %s, decided_at = %s, votes_for = %s,
                    votes_against = %s, votes_abstain = %s
                WHERE topic_id = %s AND status = 'on_agenda'
                  AND EXISTS (SELECT 1 FROM council_agenda
                              WHERE meeting_id = %s AND topic_id = %s)
                RETURNING {_TOPIC}""",
            ("decided" if carried else "rejected", now, tally["yes"], tally["no"],
             tally["abstain"], topic_id, meeting_id, topic_id),
        )  # fmt: skip
        topic = await cur.fetchone()
        if topic is None:
            raise Conflict("topic is not on this agenda awaiting a decision", topic_id=topic_id)
        if carried and task is not None:
            await conn.execute(
                """INSERT INTO council_tasks (topic_id, title, owner_account, due_on, created_at)
                   VALUES (%s, %s, %s, %s, %s)""",
                (topic_id, task["title"], task["owner_account"], task["due_on"], now),
            )
    return topic


_TASK = """t.task_id, t.topic_id, t.title, t.owner_account, t.due_on, t.status, t.progress_note,
    t.done_at, t.alert_id"""


async def update_task(*, conn: DbConn, task_id: int, done: bool, note: str, now: datetime) -> dict:
    """Progress on a task, or its completion."""
    cur = await conn.execute(
        f"""UPDATE council_tasks t SET progress_note = %s,
                status = CASE WHEN %s THEN 'done' ELSE status END,
                done_at = CASE WHEN %s AND done_at IS NULL THEN %s ELSE done_at END
            WHERE task_id = %s RETURNING {_TASK}""",
        (note, done, done, now, task_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound("task not found", task_id=task_id)
    return row


async def overdue_tasks(*, conn: DbConn, today: date) -> list[dict]:
    """Open tasks past their deadline."""
    cur = await conn.execute(
        f"""SELECT {_TASK}, c.title AS topic_title FROM council_tasks t
            JOIN council_topics c USING (topic_id)
            WHERE t.status = 'open' AND t.due_on < %s ORDER BY t.due_on""",
        (today,),
    )
    return await cur.fetchall()


async def link_alert(*, conn: DbConn, task_id: int, alert_id: int) -> None:
    await conn.execute(
        "UPDATE council_tasks SET alert_id = %s WHERE task_id = %s", (alert_id, task_id)
    )


async def escalate_overdue(
    *, conn: DbConn, raise_alert: RaiseSystemAlert, now: datetime, zone: ZoneInfo
) -> list[dict]:
    """Open an alert on the director's ladder for each overdue task (or update the one
    already open); safe to run again. The tasks, each with its alert id."""
    raised = []
    for task in await overdue_tasks(conn=conn, today=now.astimezone(zone).date()):
        due_on = task["due_on"].isoformat()
        alert_id = await raise_alert(
            rule="council_task_overdue",
            title=text("council.task.overdue", DEFAULT_LOCALE, title=task["title"], due_on=due_on),
            details={"task_id": task["task_id"], "topic_id": task["topic_id"], "due_on": due_on},
            now=now,
            severity=MEDIUM,
            subject_key=f"council_task:{task['task_id']}",
            actor="councils",
        )
        await link_alert(conn=conn, task_id=task["task_id"], alert_id=alert_id)
        raised.append({**task, "alert_id": alert_id})
    return raised


async def public_decisions(*, conn: DbConn) -> list[dict]:
    """Every decision and its task's progress: what anyone may read (no personal data)."""
    cur = await conn.execute(
        """SELECT c.topic_id, c.title, c.status, c.decided_at, c.votes_for, c.votes_against,
                  c.votes_abstain, t.title AS task_title, t.due_on, t.status AS task_status,
                  t.progress_note, t.done_at, a.full_name AS owner_name
           FROM council_topics c LEFT JOIN council_tasks t USING (topic_id)
           LEFT JOIN accounts a ON a.account_id = t.owner_account
           WHERE c.status IN ('decided', 'rejected') ORDER BY c.decided_at DESC"""
    )
    return await cur.fetchall()
