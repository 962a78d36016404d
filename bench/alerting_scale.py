"""Alerting at city scale: the full-window engine beside the incremental one, same run, same data.

For each fleet size: a fresh TimescaleDB database with an hour of history (one sample a minute
per band), then a steady stream (each band one sample a minute, spread over the minute) stored
with COPY and announced on the real stored stream as ingest does. `eldercare alerting` runs as a
child process, first with `alerting_incremental=false` (today's engine), then with the
incremental engine, while the stream goes on. A few bands per run ("sick") start reporting
HR 38 at rest every 30 s: their third such sample completes bradycardia, and the time from that
sample's commit to the alert appearing in the database is the latency measured.

Figures per engine: seconds from its start to holding every band's window (the rebuild), CPU
seconds per wall second of the engine process (and of the PostgreSQL backends serving it:
the full-window engine's cost is mostly theirs), p50/p99 commit-to-alert, telemetry/fix rows
read from PostgreSQL per second beside rows arriving per second, and peak RSS.

    python bench/alerting_scale.py [--quick] [--sizes 20000,50000,200000] [--window 150]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's code, its harness
from eldercare import keys  # noqa: E402
from eldercare.imei import make_imei  # noqa: E402
from eldercare.migrate import apply_all  # noqa: E402
from eldercare.registry import register_devices  # noqa: E402
from eldercare.settings import Settings  # noqa: E402
from tests.alerting.receivers import Receiver  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.processes import spawn_service  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
SICK_EVERY = 400  # one band in this many falls ill during each engine's window
ENTRY_BANDS = 500  # bands named per stored-stream entry


def prepare(n: int) -> tuple[str, list[str], np.ndarray]:
    """A database with n bound bands and an hour of history; returns (url, bands, slots)."""
    db_url = services.create_database(ADMIN_URL, prefix="eldercare_bench")
    bands = [make_imei(300_000 + i) for i in range(n)]
    with psycopg.connect(db_url, autocommit=True) as conn:
        apply_all(conn)
        register_devices(conn, bands)
        conn.execute(
            """INSERT INTO residents (full_name, birth_date, sex, address, phone, medical_notes,
                   home_lat, home_lon)
               SELECT 'Bench ' || g, '1941-05-03', 'female', 'Hexie Lu', '13800000000', '',
                      41.108, 122.994 FROM generate_series(1, %s) g""",
            (n,),
        )
        conn.execute(
            """WITH r AS (SELECT resident_id, row_number() OVER (ORDER BY resident_id) k
                          FROM residents),
                    d AS (SELECT device_id, row_number() OVER (ORDER BY device_id) k FROM devices)
               UPDATE devices SET resident_id = r.resident_id FROM r JOIN d USING (k)
               WHERE devices.device_id = d.device_id"""
        )
        slots = np.array([int(b) % 60 for b in bands])  # second of the minute a band reports
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        conn.execute(
            """INSERT INTO telemetry_samples (device_id, t, hr, steps, worn, received_at)
               SELECT d.device_id, m + (d.device_id::numeric %% 60) * interval '1 second',
                      (62 + random() * 20)::int, 1000, true,
                      m + (d.device_id::numeric %% 60) * interval '1 second'
                          + interval '800 milliseconds'
               FROM devices d,
                    generate_series(%s::timestamptz, %s::timestamptz, interval '1 minute') m""",
            (now - timedelta(minutes=60), now - timedelta(minutes=1)),
        )
        conn.execute("ANALYZE telemetry_samples")
    return db_url, bands, slots


class Stream:
    """Each band's sample once a minute at its second; sick bands HR 38 every 30 s."""

    def __init__(self, db_url: str, r: redis.Redis, prefix: str, bands: list[str], slots):
        self.db_url, self.r, self.prefix = db_url, r, prefix
        self.by_slot = [[b for b, s in zip(bands, slots, strict=True) if s == k] for k in range(60)]
        self.slot_of = dict(zip(bands, slots.tolist(), strict=True))
        self.rows = 0
        self.sick_since: dict[str, float] = {}
        self.low_commits: dict[str, list[float]] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def make_sick(self, bands: list[str], at: float) -> None:
        for band in bands:
            self.sick_since[band] = at

    def _run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            second = int(time.time())
            while not self.stopping.is_set():
                wait = second + 1 - time.time()
                if wait > 0:
                    time.sleep(wait)
                second += 1
                self._send(conn, second)

    def _send(self, conn, second: int) -> None:
        now = time.time()
        sick_now = [
            b
            for b, since in self.sick_since.items()
            if since <= now and (second - self.slot_of[b]) % 30 == 0
        ]
        due = set(self.by_slot[second % 60]) | set(sick_now)
        if not due:
            return
        # Sample times on the second: a sick band's third low reading is exactly 60 s after its
        # first, so it is the one that completes the rule (jitter would leave it 59.99 s).
        t = datetime.fromtimestamp(second, UTC)
        received = datetime.fromtimestamp(now, UTC)
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY telemetry_samples (device_id, t, hr, steps, worn, received_at) FROM STDIN"
            ) as copy,
        ):
            for band in due:
                hr = 38 if band in sick_now else 62 + (second * 7 + int(band[-4:])) % 20
                copy.write_row((band, t, hr, 1000, True, received))
        committed = time.time()
        self.rows += len(due)
        for band in sick_now:
            self.low_commits.setdefault(band, []).append(committed)
        ordered = sorted(due)
        pipe = self.r.pipeline(transaction=False)
        for i in range(0, len(ordered), ENTRY_BANDS):
            entry = {
                "committed_at_ms": int(committed * 1000),
                "telemetry": ordered[i : i + ENTRY_BANDS],
                "location": [],
                "status": [],
                "events": [],
            }
            pipe.xadd(keys.stored_stream(self.prefix, 0, 1), {"batch": orjson.dumps(entry)})
        pipe.execute()


class AlertWatch:
    """When each bradycardia alert first appears in the database (polled every 0.2 s)."""

    def __init__(self, db_url: str):
        self.db_url, self.seen = db_url, {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while not self.stopping.wait(0.2):
                rows = conn.execute(
                    "SELECT device_id FROM alerts WHERE rule = 'bradycardia'"
                ).fetchall()
                now = time.time()
                for (band,) in rows:
                    self.seen.setdefault(band, now)


def metric(port: int, name: str) -> float:
    """A gauge from the engine's /metrics (NaN while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu_s(db_url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving the engine (same machine)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        pids = conn.execute(
            """SELECT pid FROM pg_stat_activity
               WHERE application_name = 'eldercare-alerting' AND datname = current_database()"""
        ).fetchall()
    out = {}
    for (pid,) in pids:
        try:
            out[pid] = cpu_s(pid)
        except OSError:  # ended meanwhile
            continue
    return out


def run_engine(mode: str, settings: Settings, ctx: dict, window_s: float) -> dict:
    """Start the engine, wait until it holds every band, then measure over window_s."""
    n, stream, watch = ctx["n"], ctx["stream"], ctx["watch"]
    port = settings.alerting_http_port
    started = time.time()
    child = spawn_service(
        settings,
        "alerting",
        log_path=ctx["log_dir"] / f"alerting-{n}-{mode}.log",
        alerting_incremental=str(mode == "incremental").lower(),
    )
    try:
        while not metric(port, "eldercare_alerting_bands_tracked") >= n:
            if child.poll() is not None or time.time() - started > 1800:
                raise SystemExit(f"{mode} engine did not start (see its log)")
            time.sleep(1)
        rebuild_s = time.time() - started
        time.sleep(20)  # let the first sweep after the start pass
        cpu0, rows0, arrived0, t0 = cpu_s(child.pid), _rows_read(port), stream.rows, time.time()
        pg0 = backend_cpu_s(ctx["db_url"])
        sick = ctx["bands"][ctx["sick_offset"] :: SICK_EVERY]
        ctx["sick_offset"] += SICK_EVERY // 2
        stream.make_sick(sick, at=time.time() + 5)
        time.sleep(window_s)
        wall = time.time() - t0
        cpu = cpu_s(child.pid) - cpu0
        pg1 = backend_cpu_s(ctx["db_url"])
        pg = sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items())
        rows = _rows_read(port) - rows0
        arrived = stream.rows - arrived0
        peak_mb = _peak_rss_mb(child.pid)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    latencies = [
        watch.seen[b] - stream.low_commits[b][2]
        for b in sick
        if b in watch.seen and len(stream.low_commits.get(b, [])) >= 3
    ]
    completed = sum(len(stream.low_commits.get(b, [])) >= 3 for b in sick)
    return {
        "rebuild_s": rebuild_s,
        "cpu": cpu / wall,
        "pg_cpu": pg / wall,
        "p99": float(np.percentile(latencies, 99)) if latencies else float("nan"),
        "p50": float(np.percentile(latencies, 50)) if latencies else float("nan"),
        "found": f"{len(latencies)}/{completed}",
        "read_per_s": rows / wall,
        "arrived_per_s": arrived / wall,
        "peak_mb": peak_mb,
    }


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rows_read(port: int) -> float:
    return metric(port, "eldercare_alerting_rows_read")


def run_size(n: int, window_s: float, log_dir: Path, engines: list[str]) -> dict[str, dict]:
    start = time.time()
    db_url, bands, slots = prepare(n)
    print(f"  {n} bands: history stored in {time.time() - start:.0f} s", flush=True)
    receivers = [Receiver().start() for _ in range(3)]
    prefix = f"bench-scale-{uuid.uuid4().hex[:8]}:"
    settings = Settings(
        environment="test",
        database_url=db_url,
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        alerting_http_port=services.free_port(),
        alerting_community_gateway_url=receivers[0].url,
        alerting_family_gateway_url=receivers[1].url,
        alerting_gateway_120_url=receivers[2].url,
    )
    r = redis.Redis.from_url(REDIS_URL)
    stream = Stream(db_url, r, prefix, bands, slots)
    watch = AlertWatch(db_url)
    stream.thread.start()
    watch.thread.start()
    ctx = {"n": n, "bands": bands, "stream": stream, "watch": watch, "sick_offset": 0}
    ctx["db_url"], ctx["engines"] = db_url, engines
    ctx["log_dir"] = log_dir
    results = {}
    try:
        for mode in ctx["engines"]:
            results[mode] = run_engine(mode, settings, ctx, window_s)
            _report_one(n, mode, results[mode])
    finally:
        stream.stopping.set()
        watch.stopping.set()
        stream.thread.join(timeout=10)
        watch.thread.join(timeout=10)
        for receiver in receivers:
            receiver.stop()
        for key in r.scan_iter(match=f"{prefix}*"):
            r.delete(key)
        services.drop_database(ADMIN_URL, db_url)
    return results


def _report_one(n: int, mode: str, f: dict) -> None:
    print(
        f"  {n:>7} {mode:<12} rebuild {f['rebuild_s']:6.1f} s  cpu {f['cpu']:4.2f} core "
        f"(+ PostgreSQL {f['pg_cpu']:4.2f})  "
        f"p50 {f['p50']:5.2f} s p99 {f['p99']:6.2f} s (found {f['found']})  "
        f"rows read {f['read_per_s']:9.0f}/s  "
        f"arriving {f['arrived_per_s']:7.0f}/s  "
        f"ratio {f['read_per_s'] / max(f['arrived_per_s'], 1):6.2f}  "
        f"peak RSS {f['peak_mb']:6.0f} MB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 bands only")
    parser.add_argument("--sizes", default="20000,50000,200000")
    parser.add_argument("--engines", default="full-window,incremental")
    parser.add_argument("--window", type=float, default=150.0, help="measured seconds per engine")
    args = parser.parse_args()
    sizes = [20000] if args.quick else [int(s) for s in args.sizes.split(",")]
    log_dir = Path(tempfile.mkdtemp(prefix="eldercare-bench-scale-"))
    print(f"load average at start: {os.getloadavg()}; engine logs in {log_dir}")
    print("target: 200,000 bands under 0.5 core, p99 under 5 s, rows read = rows arriving")
    for n in sizes:
        run_size(n, args.window, log_dir, args.engines.split(","))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
