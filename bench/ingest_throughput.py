"""End-to-end ingest throughput on this machine, next to its ceiling and a naive baseline.

Method, the same for every consumer: queue N QoS 1 messages (published over MQTT, each
PUBACKed) in a fresh broker while the consumer is stopped, start it, and time the drain
from its first stored (or parsed) message to its last. Broker, database and consumer
share the machine, as in production on one node.

Paths: RabbitMQ (the project's broker: MQTT in, quorum queue, AMQP out), and the
Mosquitto 2.0.11 bare-client ceiling (shared subscription, persistent session) of the
broker the project used before, for comparison. `--profile` times the phases of one
ingest batch (parse and validate, COPY + INSERT .. ON CONFLICT and commit, Redis).

    python -m bench.ingest_throughput [--messages 60000] [--batched-samples 20] [--profile]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pika
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eldercare import topics
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
PREFETCH = 2000
CPU_PARTS = ("broker", "ingest", "database")


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
                topics.uplink(band, "telemetry"),
                orjson.dumps({"v": 1, "sent_at": t0, "samples": samples}),
            )
        )
    return out


def insert_naively(conn: psycopg.Connection, topic: str, body: dict) -> None:
    """The naive baseline: one autocommit INSERT per sample."""
    device = topic.split("/")[2]
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


def bare_consumer(amqp_url: str, expected: int, out: mp.Queue, naive_db: str | None) -> None:
    """The RabbitMQ ceiling (parse and discard, ack in batches) or the naive baseline."""
    conn = psycopg.connect(naive_db, autocommit=True) if naive_db else None
    state = {"n": 0, "first": 0.0}
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=PREFETCH)

    def on_message(ch, method, _props, payload: bytes) -> None:
        body = orjson.loads(payload)
        if state["n"] == 0:
            state["first"] = time.perf_counter()
        if conn is not None:
            insert_naively(conn, topics.topic_of(method.routing_key), body)
        state["n"] += 1
        if state["n"] % 500 == 0 or state["n"] == expected:
            ch.basic_ack(method.delivery_tag, multiple=True)
        if state["n"] == expected:
            out.put((state["first"], time.perf_counter()))
            ch.stop_consuming()

    channel.basic_consume("ingest", on_message)
    channel.start_consuming()
    connection.close()


def run_bare(broker: services.ThrowawayBroker, messages, naive_db: str | None = None) -> float:
    publish_all(broker.port, messages)
    out: mp.Queue = mp.Queue()
    args = (broker.amqp_url("ingest"), len(messages), out, naive_db)
    proc = mp.Process(target=bare_consumer, args=args)
    proc.start()
    first, last = out.get(timeout=900)
    proc.join()
    return (len(messages) - 1) / (last - first)


def mosquitto_subscriber(port: int, expected: int, out: mp.Queue | None) -> None:
    """Mosquitto's ceiling: a bare paho MQTT 5 subscriber (persistent session, $share)."""
    state = {"n": 0, "first": 0.0}

    def on_message(_c, _u, msg):
        orjson.loads(msg.payload)
        if state["n"] == 0:
            state["first"] = time.perf_counter()
        state["n"] += 1
        if state["n"] == expected and out is not None:
            out.put((state["first"], time.perf_counter()))
            client.disconnect()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(PREFETCH)
    client.on_message = on_message
    shared = f"$share/bench/{topics.uplink(topics.ANY_BAND, 'telemetry')}"
    client.on_connect = lambda c, *_: c.subscribe(shared, qos=1)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = PREFETCH
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    if out is None:  # only create the session
        client.loop_start()
        time.sleep(1.0)
        client.disconnect()
        client.loop_stop()
        return
    client.loop_forever()


def run_mosquitto_ceiling(tmp: Path, messages) -> float:
    """Drain rate of a bare subscriber from a throwaway Mosquitto (anonymous, in memory)."""
    port = services.free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
        "max_inflight_messages 2000\n"
    )
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        services.wait_for_port(port)
        mp.Process(target=mosquitto_subscriber, args=(port, 0, None)).run()
        publish_all(port, messages, user=None)
        out: mp.Queue = mp.Queue()
        proc = mp.Process(target=mosquitto_subscriber, args=(port, len(messages), out))
        proc.start()
        first, last = out.get(timeout=900)
        proc.join()
        return (len(messages) - 1) / (last - first)
    finally:
        broker.terminate()
        broker.wait()


def publish_all(port: int, messages, user: str | None = "simulator:dev-simulator-secret") -> None:
    pub = Publisher(f"mqtt://{user}@127.0.0.1:{port}" if user else f"mqtt://127.0.0.1:{port}")
    for topic, payload in messages:
        pub.publish(topic, payload)
    pub.wait_all_acked(timeout_s=600)
    pub.close()


def stored_rows(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM telemetry_samples").fetchone()[0]


def last_samples(messages) -> tuple[list[str], list[int]]:
    """Each band's last sample (band, t in ms)."""
    last: dict[str, int] = {}
    for topic, payload in messages:
        last[topic.split("/")[2]] = orjson.loads(payload)["samples"][-1]["t"]
    return list(last), list(last.values())


def last_samples_stored(conn: psycopg.Connection, last: tuple[list[str], list[int]]) -> bool:
    """Whether every band's last sample is stored: 200 index probes, not a count of the table
    (polling count(*) every 0.1 s took CPU from the database being measured)."""
    query = """SELECT count(*) FROM telemetry_samples s
               JOIN unnest(%s::text[], %s::int8[]) AS k(device_id, t_ms)
               ON s.device_id = k.device_id
               AND s.t = 'epoch'::timestamptz + k.t_ms * interval '1 millisecond'"""
    return conn.execute(query, last).fetchone()[0] == len(last[0])


def run_ingest(
    settings: Settings,
    broker: services.ThrowawayBroker,
    messages,
    processes: int,
    samples: int,
    log_dir: Path,
) -> tuple[float, int, dict[str, float]]:
    """Drain rate (messages/s) of N ingest processes, peak RSS (kB) of the first, and the CPU
    each part used per message (µs) while draining."""
    ids = [f"bench-ingest-{i}" for i in range(processes)]
    publish_all(broker.port, messages)  # into the queue the broker set-up declared
    expected = len(messages) * samples
    last = last_samples(messages)
    procs = [
        spawn_service(settings, "ingest", log_path=log_dir / f"{c}.log", ingest_client_id=c)
        for c in ids
    ]
    with psycopg.connect(settings.database_url.get_secret_value(), autocommit=True) as conn:
        while not conn.execute("SELECT EXISTS (SELECT FROM telemetry_samples)").fetchone()[0]:
            time.sleep(0.01)
        first = time.perf_counter()
        n0 = stored_rows(conn)
        cpu_at_first = {
            pid: cpu_s(pid) for pids in cpu_parts(conn, broker, procs).values() for pid in pids
        }
        while True:
            if last_samples_stored(conn, last) and (n := stored_rows(conn)) >= expected:
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - first
        drained = (n - n0) / samples
        # Again at the end: a process's database connection may open after the first row.
        cpu_us = {
            part: sum(cpu_s(pid) - cpu_at_first.get(pid, 0.0) for pid in pids) / drained * 1e6
            for part, pids in cpu_parts(conn, broker, procs).items()
        }
    peak_kb = peak_rss_kb(procs[0].pid)
    for p in procs:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    return drained / elapsed, peak_kb, cpu_us


def cpu_parts(conn, broker: services.ThrowawayBroker, procs) -> dict[str, list[int]]:
    """Process ids of the broker node (its session), ingest, and ingest's database backends."""
    assert broker.process is not None
    backends = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    ).fetchall()
    return {
        "broker": session_pids(broker.process.pid),
        "ingest": [p.pid for p in procs],
        "database": [pid for (pid,) in backends],
    }


def session_pids(sid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[3]) == sid:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return pids


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
            amqp_url=broker.amqp_url("ingest"),
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
    figures["ceiling"] = run_bare(broker, messages)
    bench.cleanup(broker, db_url)
    for processes in (1, 2):
        broker, db_url = bench.fresh(f"ingest{processes}-{samples}")
        rate, peak_kb, cpu_us = run_ingest(
            bench.settings(broker, db_url), broker, messages, processes, samples, bench.tmp
        )
        figures[f"ingest_x{processes}"] = rate
        figures.update({f"cpu_{part}_x{processes}": us for part, us in cpu_us.items()})
        figures[f"peak_rss_mb_x{processes}"] = peak_kb / 1024
        bench.cleanup(broker, db_url)
    broker, db_url = bench.fresh(f"naive-{samples}")
    figures["naive"] = run_bare(broker, messages[:naive_n], naive_db=db_url)
    bench.cleanup(broker, db_url)
    figures["mosquitto_ceiling"] = run_mosquitto_ceiling(bench.tmp, messages)
    shutil.rmtree(bench.tmp, ignore_errors=True)
    return figures


def report(title: str, samples: int, f: dict[str, float]) -> None:
    print(f"\n{title} ({samples} sample{'s' if samples > 1 else ''}/message)")
    print(f"  {'consumer':48} {'msg/s':>9} {'samples/s':>10} {'x ceiling':>9}")
    for label, key in (
        ("RabbitMQ ceiling: bare AMQP consumer, parse only", "ceiling"),
        ("ingest, 1 process (commit before ack)", "ingest_x1"),
        ("ingest, 2 processes (competing consumers)", "ingest_x2"),
        ("naive: one autocommit INSERT per message", "naive"),
        ("Mosquitto ceiling: bare paho $share subscriber", "mosquitto_ceiling"),
    ):
        rate = f[key]
        print(f"  {label:48} {rate:9.0f} {rate * samples:10.0f} {rate / f['ceiling']:9.2f}")
    print(
        f"  peak RSS of one ingest process: {f['peak_rss_mb_x1']:.0f} MB (1 process), "
        f"{f['peak_rss_mb_x2']:.0f} MB (each of 2)"
    )
    for processes in (1, 2):
        parts = ", ".join(f"{part} {f[f'cpu_{part}_x{processes}']:.0f}" for part in CPU_PARTS)
        print(f"  CPU per message while draining, {processes} process(es), us: {parts}")


def profile_batches(samples: int, batches: int = 20, batch_size: int = 1000) -> None:
    """Where one ingest batch spends its time, phase by phase, in this process.

    Wall time depends on what else runs on the machine; CPU time (this process's, plus the
    database backend's for the store phase) much less, so both are printed.
    """
    import redis

    from ingest.hot_state import HotState
    from ingest.parse import parse_message
    from ingest.store import prepare_connection, store_batch

    messages = make_messages(batches * batch_size, samples)
    db_url = services.create_database(ADMIN_URL, prefix="eldercare_bench")
    phases = ("parse + validate", "COPY + INSERT + commit", "Redis")
    wall = dict.fromkeys(phases, 0.0)
    cpu = dict.fromkeys(phases, 0.0)
    try:
        with psycopg.connect(db_url) as conn:
            apply_all(conn)
            register_devices(conn, [make_imei(700_000 + i) for i in range(BANDS)])
            conn.commit()
            prepare_connection(conn)
            backend = conn.info.backend_pid
            hot = HotState(redis.Redis.from_url(REDIS_URL), "bench-profile:")
            for b in range(batches):
                chunk = messages[b * batch_size : (b + 1) * batch_size]
                now = int(time.time() * 1000)
                marks = [(time.perf_counter(), time.process_time(), cpu_s(backend))]
                parsed = [parse_message(t, p, received_ms=now) for t, p in chunk]
                marks.append((time.perf_counter(), time.process_time(), cpu_s(backend)))
                result = store_batch(conn, parsed)
                marks.append((time.perf_counter(), time.process_time(), cpu_s(backend)))
                hot.publish(parsed, result, now)
                marks.append((time.perf_counter(), time.process_time(), cpu_s(backend)))
                for phase, start, end in zip(phases, marks, marks[1:], strict=False):
                    wall[phase] += end[0] - start[0]
                    cpu[phase] += (end[1] - start[1]) + (end[2] - start[2])
    finally:
        services.drop_database(ADMIN_URL, db_url)
    report_profile(samples, batches, batch_size, wall, cpu)


def report_profile(samples, batches, batch_size, wall, cpu) -> None:
    whole = sum(wall.values())
    rows = batches * batch_size * samples
    print(f"\nphases of a {batch_size}-message batch ({samples} samples/message), in-process")
    print(f"  {'phase':28} {'wall ms/batch':>13} {'share':>6} {'CPU us/sample':>13}")
    for phase, seconds in wall.items():
        print(
            f"  {phase:28} {seconds / batches * 1000:13.1f} {seconds / whole:6.0%}"
            f" {cpu[phase] / rows * 1e6:13.2f}"
        )
    print(
        f"  {'whole batch':28} {whole / batches * 1000:13.1f} {1:6.0%}"
        f" {sum(cpu.values()) / rows * 1e6:13.2f}   = {batches * batch_size / whole:.0f} msg/s"
    )
    print("  (CPU: this process, plus the database backend in the store phase)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--batched-samples", type=int, default=20)
    parser.add_argument("--naive-messages", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true", help="only the phase profile")
    args = parser.parse_args()
    if args.profile:
        profile_batches(1)
        profile_batches(args.batched_samples)
        return
    print(
        f"ingest benchmark: {args.messages} messages, {BANDS} bands, broker + TimescaleDB + "
        f"consumer on this {mp.cpu_count()}-core machine"
    )
    single = measure(args.messages, 1, args.naive_messages)
    report("single-sample messages", 1, single)
    batched_n = max(1000, args.messages // 4)
    batched = measure(batched_n, args.batched_samples, args.naive_messages // 10)
    report("batched messages", args.batched_samples, batched)
    profile_batches(args.batched_samples)


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
