"""Watch gateway: thousands of 4G watches on loopback -> gateway -> broker -> ingest -> database.

Everything real on this machine: a throwaway broker with the project's config, a fresh
TimescaleDB database, Redis, `eldercare ingest` and `eldercare gateway` as child processes.
This script plays the watches: it opens one TCP connection per watch, identifies each with
an LK heartbeat, measures the gateway's memory per idle connection, then has every watch
send UD position reports and LK heartbeats in turn at `--rate` frames/s for `--seconds`.

Figures: frames/s decoded and handed over to the broker (the gateway's own counters),
frames/s end to end (every frame's telemetry row committed), and frame -> stored latency
from probe watches (send time -> the commit that holds its fix, from ingest's stored stream).

CPU per frame (user + system seconds of the gateway, the broker and ingest over the run,
divided by the frames handed over) tells the parts' costs apart on a busy machine.

    python bench/gateway_throughput.py [--watches 5000] [--rate 5000] [--seconds 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout and its tests
from eldercare import keys  # noqa: E402
from eldercare.imei import make_imei  # noqa: E402
from eldercare.migrate import apply_all  # noqa: E402
from eldercare.registry import register_devices  # noqa: E402
from eldercare.settings import Settings  # noqa: E402
from gateway.framing import encode  # noqa: E402
from gateway.store import set_watch_id  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.processes import spawn_service  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_FRAMES_PER_S = 5000
TARGET_IDLE_BYTES = 20 * 1024
PROBES = 100


def ud(watch_id: str, at: float, steps: int) -> bytes:
    when = datetime.fromtimestamp(at, UTC).strftime("%d%m%y,%H%M%S")
    content = f"UD,{when},A,41.108000,N,122.994000,E,1.2,90.0,10.0,8,80,70,{steps},0,00000000,0,0"
    return encode("3G", watch_id, content.encode())


def lk(watch_id: str, steps: int) -> bytes:
    return encode("3G", watch_id, b"LK,%d,0,70" % steps)


class Watch:
    __slots__ = ("watch_id", "reader", "writer", "sent")

    def __init__(self, watch_id: str) -> None:
        self.watch_id, self.sent = watch_id, 0


async def connect_all(watches: list[Watch], port: int) -> None:
    async def one(w: Watch) -> None:
        w.reader, w.writer = await asyncio.open_connection("127.0.0.1", port)
        w.writer.write(lk(w.watch_id, 0))
        await w.reader.readuntil(b"]")  # the LK reply: identified and idle

    for start in range(0, len(watches), 500):  # do not flood the listen backlog
        await asyncio.gather(*(one(w) for w in watches[start : start + 500]))


async def drain(w: Watch) -> None:
    try:
        while await w.reader.read(4096):
            pass
    except (ConnectionError, asyncio.CancelledError):
        return


async def load(watches: list[Watch], rate: float, seconds: float) -> tuple[int, float]:
    """Round-robin over the watches at `rate` frames/s; UD and LK alternate per watch."""
    tick_s, sent, i = 0.01, 0, 0
    began = time.monotonic()
    while (elapsed := time.monotonic() - began) < seconds:
        due = int(elapsed * rate) - sent
        for _ in range(due):
            w = watches[i % len(watches)]
            i += 1
            w.sent += 1
            now = time.time()
            w.writer.write(ud(w.watch_id, now, w.sent) if w.sent % 2 else lk(w.watch_id, w.sent))
        sent += max(due, 0)
        await asyncio.sleep(tick_s)
    return sent, time.monotonic() - began


async def probe(watches: list[Watch], seconds: float, sent_at: dict) -> None:
    """One probe frame every 2 s per probe watch, spread out; remember when each was sent."""
    period = 2.0 / len(watches)
    began, k = time.monotonic(), 0
    while time.monotonic() - began < seconds:
        w = watches[k % len(watches)]
        k += 1
        w.sent += 1
        now = time.time()
        sent_at.setdefault(w.watch_id, []).append(now)
        w.writer.write(ud(w.watch_id, now, w.sent))
        await asyncio.sleep(period)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pids = 0.0, [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
        pids += [int(c) for c in children]
    return total


def scrape(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def wait_for(pred, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def wait_stored(count, expected: int, started: float, timeout_s: float) -> tuple[int, float, bool]:
    """Rows stored, seconds from `started` to the last new row, and whether all came.

    Stops 10 s after the last new row if some never come, rather than time the wait for them.
    """
    deadline, last, last_at = time.monotonic() + timeout_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        now, stored = time.monotonic(), count()
        if stored != last:
            last, last_at = stored, now
        if stored >= expected or now - last_at > 10:
            break
        time.sleep(0.2)
    return last, last_at - started, last >= expected


def probe_latencies(r: redis.Redis, key: str, sent_at: dict, imei_of: dict) -> np.ndarray:
    """Send time -> commit time of the first stored batch holding the probe's new fix."""
    commits: dict[str, list[int]] = {}
    for _id, fields in r.xrange(key):
        entry = orjson.loads(fields[b"batch"])
        for band in entry["location"]:
            commits.setdefault(band, []).append(entry["committed_at_ms"])
    out = []
    for watch_id, sends in sent_at.items():
        times = sorted(commits.get(imei_of[watch_id], []))
        for sent in sends:
            later = [c for c in times if c >= sent * 1000 - 1]
            if later:
                out.append(later[0] - sent * 1000)
    return np.array(out)


def pure_rate(n: int = 20_000) -> float:
    """Frames/s through FrameReader, decode and to_uplinks in this process (no I/O)."""
    from gateway.framing import FrameReader
    from gateway.messages import decode
    from gateway.translate import to_uplinks

    data = b"".join(ud("8800000015", time.time(), i) + lk("8800000015", i) for i in range(n // 2))
    began = time.perf_counter()
    for frame in FrameReader().feed(data):
        content = frame.content  # type: ignore[union-attr]
        to_uplinks(decode(content), content=content, imei="860000000000017", offset_s=0,
                   received_ms=1)  # fmt: skip
    return n / (time.perf_counter() - began)


def main() -> None:  # noqa: PLR0915 - a benchmark reads best top to bottom
    parser = argparse.ArgumentParser()
    parser.add_argument("--watches", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=5000.0, help="frames/s from all watches")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="1,000 watches, 1,000 frames/s, 10 s")
    args = parser.parse_args()
    if args.quick:
        args.watches, args.rate, args.seconds = 1000, 1000.0, 10.0
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")

    state_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    state_dir.chmod(0o755)
    broker = services.ThrowawayBroker(state_dir=state_dir)
    broker.start()
    db_url = services.create_database(ADMIN_URL, prefix="eldercare_bench")
    children = []
    try:
        imeis = [make_imei(700_000 + i) for i in range(args.watches + PROBES)]
        imei_of = {imei[-10:]: imei for imei in imeis}
        with psycopg.connect(db_url, autocommit=True) as conn:
            apply_all(conn)
            register_devices(conn, imeis)
            for imei in imeis:
                set_watch_id(conn, device_id=imei, watch_id=imei[-10:], offset_min=0)
        gateway_port, metrics_port = services.free_port(), services.free_port()
        settings = Settings(
            environment="test",
            database_url=db_url,
            redis_url="redis://127.0.0.1:6379/14",
            redis_prefix=f"bench-{uuid.uuid4().hex[:8]}:",
            amqp_url=broker.amqp_url("ingest"),
            gateway_mqtt_url=broker.url("gateway"),
            gateway_amqp_url=broker.amqp_url("gateway"),
            broker_admin_url=broker.node.admin_url,
            ingest_client_id=f"bench-{uuid.uuid4().hex[:6]}",
            ingest_metrics_port=0,
            gateway_port=gateway_port,
            gateway_metrics_port=metrics_port,
            gateway_client_id=f"bench-gw-{uuid.uuid4().hex[:6]}",
        )
        children.append(spawn_service(settings, "ingest", log_path=state_dir / "ingest.log"))
        gw = spawn_service(settings, "gateway", log_path=state_dir / "gateway.log")
        children.append(gw)
        r = redis.Redis.from_url("redis://127.0.0.1:6379/14")
        db = psycopg.connect(db_url, autocommit=True)
        stored_rows = lambda: db.execute("SELECT count(*) FROM telemetry_samples").fetchone()[0]  # noqa: E731
        stream = keys.stored_stream(settings.redis_prefix, 0, settings.alerting_shard_count)
        if not wait_for(lambda: listening(gateway_port), 90):
            raise SystemExit(f"the gateway did not start; see {state_dir / 'gateway.log'}")
        time.sleep(2.0)  # ingest subscribed

        async def run() -> tuple:
            watches = [Watch(imei[-10:]) for imei in imeis[: args.watches]]
            probes = [Watch(imei[-10:]) for imei in imeis[args.watches :]]
            before = rss_bytes(gw.pid)
            began = time.monotonic()
            await connect_all(watches, gateway_port)
            connect_s = time.monotonic() - began
            await asyncio.sleep(2.0)
            idle = (rss_bytes(gw.pid) - before) / len(watches)
            await connect_all(probes, gateway_port)
            drains = [asyncio.create_task(drain(w)) for w in watches + probes]
            wait_for(lambda: stored_rows() >= len(watches) + len(probes), 60)
            handed0 = scrape(metrics_port, "eldercare_gateway_handover_seconds_count")
            messages0 = scrape(metrics_port, "eldercare_gateway_messages_total")
            rows0, started = stored_rows(), time.monotonic()
            cpu0 = {name: cpu_s(pid) for name, pid in pids.items()}
            sent_at: dict = {}
            (sent, load_s), _ = await asyncio.gather(
                load(watches, args.rate, args.seconds), probe(probes, args.seconds, sent_at)
            )
            offered = sent + sum(len(v) for v in sent_at.values())
            handed_count = lambda: (  # noqa: E731
                scrape(metrics_port, "eldercare_gateway_handover_seconds_count") - handed0
            )
            wait_for(lambda: handed_count() >= offered, 120)
            handed, handed_s = handed_count(), time.monotonic() - started
            messages = scrape(metrics_port, "eldercare_gateway_messages_total") - messages0
            cpu_gateway = cpu_s(gw.pid) - cpu0["gateway"]
            stored, stored_s, stored_all = wait_stored(
                lambda: stored_rows() - rows0, offered, started, 120
            )
            cpu = {name: cpu_s(pid) - cpu0[name] for name, pid in pids.items()}
            cpu["gateway"] = cpu_gateway  # to its last hand-over, not its idle wait after
            return (watches, probes, drains, sent, load_s, offered, handed, handed_s, stored,
                    stored_s, stored_all, idle, connect_s, sent_at, cpu, messages)  # fmt: skip

        loop = asyncio.new_event_loop()
        pids = {"gateway": gw.pid, "broker": broker.process.pid, "ingest": children[0].pid}
        (watches, probes, drains, sent, load_s, offered, handed, handed_s, stored, stored_s,
         stored_all, idle, connect_s, sent_at, cpu,
         messages) = loop.run_until_complete(run())  # fmt: skip
        latencies = probe_latencies(r, stream, sent_at, imei_of)
        for w in watches + probes:
            w.writer.close()
        for task in drains:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*drains, return_exceptions=True))
        loop.close()

        print(f"watches: {args.watches} connections (+{PROBES} probes), connected in "
              f"{connect_s:.1f} s")  # fmt: skip
        print(f"memory per idle connection: {idle / 1024:.1f} KB "
              f"(target < {TARGET_IDLE_BYTES // 1024} KB)")  # fmt: skip
        print(f"offered: {sent:,} UD+LK frames in {load_s:.1f} s = {sent / load_s:,.0f} frames/s")
        print(f"decoded and handed over (broker confirm): {handed:,.0f}/{offered:,} frames in "
              f"{handed_s:.1f} s = {handed / handed_s:,.0f} frames/s")  # fmt: skip
        print(f"  in {messages:,.0f} contract messages ({messages / max(handed, 1):.2f} per frame;"
              " frames read together are merged)")  # fmt: skip
        print(f"end to end (telemetry row committed): {stored:,}/{offered:,} frames in "
              f"{stored_s:.1f} s = {stored / stored_s:,.0f} frames/s"
              f"{'' if stored_all else ' (the rest never came)'} "
              f"(target >= {TARGET_FRAMES_PER_S:,})")  # fmt: skip
        if not stored_all:
            dead = db.execute("SELECT reason::text, count(*) FROM dead_letters GROUP BY 1")
            print(f"  rows not stored: {offered - stored:,}; dead letters: {dead.fetchall()}")
        print(f"baseline, decode + translate alone on one core: {pure_rate():,.0f} frames/s")
        per_frame = {name: seconds / max(handed, 1) * 1e6 for name, seconds in cpu.items()}
        print("CPU per frame: " + ", ".join(f"{n} {us:,.0f} µs" for n, us in per_frame.items())
              + f" (gateway alone would hand over {1e6 / per_frame['gateway']:,.0f} frames/s "
              "on one core)")  # fmt: skip
        if len(latencies):
            p50, p99 = np.percentile(latencies, [50, 99])
            print(f"frame -> stored (probes, n={len(latencies)}): p50 {p50:.0f} ms  "
                  f"p99 {p99:.0f} ms  max {latencies.max():.0f} ms")  # fmt: skip
        print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=60)  # the gateway closes thousands of connections first
            except subprocess.TimeoutExpired:
                child.kill()
        broker.stop()
        services.drop_database(ADMIN_URL, db_url)


if __name__ == "__main__":
    main()
