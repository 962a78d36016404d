"""SOS latency: a band publishes an SOS -> the 120 gateway receives it, while a fleet loads ingest.

Everything real and on this machine: a throwaway broker with the project's config, a fresh
TimescaleDB database, Redis, `eldercare ingest` and `eldercare alerting` as child processes, and
an HTTP receiver standing in for the 120 gateway. Each press is a different band (an open SOS
alert absorbs repeats of the same resident).
Then the 120 stand-in goes down (503) and more bands press: each must reach the duty console as
"120 not reached: call 120 now" (`emergency_unreached`) within the deadline (`--deadline`, s).

    python bench/sos_latency.py [--presses 200] [--fleet 500] [--rate 500]
                                [--down-presses 30] [--deadline 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
import psycopg
import redis

from eldercare import keys, topics
from eldercare.imei import make_imei
from eldercare.migrate import apply_all
from eldercare.registry import register_devices
from eldercare.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # reuse the test harness
from tests.alerting.receivers import Receiver  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.mqtt import Publisher  # noqa: E402
from tests.support.processes import spawn_service  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOME = (41.108, 122.994)


def load_fleet(
    publisher: Publisher, bands: list[str], rate: float, stop: threading.Event, sent: list[int]
) -> None:
    """One telemetry sample per message, round-robin over the fleet, at `rate` messages/s."""
    period, i, next_at = 1.0 / rate, 0, time.monotonic()
    while not stop.is_set():
        band = bands[i % len(bands)]
        now_ms = int(time.time() * 1000)
        sample = {"t": now_ms, "hr": 70 + i % 9, "steps": i // len(bands), "worn": True}
        body = orjson.dumps({"v": 1, "sent_at": now_ms, "samples": [sample]})
        publisher.publish(topics.uplink(band, "telemetry"), body)
        i += 1
        sent[0] = i
        next_at += period
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def press_all(presser: Publisher, bands: list[str], published: dict[str, float]) -> None:
    """Each band presses SOS once, 0.1 s apart; `published` gets each press's wall time."""
    for band in bands:
        now_ms = int(time.time() * 1000)
        event = {
            "v": 1,
            "sent_at": now_ms,
            "id": f"bench-{band}",
            "t": now_ms,
            "type": "sos",
            "lat": HOME[0],
            "lon": HOME[1],
            "acc": 8.0,
        }
        published[band] = time.time()
        presser.publish(topics.uplink(band, "event"), orjson.dumps(event))
        time.sleep(0.1)


def call_120_now_times(r: redis.Redis, key: str, since: float) -> dict[str, float]:
    """Band -> when the console first showed its 'call 120 now' (stream entry time)."""
    told: dict[str, float] = {}
    for entry_id, fields in r.xrange(key, min=f"{int(since * 1000)}-0"):
        page = orjson.loads(fields[b"data"])
        if page.get("alert", {}).get("rule") != "emergency_unreached":
            continue
        at = int(entry_id.decode().split("-")[0]) / 1000
        for case in page.get("emergencies", []):
            told.setdefault(case["device_id"], at)
    return told


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--fleet", type=int, default=500)
    parser.add_argument("--rate", type=float, default=500.0, help="fleet messages per second")
    parser.add_argument("--down-presses", type=int, default=30, help="presses while 120 is down")
    parser.add_argument("--deadline", type=float, default=60.0, help="emergency deadline, s")
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="sos-bench-"))
    state_dir.chmod(0o755)
    broker = services.ThrowawayBroker(state_dir=state_dir)
    broker.start()
    db_url = services.create_database(ADMIN_URL, prefix="eldercare_bench")
    g120, others = Receiver().start(), Receiver().start()
    children = []
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            apply_all(conn)
            fleet = [make_imei(900_000 + i) for i in range(args.fleet)]
            sos_bands = [make_imei(800_000 + i) for i in range(args.presses)]
            down_bands = [make_imei(700_000 + i) for i in range(args.down_presses)]
            register_devices(conn, fleet + sos_bands + down_bands)
            for band in fleet + sos_bands + down_bands:
                rid = conn.execute(
                    "INSERT INTO residents (full_name, address) VALUES ('Bench Resident', 'x') "
                    "RETURNING resident_id"
                ).fetchone()[0]
                conn.execute(
                    "UPDATE devices SET resident_id = %s WHERE device_id = %s", (rid, band)
                )
        settings = Settings(
            environment="test",
            database_url=db_url,
            redis_url="redis://127.0.0.1:6379/14",
            redis_prefix=f"bench-{uuid.uuid4().hex[:8]}:",
            amqp_url=broker.amqp_url("ingest"),
            simulator_mqtt_url=broker.url("simulator"),
            api_mqtt_url=broker.url("api"),
            broker_admin_url=broker.node.admin_url,
            ingest_client_id=f"bench-{uuid.uuid4().hex[:6]}",
            ingest_metrics_port=0,
            alerting_gateway_120_url=g120.url,
            alerting_community_gateway_url=others.url,
            alerting_family_gateway_url=others.url,
            alerting_emergency_deadline_s=args.deadline,
            alerting_http_port=0,
        )
        children.append(spawn_service(settings, "ingest", log_path=state_dir / "ingest.log"))
        children.append(spawn_service(settings, "alerting", log_path=state_dir / "alerting.log"))
        time.sleep(4.0)
        stop, sent = threading.Event(), [0]
        loader = threading.Thread(
            target=load_fleet,
            args=(Publisher(broker.url("simulator")), fleet, args.rate, stop, sent),
            daemon=True,
        )
        loader.start()
        time.sleep(2.0)
        presser = Publisher(broker.url("simulator"))
        published: dict[str, float] = {}
        load_start, load_sent = time.monotonic(), sent[0]
        press_all(presser, sos_bands, published)
        deadline = time.monotonic() + 30
        while len(g120.received) < args.presses and time.monotonic() < deadline:
            time.sleep(0.05)
        load_rate = (sent[0] - load_sent) / (time.monotonic() - load_start)
        received = list(g120.received)  # phase 1 only: 120 up
        g120.status = 503  # the 120 gateway goes down
        console_before = time.time()
        press_all(presser, down_bands, published)
        r = redis.Redis.from_url(settings.redis_url.get_secret_value())
        console_key = keys.alert_console(settings.redis_prefix)
        deadline = time.monotonic() + args.deadline + 15
        told: dict[str, float] = {}
        while len(told) < len(down_bands) and time.monotonic() < deadline:
            told = call_120_now_times(r, console_key, console_before)
            time.sleep(0.2)
        stop.set()
        latencies = np.array([r.at - published[r.json["device_id"]] for r in received]) * 1000
        idem_keys = {r.headers["Idempotency-Key"] for r in received}
        print(
            f"presses={args.presses} fleet={args.fleet} bands, load {load_rate:,.0f} msg/s "
            "through ingest during the presses"
        )
        print(
            f"delivered to 120 gateway: {len(idem_keys)}/{args.presses} (requests {len(received)})"
        )
        if len(latencies):
            p50, p99 = np.percentile(latencies, [50, 99])
            print(
                f"publish -> 120 receives: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
                f"max {latencies.max():6.1f} ms"
            )
        told_ms = np.array([told[b] - published[b] for b in down_bands if b in told]) * 1000
        print(
            f"120 down: 'call 120 now' on the console for {len(told_ms)}/{len(down_bands)} "
            f"presses (deadline {args.deadline:g} s)"
        )
        if len(told_ms):
            p50, p99 = np.percentile(told_ms, [50, 99])
            print(
                f"publish -> 'call 120 now' on the console: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
                f"  max {told_ms.max():6.1f} ms  (p99 beyond the deadline: "
                f"{p99 - args.deadline * 1000:6.1f} ms)"
            )
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=15)
        g120.stop()
        others.stop()
        broker.stop()
        services.drop_database(ADMIN_URL, db_url)


if __name__ == "__main__":
    main()
