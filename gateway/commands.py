"""Bands' commands on their way to the watches: at once to a connected watch, else kept in
the database (gateway.store) and sent, oldest first, when the watch connects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg

from eldercare.i18n import text
from gateway import replies
from gateway import store as gw_store
from gateway.metrics import GatewayMetrics

if TYPE_CHECKING:
    from gateway.server import Database, Limits, Session

log = logging.getLogger(__name__)


class Commands:
    """Translates contract commands for watches and keeps those of watches that are away."""

    def __init__(
        self,
        *,
        db: Database,
        metrics: GatewayMetrics,
        limits: Limits,
        sessions: dict[str, Session],
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._limits = limits
        self._sessions = sessions  # the gateway's: IMEI -> its watch's connection
        self._tasks: set[asyncio.Task] = set()  # commands being stored; kept from the GC
        self._keeping = asyncio.Lock()

    def on_command(self, device_id: str, command: dict, done: Callable[[], None]) -> None:
        """Translate a contract command for the watch; keep it while the watch is away.

        `done()` acknowledges the command to the broker: once it is written to the watch, kept
        in the database, or can never be sent. A command not yet kept is redelivered after a
        crash."""
        kind = str(command.get("type"))
        try:
            contents = _watch_commands(command)
        except (TypeError, ValueError):
            log.warning("command %s for %s cannot be sent to a watch", kind, device_id)
            done()
            return
        session = self._sessions.get(device_id)
        # A connected watch gets it at once, unless older commands are still being kept: then
        # it goes behind them. An acknowledgement is never kept: it is moot once the watch left.
        ack = kind == "sos_ack"
        if session is not None and (ack or not self._keeping.locked()):
            for content in contents:
                session.send(content)
                self._metrics.commands.labels(kind).inc()
            done()
        elif not ack and contents:
            task = asyncio.get_running_loop().create_task(
                self._keep(device_id, kind, contents, done)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            done()

    async def _keep(
        self, device_id: str, kind: str, contents: list[bytes], done: Callable[[], None]
    ) -> None:
        # The lock is fair and taken first thing: commands are stored in the order they came.
        async with self._keeping:
            if await self._store_waiting(device_id, kind, contents):
                done()

    async def _store_waiting(self, device_id: str, kind: str, contents: list[bytes]) -> bool:
        """Keep the command's frames; False if the database refused (it comes again later)."""
        try:
            for content in contents:
                await self._db.run(
                    gw_store.queue_command,
                    device_id=device_id,
                    kind=kind,
                    content=content,
                    ttl_s=self._limits.pending_command_ttl_s,
                    cap=self._limits.max_pending_commands,
                )
            session = self._sessions.get(device_id)
            if session is not None:  # the watch came back while the command was stored
                await self.send_waiting(session)
        except psycopg.Error:
            log.exception(
                "command %s for %s not kept; the broker will deliver it again", kind, device_id
            )
            return False
        return True

    async def send_waiting(self, session: Session) -> None:
        """Send the band's commands that waited for its watch, oldest first."""
        assert session.band is not None
        if session.writer.is_closing():
            return
        waiting = await self._db.run(gw_store.take_commands, device_id=session.band.imei)
        for kind, content in waiting:
            session.send(content)
            self._metrics.commands.labels(kind).inc()


def _watch_commands(command: dict) -> list[bytes]:
    kind = command.get("type")
    if kind == "sos_ack":
        return [replies.show_message(text("gateway.sos_ack"))]
    if kind == "locate":
        return [replies.locate_now()]
    if kind == "config":
        interval = command.get("location_interval_s")
        return [replies.upload_interval(int(interval))] if interval else []
    if kind == "sos_numbers":
        out = replies.sos_numbers(list(command.get("sos") or []))
        if command.get("centre"):
            out.append(replies.centre_number(str(command["centre"])))
        return out
    return []
