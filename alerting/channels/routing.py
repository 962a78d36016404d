"""Turn a recipient's notice into the links of its channel chain (done by the dispatcher).

The alert's transaction queues one row per recipient on its default channel (as always).
When a recipient kind has a configured chain, the dispatcher replaces that row, before
anything is sent, with one row per link (and per phone number): link k is due once links
0..k-1 had their `within_s` to be confirmed delivered. A delivery cancels the links still
waiting; a link that fails for good brings the next one forward. Alerts about unreached
emergencies go out on every link at once.
Device-state storms (offline, low battery) never ring a phone: their phone links are left out.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from alerting.alerts.outbox import GROUPABLE_RULES, dispatch_120_payload, load_alert
from alerting.channels import texts
from alerting.channels.plans import PHONE_CHANNELS, ROBOT_CHANNELS
from eldercare.settings import Settings

log = logging.getLogger(__name__)

EVERY_CHANNEL_RULES = {"emergency_unreached"}


def configured_targets(settings: Settings) -> list[str]:
    """Recipient kinds whose notices are routed through a configured chain."""
    return sorted(settings.alerting_recipients)


def route_pending(conn: psycopg.Connection, settings: Settings, *, now: datetime) -> int:
    """Expand every pending notice of a configured recipient into its chain; rows expanded."""
    targets = configured_targets(settings)
    if not targets:
        return 0
    with conn.transaction():
        rows = conn.execute(
            """SELECT outbox_id, idempotency_key, alert_id, priority, payload, stop_on, target,
                      created_at
               FROM outbox WHERE status = 'pending' AND chain_key IS NULL
                 AND target = ANY(%s) AND channel <> 'changes'
               ORDER BY priority, outbox_id LIMIT 200 FOR UPDATE SKIP LOCKED""",
            (targets,),
        ).fetchall()
        for row in rows:
            _expand(conn, settings, row, now)
    return len(rows)


def _expand(conn: psycopg.Connection, settings: Settings, row, now: datetime) -> None:
    outbox_id, key, alert_id, priority, payload, stop_on, target, created_at = row
    plan = settings.alerting_recipients[target]
    alert = load_alert(conn, alert_id) if alert_id is not None else None
    rule = alert["rule"] if alert else None
    phones_ok = not payload.get("grouped") and rule not in GROUPABLE_RULES
    every = rule in EVERY_CHANNEL_RULES
    case = None
    if alert is not None and alert["resident_id"] is not None and target == "gateway_120":
        case = dispatch_120_payload(conn, alert, now)
    if target == "family":
        phones = [c["phone"] for c in payload.get("contacts", []) if c.get("phone")]
    else:
        phones = list(plan.phones)
    # The notice row steps aside (its key goes to the first link, so receivers see the same
    # Idempotency-Key as without a chain).
    conn.execute(
        """UPDATE outbox SET status = 'grouped', chain_key = %s, idempotency_key = %s
           WHERE outbox_id = %s""",
        (key, f"{key}#notice", outbox_id),
    )
    offset_s = 0.0
    made = 0
    for pos, link in enumerate(plan.chain):
        if link.channel in PHONE_CHANNELS and not phones_ok:
            continue
        addresses: list[str | None] = phones if link.channel in PHONE_CHANNELS else [None]
        for n, phone in enumerate(addresses):
            link_payload = dict(payload)
            worded = link.channel in PHONE_CHANNELS + ROBOT_CHANNELS
            if worded and alert is not None and not payload.get("grouped"):
                msg = texts.message(
                    alert=alert,
                    target=target,
                    channel=link.channel,
                    case=case,
                    locale=settings.alerting_notice_locale,
                )
                link_payload["message"] = msg
                link_payload["text"] = texts.render(msg)
            if phone is not None:
                link_payload["to"] = phone
            link_key = key if (pos, n) == (0, 0) else f"{key}-{pos}-{link.channel}-{n}"
            link_payload["idempotency_key"] = link_key
            conn.execute(
                """INSERT INTO outbox (idempotency_key, channel, alert_id, priority, payload,
                       status, created_at, next_attempt_at, stop_on, target, chain_key,
                       chain_pos)
                   VALUES (%s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (idempotency_key) DO NOTHING""",
                (
                    link_key,
                    link.channel,
                    alert_id,
                    priority,
                    Jsonb(link_payload),
                    created_at,
                    now if every else now + timedelta(seconds=offset_s),
                    stop_on,
                    target,
                    f"{key}#{pos}-{n}" if every else key,
                    pos,
                ),
            )
            made += 1
        offset_s += link.within_s
    if made == 0:
        log.warning("notice %s to %s: no channel of its chain applies", key, target)


def after_delivery(conn: psycopg.Connection, *, chain_key: str | None, pos: int) -> None:
    """The chain reached its recipient: links still waiting are not sent."""
    if chain_key is None:
        return
    conn.execute(
        """UPDATE outbox SET status = 'cancelled' WHERE chain_key = %s AND chain_pos > %s
           AND status = 'pending'""",
        (chain_key, pos),
    )


def after_failure(
    conn: psycopg.Connection, *, chain_key: str | None, pos: int, now: datetime
) -> None:
    """A link failed for good: the next link goes now instead of after its wait."""
    if chain_key is None:
        return
    conn.execute(
        """UPDATE outbox SET next_attempt_at = %s WHERE chain_key = %s AND chain_pos = %s
           AND status = 'pending' AND next_attempt_at > %s""",
        (now, chain_key, pos + 1, now),
    )
