"""The asyncio TCP server: one task per watch connection, frames in order, replies out.

Only provisioned watches are served; each connection is bounded in frame size, frame
rate, malformed frames, idle time and unsent output, and no frame can take the process
down. Decoding is in gateway.framing and gateway.messages, the contract in
gateway.translate, the broker in gateway.handover.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg

from gateway import replies
from gateway import store as gw_store
from gateway.commands import Commands
from gateway.framing import BadFrame, Frame, FrameReader, encode
from gateway.messages import (
    BINARY_COMMANDS,
    POSITION_COMMANDS,
    DecodeError,
    Position,
    command_of,
    decode,
)
from gateway.metrics import GatewayMetrics
from gateway.store import Band
from gateway.translate import Place, Uplink, merge, to_uplinks, watch_time_ms

log = logging.getLogger(__name__)

READ_CHUNK = 4096
MAX_UNSENT_BYTES = 64 * 1024
STATUS_EVERY_S = 600  # a status heartbeat per band at most this often, unless battery moves
KNOWN_TYPES = POSITION_COMMANDS | BINARY_COMMANDS | {
    "LK", "INIT", "TKQ", "TKQ2", "heart", "PULSE", "bphrt", "BLOOD", "btemp2",
}  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """What one connection may do, and how long a band's commands wait for its watch."""

    max_frame_bytes: int = 16 * 1024
    max_frames_per_min: int = 120
    max_bad_frames: int = 10
    idle_timeout_s: float = 900.0
    default_offset_s: int = 0
    max_pending_commands: int = 32
    pending_command_ttl_s: int = 7 * 24 * 3600


class Publisher(Protocol):
    def publish(self, device_id: str, kind: str, payload: dict) -> asyncio.Future: ...


class Database:
    """One connection, used by one worker thread at a time."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._call, fn, kwargs)

    def _call(self, fn: Callable[..., Any], kwargs: dict) -> Any:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._url, autocommit=True)
            try:
                return fn(self._conn, **kwargs)
            except psycopg.OperationalError:
                self._conn.close()
                self._conn = None
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()


class Session:
    """One watch connection."""

    __slots__ = (
        "writer", "frames", "band", "vendor", "tokens", "refilled", "bad", "last_t_ms",
        "last_status", "ended",
    )  # fmt: skip

    def __init__(self, writer: asyncio.StreamWriter, limits: Limits) -> None:
        self.writer = writer
        self.frames = FrameReader(limits.max_frame_bytes)
        self.band: Band | None = None
        self.vendor = "3G"
        self.tokens = float(limits.max_frames_per_min)
        self.refilled = time.monotonic()
        self.bad = 0
        self.last_t_ms = 0
        self.last_status: tuple[int, float] | None = None  # battery, monotonic time sent
        self.ended: str | None = None  # why the gateway closed it, if it did

    def end(self, reason: str) -> None:
        """Close the connection from the gateway's side; `reason` is the metric label."""
        self.ended = reason
        self.writer.close()

    def next_t_ms(self, now_ms: int) -> int:
        """A receive time distinct from the last one and never on a whole second: two
        readings never share a `t`, not even with a report stamped by the watch's clock,
        which ticks in whole seconds (the database keeps one sample per band and `t`)."""
        t_ms = max(now_ms, self.last_t_ms + 1)
        self.last_t_ms = t_ms + 1 if t_ms % 1000 == 0 else t_ms
        return self.last_t_ms

    def send(self, content: bytes, index: str | None = None) -> None:
        assert self.band is not None
        self.writer.write(encode(self.vendor, self.band.watch_id, content, index))


@dataclass(slots=True)
class Batch:
    """Readings of one read's frames, waiting to be handed over together."""

    uplinks: list[Uplink] = field(default_factory=list)
    frames: int = 0  # frames whose readings are in `uplinks`
    alarm_replies: list[tuple[bytes, str | None]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


class Closing(Exception):
    """Close this connection; `reason` is the metric label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Gateway:
    """Serves watch connections and forwards bands' commands to them."""

    def __init__(
        self,
        *,
        db: Database,
        publisher: Publisher,
        metrics: GatewayMetrics,
        limits: Limits = Limits(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.metrics = metrics
        self.limits = limits
        self.clock = clock
        self.sessions: dict[str, Session] = {}  # IMEI -> its one connection
        self.commands = Commands(db=db, metrics=metrics, limits=limits, sessions=self.sessions)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, limit=READ_CHUNK * 4)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(writer, self.limits)
        self.metrics.connections.inc()
        reason = "eof"
        try:
            while True:
                async with asyncio.timeout(self.limits.idle_timeout_s):
                    data = await reader.read(READ_CHUNK)
                if not data:
                    break
                await self._on_read(session, session.frames.feed(data))
                if writer.transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
                    raise Closing("not_reading")
        except Closing as closing:
            reason = closing.reason
        except TimeoutError:
            reason = "idle"
        except (ConnectionError, OSError):
            reason = "reset"
        except asyncio.CancelledError:
            # The gateway is stopping and cancels open connections. Ending the handler here
            # keeps Python 3.11's stream callback from logging a traceback for each one.
            reason = "shutdown"
        except Exception:
            log.exception("watch connection failed")
            reason = "error"
        finally:
            self._forget(session)
            self.metrics.connections.dec()
            self.metrics.closed.labels(session.ended or reason).inc()
            writer.close()

    def _forget(self, session: Session) -> None:
        if session.band is not None and self.sessions.get(session.band.imei) is session:
            del self.sessions[session.band.imei]

    async def _on_read(self, session: Session, items: Iterable[Frame | BadFrame]) -> None:
        """The frames of one read, their readings handed over together (fewer messages when
        a watch's frames queued up behind a slow hand-over)."""
        batch = Batch()
        try:
            for item in items:
                await self._on_item(session, item, batch)
        except Closing:
            await self._hand_over(session, batch)  # what came before the fault is kept
            raise
        await self._hand_over(session, batch)

    async def _hand_over(self, session: Session, batch: Batch) -> None:
        """Publish the batch's readings, wait for the broker, then answer its alarms."""
        band = session.band
        if batch.frames and band is not None:
            uplinks = merge(batch.uplinks)
            for acked in [self.publisher.publish(band.imei, u.kind, u.payload) for u in uplinks]:
                await acked
            self.metrics.messages.inc(len(uplinks))
            elapsed_s = time.monotonic() - batch.started
            for _ in range(batch.frames):
                self.metrics.handover.observe(elapsed_s)
        for reply, index in batch.alarm_replies:  # handed over: the watch may stop re-sending
            session.send(reply, index)

    async def _on_item(self, session: Session, item: Frame | BadFrame, batch: Batch) -> None:
        self._spend_token(session)
        if isinstance(item, BadFrame):
            await self._on_bad(session, item.reason, f"frame {item.reason}", item.raw)
            if session.band is None:  # not even one good frame yet: not a watch of ours
                raise Closing("malformed")
            return
        if session.band is None:
            await self._identify(session, item)
        elif item.watch_id != session.band.watch_id:
            await self._on_bad(session, "header", "another watch id on this connection", item.raw)
            raise Closing("identity")
        command = _type_label(item.content)
        self.metrics.frames.labels(command).inc()
        try:
            message = decode(item.content)
        except DecodeError as exc:
            await self._on_bad(session, "decode", str(exc), item.raw)
            return
        try:
            await self._on_message(session, item, message, batch)
        except Closing:
            raise
        except Exception:  # one bad reading must not end the connection
            log.exception("frame %s of watch %s not handled", command, item.watch_id)
            await self._on_bad(session, "decode", "frame could not be handled", item.raw)

    def _spend_token(self, session: Session) -> None:
        now = time.monotonic()
        per_s = self.limits.max_frames_per_min / 60.0
        session.tokens = min(
            float(self.limits.max_frames_per_min),
            session.tokens + (now - session.refilled) * per_s,
        )
        session.refilled = now
        if session.tokens < 1:
            raise Closing("rate")
        session.tokens -= 1

    async def _on_bad(self, session: Session, reason: str, detail: str, raw: bytes) -> None:
        self.metrics.decode_failures.labels(reason).inc()
        session.bad += 1
        if session.bad > self.limits.max_bad_frames:
            raise Closing("malformed")
        band = session.band
        imei = band.imei if band else None
        await self._dead_letter(
            band.watch_id if band else None, imei, "malformed_frame", detail, raw
        )

    async def _dead_letter(
        self, watch_id: str | None, imei: str | None, reason: str, detail: str, raw: bytes
    ) -> None:
        try:
            await self.db.run(
                gw_store.dead_letter,
                watch_id=watch_id,
                imei=imei,
                reason=reason,
                detail=detail,
                raw=raw,
                received_ms=int(self.clock() * 1000),
            )
        except psycopg.Error:
            log.exception("dead letter not recorded")

    async def _identify(self, session: Session, frame: Frame) -> None:
        band = await self.db.run(gw_store.find_band, watch_id=frame.watch_id)
        if band is None:
            detail = "watch id is not provisioned"
            await self._dead_letter(frame.watch_id, None, "unknown_device", detail, frame.raw)
            raise Closing("unknown_device")
        session.band, session.vendor = band, frame.vendor
        old = self.sessions.get(band.imei)
        if old is not None:  # one connection per band: the newest is the watch
            old.end("replaced")
        self.sessions[band.imei] = session
        await self.commands.send_waiting(session)

    async def _on_message(self, session: Session, frame: Frame, message: Any, batch: Batch) -> None:
        reply = replies.reply_to(message)
        alarm = isinstance(message, Position) and message.alarm
        if reply is not None and not alarm:
            session.send(reply, frame.index)
        uplinks = await self._uplinks(session, frame, message)
        if uplinks:
            batch.uplinks += uplinks
            batch.frames += 1
        if reply is not None and alarm:
            batch.alarm_replies.append((reply, frame.index))

    async def _uplinks(self, session: Session, frame: Frame, message: Any) -> list[Uplink]:
        band = session.band
        assert band is not None
        offset_s = self.limits.default_offset_s if band.offset_s is None else band.offset_s
        received_ms = session.next_t_ms(int(self.clock() * 1000))
        place = None
        if isinstance(message, Position) and not message.valid and message.cells + message.wifi:
            place = await self._observe(band, message, offset_s)
        uplinks = to_uplinks(
            message,
            content=frame.content,
            imei=band.imei,
            offset_s=offset_s,
            received_ms=received_ms,
            resolved=place,
        )
        return [u for u in uplinks if u.kind != "status" or self._status_due(session, u)]

    async def _observe(self, band: Band, message: Position, offset_s: int) -> Place | None:
        place = await self.db.run(gw_store.resolve_cells, cells=message.cells)
        await self.db.run(
            gw_store.record_observation,
            imei=band.imei,
            t_ms=watch_time_ms(message, offset_s),
            cells=message.cells,
            wifi=message.wifi,
            place=place,
        )
        return place

    def _status_due(self, session: Session, uplink: Uplink) -> bool:
        battery, now = uplink.payload["battery"], time.monotonic()
        last = session.last_status
        if last is not None and last[0] == battery and now - last[1] < STATUS_EVERY_S:
            return False
        session.last_status = (battery, now)
        return True

    async def cut_off_revoked(self, every_s: float) -> None:
        """Close the connections of bands revoked while their watch was connected."""
        while True:
            await asyncio.sleep(every_s)
            if not self.sessions:
                continue
            try:
                revoked = await self.db.run(gw_store.revoked_among, device_ids=list(self.sessions))
            except psycopg.Error:
                log.exception("revoked bands not checked")
                continue
            for imei in revoked:
                session = self.sessions.pop(imei, None)
                if session is not None:
                    session.end("revoked")


def _type_label(content: bytes) -> str:
    """The frame's command as a metric label: known commands only, so labels stay few."""
    command = command_of(content)
    return command if command in KNOWN_TYPES else "other"
