"""Latest-location look-up for a family member vs a bare FastAPI route, same server, same run.

Sets up a throwaway database with 10,000 residents (each with a band, a consented family member
and a latest position in Redis), serves the API with uvicorn in a separate process on loopback
(one worker, with an extra `/bare` route returning a constant), and drives both routes from this
process with keep-alive HTTP/1.1 connections. Prints requests/s and latency percentiles.

    .venv/bin/python bench/api_location.py [--residents 10000] [--seconds 10] [--connections 16]

Environment: ELDERCARE_BENCH_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres),
ELDERCARE_BENCH_REDIS_URL (default redis://127.0.0.1:6379/14).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
import redis  # noqa: E402

from eldercare import keys  # noqa: E402
from eldercare.imei import make_imei  # noqa: E402
from eldercare.migrate import apply_all  # noqa: E402
from eldercare.settings import Settings  # noqa: E402

ADMIN_URL = os.environ.get(
    "ELDERCARE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ELDERCARE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def bench_settings(database_url: str, prefix: str, port: int) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        api_port=port,
        api_location_rate_per_min=10**9,
        log_level="WARNING",
    )


def serve(database_url: str, prefix: str, port: int) -> None:
    """The server process: the real app plus a bare constant route."""
    import uvicorn

    from api.app import create_app

    settings = bench_settings(database_url, prefix, port)
    app = create_app(settings)

    @app.get("/bare", include_in_schema=False)
    async def bare() -> dict:
        return {"ok": True}

    # First in the routing table, so the baseline pays no route matching for the API's routes.
    app.router.routes.insert(0, app.router.routes.pop())

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def seed(database_url: str, prefix: str, residents: int) -> list[tuple[int, int]]:
    """Residents, bands, family accounts with consent, latest fixes; return (account, resident)."""
    from api.accounts.service import hash_password

    password_hash = hash_password("bench-password-1")
    now_ms = int(time.time() * 1000)
    with psycopg.connect(database_url, autocommit=True) as conn:
        apply_all(conn)
        conn.execute(
            """INSERT INTO residents (full_name) SELECT 'Resident ' || i
                        FROM generate_series(1, %s) i""",
            (residents,),
        )
        conn.execute(
            """INSERT INTO accounts (username, password_hash, role)
                        SELECT 'family-' || i, %s, 'family' FROM generate_series(1, %s) i""",
            (password_hash, residents),
        )
        pairs = conn.execute("""SELECT a.account_id, r.resident_id FROM accounts a
                                JOIN residents r ON a.username = 'family-' || r.resident_id
                                ORDER BY r.resident_id""").fetchall()
        with conn.cursor().copy(
            "COPY family_links (resident_id, account_id, consent_method, "
            "consent_recorded_by) FROM STDIN"
        ) as copy:
            for account_id, resident_id in pairs:
                copy.write_row((resident_id, account_id, "written", account_id))
        with conn.cursor().copy("COPY devices (device_id, resident_id) FROM STDIN") as copy:
            for _account_id, resident_id in pairs:
                copy.write_row((make_imei(resident_id), resident_id))
        conn.execute("ANALYZE")
    client = redis.Redis.from_url(REDIS_URL)
    pipe = client.pipeline(transaction=False)
    for _account_id, resident_id in pairs:
        pipe.hset(
            keys.band_state(prefix, make_imei(resident_id)),
            mapping={
                "fix_t": now_ms,
                "lat": 41.1 + resident_id * 1e-5,
                "lon": 122.99,
                "acc_m": "12.5",
                "src": "gnss",
                "online": "1",
                "battery": "64",
                "last_seen": now_ms,
            },
        )
    pipe.execute()
    client.close()
    return pairs


async def _worker(
    port: int,
    requests: list[bytes],
    deadline: float,
    latencies: list[float],
    statuses: dict[int, int],
) -> None:
    """One keep-alive connection sending requests back to back until the deadline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            request = random.choice(requests)
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def load(port: int, requests: list[bytes], seconds: float, connections: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(_worker(port, requests, deadline, latencies, statuses) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "rps": len(latencies) / elapsed,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "n": len(latencies),
        "statuses": statuses,
    }


def _get(path: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("API server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    from api.accounts.service import issue_token

    name = f"eldercare_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    params["dbname"] = name
    database_url = psycopg.conninfo.make_conninfo(**params)
    prefix, port = f"bench-{uuid.uuid4().hex[:6]}:", _free_port()
    server = None
    try:
        t0 = time.perf_counter()
        pairs = seed(database_url, prefix, args.residents)
        print(
            f"seeded {len(pairs)} residents, bands, family links and positions "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        settings = bench_settings(database_url, prefix, port)
        location = [
            _get(
                f"/residents/{rid}/location/latest", issue_token(settings=settings, account_id=aid)
            )
            for aid, rid in pairs
        ]
        server = subprocess.Popen(
            [sys.executable, __file__, "serve", database_url, prefix, str(port)]
        )
        _wait_for(port)
        asyncio.run(load(port, location, 2, args.connections))  # warm-up: pool, caches
        cpu_before = _cpu_seconds(server.pid)
        bare = asyncio.run(load(port, [_get("/bare")], args.seconds, args.connections))
        cpu_between = _cpu_seconds(server.pid)
        loc = asyncio.run(load(port, location, args.seconds, args.connections))
        bare["server_cpu_us"] = (cpu_between - cpu_before) / bare["n"] * 1e6
        loc["server_cpu_us"] = (_cpu_seconds(server.pid) - cpu_between) / loc["n"] * 1e6
        print(
            f"uvicorn 1 worker, {args.connections} keep-alive connections, {args.seconds:.0f}s "
            f"per route, {os.cpu_count()} cores shared by server and load generator"
        )
        for label, r in (("bare constant route", bare), ("family latest location", loc)):
            print(
                f"{label:24s} {r['rps']:8.0f} req/s   p50 {r['p50']:6.2f} ms   "
                f"p99 {r['p99']:6.2f} ms   server CPU {r['server_cpu_us']:5.0f} us/req   "
                f"n={r['n']}  statuses={r['statuses']}"
            )
        print(
            f"ratio location/bare throughput: {loc['rps'] / bare['rps']:.2f} (target >= 0.5); "
            f"p99 {loc['p99']:.2f} ms (target < 20 ms)"
        )
        with psycopg.connect(database_url) as conn:
            audited = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        print(f"audit rows written during the run: {audited}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*", count=1000):
            client.delete(key)
        client.close()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
