"""Parse, check and store messages synchronously, as ingest would: for tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import psycopg

from eldercare.registry import active_device_ids
from eldercare.settings import Settings
from ingest.parse import ParsedMessage, limits_from, parse_message
from ingest.store import StoreResult, prepare_connection, reject_unknown_devices, store_batch


def store_messages(
    conn: psycopg.Connection,
    messages: Iterable[tuple[str, bytes, datetime]],
    *,
    settings: Settings,
) -> StoreResult:
    """Store (topic, payload, received_at) messages exactly as ingest would, in one commit."""
    parsed: list[ParsedMessage] = [
        parse_message(
            topic,
            payload,
            received_ms=int(received_at.timestamp() * 1000),
            limits=limits_from(settings),
        )
        for topic, payload, received_at in messages
    ]
    prepare_connection(conn)
    reject_unknown_devices(parsed, active_device_ids(conn))
    return store_batch(conn, parsed)
