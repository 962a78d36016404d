"""`eldercare simulate`: a simulated fleet publishing to the project's broker."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eldercare.settings import Settings
from simulators.band import BandConfig
from simulators.connection import ConnectionFailed
from simulators.fleet import Fleet, fleet_device_ids
from simulators.scenarios import (
    COMMUNITY_CENTRE,
    DEFAULT_TZ,
    DEMO_REPLAY,
    SCENARIOS,
    World,
    build_bands,
    message_faults,
)

log = logging.getLogger(__name__)
DEFAULT_HORIZON = timedelta(hours=24)  # where scenarios place their trouble when run open-ended
MAX_LOOKBACK = timedelta(days=6, hours=12)  # stay inside ingest's 7-day window


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `eldercare simulate`."""
    parser.add_argument("--bands", type=int, default=50, help="number of simulated bands")
    parser.add_argument("--seed", type=int, default=0, help="everything follows from the seed")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="normal")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second; above 1 needs --duration-s and replays "
        "the recent past so that the band clocks end at the real now",
    )
    parser.add_argument(
        "--duration-s",
        type=float,
        default=None,
        help="stop after this many real seconds (default: run until signalled)",
    )
    parser.add_argument(
        "--register",
        action="store_true",
        help="register the fleet's IMEIs in the devices table (development)",
    )
    parser.add_argument("--connections", type=int, default=4, help="MQTT connections to use")
    parser.add_argument("--max-rate", type=float, default=2000.0, help="messages per second cap")
    parser.add_argument("--first-serial", type=int, default=1, help="serial of the first IMEI")
    parser.add_argument(
        "--centre-lat",
        type=float,
        default=COMMUNITY_CENTRE[0],
        help="latitude of the community the homes are around",
    )
    parser.add_argument("--centre-lon", type=float, default=COMMUNITY_CENTRE[1])
    parser.add_argument("--tz", default=DEFAULT_TZ.key, help="the residents' time zone")
    parser.add_argument(
        "--crs", choices=["wgs84", "gcj02"], default="wgs84", help="datum the bands report fixes in"
    )
    parser.add_argument(
        "--protocol",
        choices=["mqtt", "watch"],
        default="mqtt",
        help="mqtt: the firmware contract to the broker; watch: the 4G watch text protocol "
        "to the watch gateway (ELDERCARE_GATEWAY_HOST/PORT), one TCP connection per band",
    )


def plan_clock(speed: float, duration_s: float | None, now: datetime) -> tuple[datetime, timedelta]:
    """Simulated start time and horizon; accelerated runs replay the past up to `now`."""
    if speed <= 0:
        raise ValueError("--speed must be positive")
    if speed == 1:
        horizon = timedelta(seconds=duration_s) if duration_s else DEFAULT_HORIZON
        return now, horizon
    if duration_s is None:
        raise ValueError("--speed above 1 needs --duration-s (band clocks must not run ahead)")
    simulated = timedelta(seconds=duration_s * speed)
    if simulated > MAX_LOOKBACK:
        raise ValueError("--speed x --duration-s exceeds 6.5 simulated days")
    return now - simulated, simulated


def register(settings: Settings, device_ids: list[str], *, watches: bool = False) -> None:
    """Add the fleet's bands to the registry so ingest (and the watch gateway) accept them."""
    from eldercare.db import connect
    from eldercare.registry import register_devices

    with connect(settings) as conn:
        added = register_devices(conn, device_ids)
        if watches:
            from gateway.store import set_watch_id
            from simulators.watch import watch_id_of

            for imei in device_ids:
                set_watch_id(conn, device_id=imei, watch_id=watch_id_of(imei), offset_min=0)
        conn.commit()
    log.info("registered %s new bands (%s in the fleet)", added, len(device_ids))


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while inside; the previous handlers come back after."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping the fleet", signum)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _make_fleet(settings: Settings, args: argparse.Namespace) -> Fleet:
    if args.protocol == "watch":
        from simulators.watch import WatchFleet

        return WatchFleet(
            settings.gateway_host, settings.gateway_port, max_rate_per_s=args.max_rate
        )
    target = settings.simulator_mqtt
    return Fleet(target, connections=args.connections, max_rate_per_s=args.max_rate)


def _target_name(settings: Settings, args: argparse.Namespace) -> str:
    if args.protocol == "watch":
        return f"watch gateway at {settings.gateway_host}:{settings.gateway_port}"
    return f"broker at {settings.simulator_mqtt.host}:{settings.simulator_mqtt.port}"


def run_simulation(settings: Settings, args: argparse.Namespace) -> int:
    """Run a simulated fleet until the duration passes or SIGTERM/SIGINT arrives."""
    device_ids = fleet_device_ids(args.bands, args.first_serial)
    try:
        start, horizon = plan_clock(args.speed, args.duration_s, datetime.now(UTC))
        live_from = None
        if args.scenario == "demo":  # begins in the past, caught up at once
            live_from, start, horizon = start, start - DEMO_REPLAY, horizon + DEMO_REPLAY
        world = World(
            seed=args.seed,
            start=start,
            duration=horizon,
            centre=(args.centre_lat, args.centre_lon),
            tz=ZoneInfo(args.tz),
            config=BandConfig(crs=args.crs),
        )
        bands = build_bands(args.scenario, world, device_ids)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        log.error("cannot simulate: %s", exc)
        return 2
    if args.register:
        register(settings, device_ids, watches=args.protocol == "watch")
    fleet = _make_fleet(settings, args)
    try:
        fleet.start()
    except (ConnectionFailed, OSError) as exc:
        log.error("cannot reach the %s: %s", _target_name(settings, args), exc)
        return 1
    log.info("simulating %s bands, scenario %s, speed %sx", len(bands), args.scenario, args.speed)
    try:
        with stop_on_signals() as stop:
            fleet.run(
                bands,
                sim_start=start,
                speed=args.speed,
                stop=stop,
                real_duration_s=args.duration_s,
                transform=message_faults(args.scenario, args.seed),
                live_from=live_from,
            )
        fleet.wait_until_acked(10.0)
    finally:
        fleet.stop()
    return 0
