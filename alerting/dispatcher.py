"""Send what the outbox holds: webhooks (signed), the console and change streams (Redis).

Each row is sent while its row lock is held and marked in the same transaction, so a crash
between send and record leaves the row pending and it is sent again with the same
idempotency key (receivers discard repeats). 2xx = delivered; 4xx other than 429 = failed,
recorded, not retried; anything else (5xx, 429, redirects, no answer) is retried with capped
exponential backoff and jitter. A page whose alert or request was resolved (or acknowledged,
for a page that stops on acknowledgement) before it went out is cancelled, with a timeline
entry; how far each page got is on its alert's or request's timeline.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import orjson
import psycopg
import redis
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from alerting import request_ladder
from alerting.alerts.changes import record
from alerting.channels import routing
from alerting.channels.base import Outcome
from alerting.channels.plans import (
    PHONE_CHANNELS,
    REDIS_CHANNELS,
    ROBOT_CHANNELS,
    WEBHOOK_CHANNELS,
)
from alerting.channels.senders import Senders
from alerting.metrics import AlertingMetrics
from eldercare import keys
from eldercare.settings import Settings

log = logging.getLogger(__name__)

ALL_CHANNELS = WEBHOOK_CHANNELS + REDIS_CHANNELS + PHONE_CHANNELS + ROBOT_CHANNELS
STREAM_MAXLEN = 100_000
GROUPING_LOCK = 0x6F7574626F78  # pg advisory lock held while storm-held rows are grouped


def sign(body: bytes, secret: str) -> str:
    """The X-Eldercare-Signature header value: HMAC-SHA256 of the body, hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class OutboxRow:
    """An outbox row as the dispatcher reads it, with the status of what it is about."""

    outbox_id: int
    channel: str
    key: str
    payload: dict
    alert_id: int | None
    stop_on: str | None
    # The status of the row's alert, or of its request for a request's page.
    about_status: str | None
    attempts: int = 0
    group_key: str | None = None
    priority: int = 0
    target: str | None = None
    chain_key: str | None = None
    chain_pos: int = 0
    request_id: int | None = None


# Outbox rows as OutboxRow reads them, with their alert's or request's status; callers add
# WHERE and locks.
OUTBOX_ROWS = """SELECT o.outbox_id, o.channel, o.idempotency_key AS key, o.payload, o.alert_id,
                        o.stop_on, coalesce(a.status::text, q.status::text) AS about_status,
                        o.attempts, o.group_key, o.priority,
                        coalesce(o.target, o.payload->>'target') AS target,
                        o.chain_key, o.chain_pos, o.request_id
                 FROM outbox o LEFT JOIN alerts a USING (alert_id)
                 LEFT JOIN requests q ON q.request_id = o.request_id"""


class Dispatcher:
    """Delivers outbox rows of the given channels; `run_once` is one pass with a given clock."""

    def __init__(
        self,
        settings: Settings,
        redis_client: redis.Redis,
        http: httpx.Client | None = None,
        rng: Callable[[], float] = random.random,
        metrics: AlertingMetrics | None = None,
    ):
        self.settings = settings
        self.redis = redis_client
        self.http = http or httpx.Client(timeout=settings.alerting_webhook_timeout_s)
        self.rng = rng
        self.metrics = metrics or AlertingMetrics()
        self.senders = Senders(settings, self.http)
        self.routed_targets = routing.configured_targets(settings)
        self.prefix = settings.redis_prefix
        self.webhooks = {
            "gateway_120": (
                settings.alerting_gateway_120_url,
                settings.alerting_gateway_120_secret.get_secret_value(),
            ),
            "community_gateway": (
                settings.alerting_community_gateway_url,
                settings.alerting_community_gateway_secret.get_secret_value(),
            ),
            "family_gateway": (
                settings.alerting_family_gateway_url,
                settings.alerting_family_gateway_secret.get_secret_value(),
            ),
        }

    def run_once(
        self, conn: psycopg.Connection, *, now: datetime, channels=ALL_CHANNELS, limit: int = 500
    ) -> int:
        """Group storm-held rows, then send due rows, most urgent first; return rows delivered.

        Within a priority, first attempts go before retries: against a hanging gateway each
        retry is held for the whole timeout, and a new SOS must not queue behind them.

        `now` is the clock at the start of the pass. A pass can take minutes of slow webhooks,
        so each row is picked at `now` plus the time spent so far: an SOS queued meanwhile
        goes next.
        """
        self.group_held(conn, now=now)
        while routing.route_pending(conn, self.settings, now=now) >= 200:
            pass
        started = time.monotonic()
        delivered = 0
        for _ in range(limit * len(channels)):
            at = now + timedelta(seconds=time.monotonic() - started)
            sent = self._send_next(conn, list(channels), at)
            if sent is None:
                break
            delivered += sent
        return delivered

    def _send_next(
        self, conn: psycopg.Connection, channels: list[str], now: datetime
    ) -> int | None:
        with conn.transaction(), conn.cursor(row_factory=class_row(OutboxRow)) as cur:
            row = cur.execute(
                f"""{OUTBOX_ROWS}
                   WHERE o.channel = ANY(%s) AND o.status = 'pending' AND o.next_attempt_at <= %s
                     AND NOT (o.chain_key IS NULL AND o.target = ANY(%s))
                   ORDER BY o.priority, o.attempts > 0, o.outbox_id
                   LIMIT 1 FOR UPDATE OF o SKIP LOCKED""",
                (channels, now, self.routed_targets),
            ).fetchone()
            if row is None:
                return None
            if self._cancel_if_moot(conn, row, now):
                return 0
            outbox_id, channel, key = row.outbox_id, row.channel, row.key
            attempts, payload = row.attempts, row.payload
            outcome = self.send(channel, key, payload)
            if outcome.delivered:
                found_at = conn.execute(
                    """UPDATE outbox SET status = 'delivered', delivered_at = %s,
                       attempts = attempts + 1, last_error = NULL WHERE outbox_id = %s
                       RETURNING (SELECT first_seen_at FROM alerts a
                                  WHERE a.alert_id = outbox.alert_id)""",
                    (now, outbox_id),
                ).fetchone()
                self.metrics.attempt(channel, "delivered")
                if found_at and found_at[0] is not None and channel != "changes":
                    seconds = (now - found_at[0]).total_seconds()
                    self.metrics.finding_to_delivery.labels(channel).observe(max(0.0, seconds))
                self._on_timeline(conn, row, now, "delivered")
                routing.after_delivery(conn, chain_key=row.chain_key, pos=row.chain_pos)
                return 1
            if outcome.sent:
                conn.execute(
                    """UPDATE outbox SET status = 'sent', sent_at = %s, provider_ref = %s,
                       attempts = attempts + 1, last_error = NULL WHERE outbox_id = %s""",
                    (now, outcome.ref, outbox_id),
                )
                self.metrics.attempt(channel, "sent")
                self._on_timeline(conn, row, now, "sent", provider_ref=outcome.ref)
                return 1
            log.warning(
                "notice %s to %s (%s) attempt %s failed: %s",
                key,
                channel,
                row.target,
                attempts + 1,
                outcome.error,
            )
            self.metrics.attempt(channel, "retry" if outcome.retry else "failed", outcome.error)
            if outcome.retry:
                backoff = min(self.settings.alerting_retry_max_s, 2.0 ** min(attempts, 16))
                backoff *= 0.5 + 0.5 * self.rng()
                conn.execute(
                    """UPDATE outbox SET attempts = attempts + 1, last_error = %s,
                       next_attempt_at = %s WHERE outbox_id = %s""",
                    (outcome.error, now + timedelta(seconds=backoff), outbox_id),
                )
            else:
                conn.execute(
                    """UPDATE outbox SET status = 'failed', attempts = attempts + 1,
                       last_error = %s WHERE outbox_id = %s""",
                    (outcome.error, outbox_id),
                )
                routing.after_failure(conn, chain_key=row.chain_key, pos=row.chain_pos, now=now)
            # attempt_failed: it will be tried again; delivery_failed: given up.
            kind = "attempt_failed" if outcome.retry else "delivery_failed"
            self._on_timeline(conn, row, now, kind, reason=outcome.error, attempt=attempts + 1)
            return 0

    def _on_timeline(
        self, conn: psycopg.Connection, row: OutboxRow, now: datetime, kind: str, **data
    ) -> None:
        """Record how far a notice got on the timeline of what it is about."""
        # The change stream carries the timeline itself; a console page that was delivered
        # is on the console (one that failed is recorded like any other).
        if row.channel == "changes" or (row.channel == "console" and kind == "delivered"):
            return
        said = {"target": row.target, "channel": row.channel, "idempotency_key": row.key, **data}
        self._record(conn, row, now, kind, said)

    def _record(
        self, conn: psycopg.Connection, row: OutboxRow, now: datetime, kind: str, data: dict
    ) -> None:
        """Add a dispatcher entry to the row's request timeline, or each of its alerts'."""
        if row.request_id is not None:
            request_ladder.record_event(
                conn, request_id=row.request_id, at=now, actor="dispatcher", kind=kind, data=data
            )
            return
        for alert_id in self._alerts_of(conn, row.outbox_id, row.alert_id):
            record(conn, alert_id=alert_id, at=now, actor="dispatcher", kind=kind, data=data)

    def _cancel_if_moot(self, conn: psycopg.Connection, row: OutboxRow, now: datetime) -> bool:
        """Cancel a page that its alert's or request's acknowledgement or resolution made moot."""
        moot = row.stop_on is not None and row.about_status in ("resolved", row.stop_on)
        if (row.alert_id is None and row.request_id is None) or not moot:
            return False
        conn.execute(
            "UPDATE outbox SET status = 'cancelled' WHERE outbox_id = %s", (row.outbox_id,)
        )
        why = {"channel": row.channel, "idempotency_key": row.key, "why": row.about_status}
        self._record(conn, row, now, kind="notification_cancelled", data=why)
        return True

    @staticmethod
    def _alerts_of(conn: psycopg.Connection, outbox_id: int, alert_id: int | None) -> list[int]:
        """The alert a row is about, or for a grouped (storm) row, each member's alert."""
        if alert_id is not None:
            return [alert_id]
        rows = conn.execute(
            """SELECT alert_id FROM outbox WHERE grouped_into = %s AND alert_id IS NOT NULL
               ORDER BY alert_id""",
            (outbox_id,),
        ).fetchall()
        return [r[0] for r in rows]

    def send(self, channel: str, key: str, payload: dict) -> Outcome:
        """Deliver one message; never raises for delivery problems."""
        if channel in REDIS_CHANNELS:
            stream = (keys.alert_console if channel == "console" else keys.alert_changes)(
                self.prefix
            )
            try:
                self.redis.xadd(
                    stream,
                    {"idempotency_key": key, "data": orjson.dumps(payload)},
                    maxlen=STREAM_MAXLEN,
                    approximate=True,
                )
            except redis.RedisError as exc:
                return Outcome(False, True, f"redis: {exc}")
            return Outcome(True, False)
        if channel not in self.webhooks:
            return self.senders.send(channel, key, payload)
        url, secret = self.webhooks[channel]
        body = orjson.dumps(payload)
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Eldercare-Signature": sign(body, secret),
            "X-Eldercare-Channel": channel,
        }
        try:
            response = self.http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(False, True, f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            return Outcome(True, False)
        code = response.status_code
        # Only a client error says the message itself is wrong; a redirect or anything else
        # odd may pass (a gateway being moved), so it is retried like a 5xx.
        retry = not 400 <= code < 500 or code == 429
        return Outcome(False, retry, f"HTTP {code}")

    def group_held(self, conn: psycopg.Connection, *, now: datetime) -> int:
        """Release held groups whose oldest row is due; storm_min or more become one message.

        A group is every held row of one (channel, group_key): an outage's findings arrive over
        many engine ticks, and are released together with the first. One process at a time
        groups (others skip this pass), so no two take parts of one group.
        """
        with conn.transaction():
            locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (GROUPING_LOCK,))
            if not locked.fetchone()[0]:  # type: ignore[index]  # SELECT always yields a row
                return 0
            with conn.cursor(row_factory=class_row(OutboxRow)) as cur:
                rows = cur.execute(
                    f"""{OUTBOX_ROWS}
                       WHERE o.status = 'held' AND (o.channel, o.group_key) IN (
                           SELECT channel, group_key FROM outbox
                           WHERE status = 'held' AND next_attempt_at <= %s)
                       ORDER BY o.outbox_id FOR UPDATE OF o""",
                    (now,),
                ).fetchall()
            groups: dict[tuple[str, str | None], list[OutboxRow]] = {}
            for row in rows:
                if not self._cancel_if_moot(conn, row, now):
                    groups.setdefault((row.channel, row.group_key), []).append(row)
            for (channel, group_key), members in groups.items():
                ids = [m.outbox_id for m in members]
                if len(members) < self.settings.alerting_storm_min:
                    conn.execute(
                        "UPDATE outbox SET status = 'pending' WHERE outbox_id = ANY(%s)", (ids,)
                    )
                    continue
                key = f"group-{channel}-{ids[0]}-{ids[-1]}-{len(ids)}"
                first = members[0].payload
                payload = {
                    "target": first.get("target"),
                    "role": first.get("role"),
                    "grouped": True,
                    "group_key": group_key,
                    "count": len(members),
                    "alerts": [m.payload.get("alert") for m in members],
                    "idempotency_key": key,
                }
                group_id = conn.execute(
                    """INSERT INTO outbox (idempotency_key, channel, priority, payload, status,
                           group_key, created_at, next_attempt_at, target)
                       VALUES (%s, %s, %s, %s, 'pending', %s, %s, %s, %s) RETURNING outbox_id""",
                    (
                        key,
                        channel,
                        min(m.priority for m in members),
                        Jsonb(payload),
                        group_key,
                        now,
                        now,
                        members[0].target,
                    ),
                ).fetchone()[0]  # type: ignore[index]  # RETURNING always yields a row
                conn.execute(
                    """UPDATE outbox SET status = 'grouped', grouped_into = %s
                       WHERE outbox_id = ANY(%s)""",
                    (group_id, ids),
                )
            return len(rows)


def purge_delivered(conn: psycopg.Connection, *, now: datetime, keep_days: int = 30) -> int:
    """Delete outbox rows delivered or grouped long ago, and event ids no stream can resend."""
    with conn.transaction():
        gone = conn.execute(
            """DELETE FROM outbox WHERE status IN ('delivered', 'grouped', 'cancelled')
               AND created_at < %s""",
            (now - timedelta(days=keep_days),),
        ).rowcount
        # Ingest accepts events up to 7 days old; older ids cannot come back.
        conn.execute(
            "DELETE FROM alerting_seen_events WHERE seen_at < %s", (now - timedelta(days=8),)
        )
    return gone
