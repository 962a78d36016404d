"""`eldercare gateway`: the 4G watch TCP server as its own process."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from eldercare.settings import Settings
from gateway.downlink import CommandFeed
from gateway.handover import HandOver
from gateway.metrics import GatewayMetrics
from gateway.server import Database, Gateway, Limits

log = logging.getLogger(__name__)


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_frame_bytes=settings.gateway_max_frame_bytes,
        max_frames_per_min=settings.gateway_max_frames_per_min,
        max_bad_frames=settings.gateway_max_bad_frames,
        idle_timeout_s=settings.gateway_idle_timeout_s,
        default_offset_s=settings.gateway_utc_offset_min * 60,
        max_pending_commands=settings.gateway_max_pending_commands,
        pending_command_ttl_s=settings.gateway_pending_command_ttl_s,
    )


class GatewayService:
    """The server, its broker hand-over and its database, started and stopped together."""

    def __init__(self, settings: Settings, metrics: GatewayMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or GatewayMetrics()
        self.db = Database(settings.database_url.get_secret_value())
        self.gateway: Gateway | None = None
        self.handover: HandOver | None = None
        self.commands: CommandFeed | None = None
        self.server: asyncio.Server | None = None
        self._revocations: asyncio.Task | None = None

    async def start(self) -> int:
        """Start serving; return the port (useful when the setting is 0)."""
        loop = asyncio.get_running_loop()
        self.handover = HandOver(self.settings.gateway_amqp_urls)
        self.commands = CommandFeed(
            self.settings.gateway_mqtt,
            self.settings.gateway_client_id,
            lambda device_id, command, done: self._on_command(device_id, command, done),
        )
        self.gateway = Gateway(
            db=self.db,
            publisher=self.handover,
            metrics=self.metrics,
            limits=limits_from(self.settings),
        )
        self.handover.start(loop)
        self.commands.start(loop)
        self.server = await self.gateway.serve(
            self.settings.gateway_host, self.settings.gateway_port
        )
        self._revocations = loop.create_task(
            self.gateway.cut_off_revoked(self.settings.gateway_revocation_check_s)
        )
        port = self.server.sockets[0].getsockname()[1]
        log.info("gateway listening on %s:%s", self.settings.gateway_host, port)
        return port

    def _on_command(self, device_id: str, command: dict, done: Callable[[], None]) -> None:
        if self.gateway is not None:
            self.gateway.commands.on_command(device_id, command, done)

    async def stop(self) -> None:
        if self._revocations is not None:
            self._revocations.cancel()
        if self.server is not None:
            self.server.close()
            for session in list(self.gateway.sessions.values()) if self.gateway else []:
                session.writer.close()
        if self.commands is not None:
            self.commands.stop()
        if self.handover is not None:
            self.handover.stop()
        self.db.close()


async def _serve(settings: Settings) -> None:
    service = GatewayService(settings)
    service.metrics.serve(settings.gateway_metrics_port)
    await service.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("gateway stopping")
    await service.stop()


def run_gateway(settings: Settings) -> int:
    asyncio.run(_serve(settings))
    return 0
