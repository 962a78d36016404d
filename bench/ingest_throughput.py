"""End-to-end ingest throughput on this machine, next to its ceiling and a naive baseline.

Method, the same for every consumer: create the consumer's persistent session, stop it,
queue N QoS 1 messages for it in a fresh broker, start it, and time the drain from its
first stored (or parsed) message to its last. Broker, database and consumer share the
machine, as in production on one node.

    python bench/ingest_throughput.py [--messages 60000] [--batched-samples 20]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eldercare.imei import make_imei
from eldercare.migrate import apply_all
from eldercare.registry import register_devices
from eldercare.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # reuse the test harness
from tests.support import services  # noqa: E402
from tests.support.mqtt import Publisher  # noqa: E402
from tests.support.processes import spawn_service  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
BANDS = 200
RECEIVE_MAXIMUM = 2000


def make_messages(n: int, samples_per_message: int) -> list[tuple[str, bytes]]:
    bands = [make_imei(700_000 + i) for i in range(BANDS)]
    start = int(time.time() * 1000) - 3 * 86400_000
    out = []
    for i in range(n):
        band = bands[i % BANDS]
        t0 = start + (i // BANDS) * samples_per_message * 1000
        samples = [
            {
                "t": t0 + k * 1000,
                "hr": 60 + (i + k) % 50,
                "sbp": 120,
                "dbp": 80,
                "steps": i,
                "worn": True,
            }
            for k in range(samples_per_message)
        ]
        out.append(
            (
                f"eldercare/v1/{band}/telemetry",
                orjson.dumps({"v": 1, "sent_at": t0, "samples": samples}),
            )
        )
    return out


def connect_props() -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    return props


def bare_subscriber(
    url_port: int, client_id: str, expected: int, out: mp.Queue, naive_db: str | None
):
    """The ceiling (parse and discard) or, with naive_db, one autocommit INSERT per message."""
    conn = psycopg.connect(naive_db, autocommit=True) if naive_db else None
    state = {"n": 0, "first": 0.0}

    def on_message(_c, _u, msg):
        body = orjson.loads(msg.payload)
        if state["n"] == 0:
            state["first"] = time.perf_counter()
        if conn is not None:
            device = msg.topic.split("/")[2]
            for s in body["samples"]:
                conn.execute(
                    "INSERT INTO telemetry_samples (device_id, t, hr, sbp, dbp, steps, worn,"
                    " received_at) VALUES (%s, to_timestamp(%s / 1000.0), %s, %s, %s, %s, %s,"
                    " now()) ON CONFLICT DO NOTHING",
                    (
                        device,
                        s["t"],
                        s.get("hr"),
                        s.get("sbp"),
                        s.get("dbp"),
                        s.get("steps"),
                        s.get("worn"),
                    ),
                )
        state["n"] += 1
        if state["n"] == expected:
            out.put((state["first"], time.perf_counter()))
            client.disconnect()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set("ingest", "dev-ingest-secret")
    client.max_inflight_messages_set(RECEIVE_MAXIMUM)
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("$share/bench/eldercare/v1/+/telemetry", qos=1)
    client.connect("127.0.0.1", url_port, clean_start=False, properties=connect_props())
    if expected == 0:
        client.loop_start()
        time.sleep(1.0)
        client.disconnect()
        client.loop_stop()
        return
    client.loop_forever()


def run_bare(port: int, messages, naive_db: str | None = None) -> float:
    client_id = f"bench-{uuid.uuid4().hex[:6]}"
    mp.Process(target=bare_subscriber, args=(port, client_id, 0, None, None)).run()
    publish_all(port, messages)
    out: mp.Queue = mp.Queue()
    proc = mp.Process(target=bare_subscriber, args=(port, client_id, len(messages), out, naive_db))
    proc.start()
    first, last = out.get(timeout=900)
    proc.join()
    return (len(messages) - 1) / (last - first)


def publish_all(port: int, messages) -> None:
    pub = Publisher(f"mqtt://simulator:dev-simulator-secret@127.0.0.1:{port}")
    for topic, payload in messages:
        pub.publish(topic, payload)
    pub.wait_all_acked(timeout_s=600)
    pub.close()


def rows(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM telemetry_samples").fetchone()[0]


def run_ingest(
    settings: Settings, port: int, messages, processes: int, samples: int, log_dir: Path
) -> tuple[float, int]:
    """Drain rate (messages/s) of N ingest processes, and peak RSS (kB) of the first."""
    ids = [f"bench-ingest-{i}" for i in range(processes)]
    for client_id in ids:  # create the sessions in the share group, then stop
        p = spawn_service(
            settings, "ingest", log_path=log_dir / f"{client_id}.log", ingest_client_id=client_id
        )
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    publish_all(port, messages)
    expected = len(messages) * samples
    procs = [
        spawn_service(settings, "ingest", log_path=log_dir / f"{c}.log", ingest_client_id=c)
        for c in ids
    ]
    while (n0 := rows(settings.database_url.get_secret_value())) == 0:
        time.sleep(0.02)
    first = time.perf_counter()
    while (n := rows(settings.database_url.get_secret_value())) < expected:
        time.sleep(0.1)
    elapsed = time.perf_counter() - first
    peak_kb = peak_rss_kb(procs[0].pid)
    for p in procs:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    return (n - n0) / samples / elapsed, peak_kb


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Bench:
    """A fresh broker and database for each measurement."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="eldercare-bench-"))
        self.tmp.chmod(0o755)

    def fresh(self, name: str) -> tuple[services.ThrowawayBroker, str]:
        state = self.tmp / name
        state.mkdir()
        broker = services.ThrowawayBroker(state_dir=state)
        broker.start()
        db_url = services.create_database(ADMIN_URL, prefix="eldercare_bench")
        with psycopg.connect(db_url) as conn:
            apply_all(conn)
            register_devices(conn, [make_imei(700_000 + i) for i in range(BANDS)])
            conn.commit()
        return broker, db_url

    def settings(self, broker: services.ThrowawayBroker, db_url: str) -> Settings:
        return Settings(
            environment="test",
            database_url=db_url,
            redis_url=REDIS_URL,
            redis_prefix="bench:",
            mqtt_url=broker.url("ingest"),
            ingest_metrics_port=0,
        )

    def cleanup(self, broker: services.ThrowawayBroker, db_url: str) -> None:
        broker.stop()
        services.drop_database(ADMIN_URL, db_url)


def measure(n: int, samples: int, naive_n: int) -> dict[str, float]:
    bench = Bench()
    messages = make_messages(n, samples)
    figures: dict[str, float] = {}
    broker, db_url = bench.fresh(f"ceiling-{samples}")
    figures["ceiling"] = run_bare(broker.port, messages)
    bench.cleanup(broker, db_url)
    for processes in (1, 2):
        broker, db_url = bench.fresh(f"ingest{processes}-{samples}")
        rate, peak_kb = run_ingest(
            bench.settings(broker, db_url), broker.port, messages, processes, samples, bench.tmp
        )
        figures[f"ingest_x{processes}"] = rate
        figures[f"peak_rss_mb_x{processes}"] = peak_kb / 1024
        bench.cleanup(broker, db_url)
    broker, db_url = bench.fresh(f"naive-{samples}")
    figures["naive"] = run_bare(broker.port, messages[:naive_n], naive_db=db_url)
    bench.cleanup(broker, db_url)
    shutil.rmtree(bench.tmp, ignore_errors=True)
    return figures


def report(title: str, samples: int, f: dict[str, float]) -> None:
    print(f"\n{title} ({samples} sample{'s' if samples > 1 else ''}/message)")
    print(f"  {'consumer':44} {'msg/s':>9} {'samples/s':>10} {'x ceiling':>9}")
    for label, key in (
        ("ceiling: bare paho QoS 1 subscriber, parse only", "ceiling"),
        ("ingest, 1 process (commit before ack)", "ingest_x1"),
        ("ingest, 2 processes (shared subscription)", "ingest_x2"),
        ("naive: one autocommit INSERT per message", "naive"),
    ):
        rate = f[key]
        print(f"  {label:44} {rate:9.0f} {rate * samples:10.0f} {rate / f['ceiling']:9.2f}")
    print(
        f"  peak RSS of one ingest process: {f['peak_rss_mb_x1']:.0f} MB (1 process), "
        f"{f['peak_rss_mb_x2']:.0f} MB (each of 2)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--batched-samples", type=int, default=20)
    parser.add_argument("--naive-messages", type=int, default=10_000)
    args = parser.parse_args()
    print(
        f"ingest benchmark: {args.messages} messages, {BANDS} bands, broker + TimescaleDB + "
        f"consumer on this {mp.cpu_count()}-core machine"
    )
    single = measure(args.messages, 1, args.naive_messages)
    report("single-sample messages", 1, single)
    batched_n = max(1000, args.messages // 4)
    batched = measure(batched_n, args.batched_samples, args.naive_messages // 10)
    report("batched messages", args.batched_samples, batched)


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
