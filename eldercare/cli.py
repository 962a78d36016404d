"""The `eldercare` command: migrate, ingest, broker-setup, broker-auth, simulate, alerting,
api, run."""

from __future__ import annotations

import argparse
import logging
import sys

from eldercare.logs import configure_logging
from eldercare.settings import Settings, load_settings

log = logging.getLogger(__name__)


def cmd_migrate(_args: argparse.Namespace) -> int:
    from eldercare.db import connect
    from eldercare.migrate import apply_all

    settings = load_settings()
    with connect(settings) as conn:
        applied = apply_all(conn)
    log.info("migrations applied: %s", ", ".join(applied) or "none (up to date)")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.worker import run_ingest

    overrides = {"ingest_client_id": args.client_id} if args.client_id else {}
    return run_ingest(load_settings(**overrides))


def cmd_broker_setup(_args: argparse.Namespace) -> int:
    """Service accounts and ingest's queue on the broker, through its management API."""
    from eldercare.broker import BrokerAdmin, bootstrap

    settings = load_settings()
    admin = BrokerAdmin(settings.broker_admin_url.get_secret_value())
    admin.wait_ready(60)
    passwords = settings.broker_service_passwords()
    bootstrap(admin, passwords, settings.ingest_queue, settings.ingest_queue_replicas)
    log.info("broker accounts and ingest queue %s declared", settings.ingest_queue)
    return 0


def cmd_broker_auth(_args: argparse.Namespace) -> int:
    from eldercare.broker_auth import run_broker_auth

    return run_broker_auth(load_settings())


def cmd_gateway(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.import_cells:
        from pathlib import Path

        from eldercare.db import connect
        from gateway.store import import_cell_towers

        with connect(settings, autocommit=True) as conn:
            count = import_cell_towers(conn, Path(args.import_cells))
        log.info("cell towers imported or updated: %s", count)
        return 0
    from gateway.worker import run_gateway

    return run_gateway(settings)


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulators.cli import run_simulation

    return run_simulation(load_settings(), args)


def cmd_run(args: argparse.Namespace) -> int:
    from eldercare.supervisor import run_services

    if cmd_migrate(args) != 0:
        return 1
    # Accounts and ingest's queue exist before the first band publishes: nothing is lost.
    cmd_broker_setup(args)
    settings = load_settings()
    scenario = "normal"
    if settings.environment == "development":
        seed_demo(settings, args.bands, args.watches)
        scenario = "demo"
    services: dict[str, list[str]] = {"ingest": ["ingest"]}
    if settings.broker_auth_in_run:
        services["broker-auth"] = ["broker-auth"]
    services.update(_later_services())
    if settings.environment == "development":  # the notices' receivers, on the dev URLs
        services["demo-gateways"] = ["demo-gateways"]
    services["simulate"] = ["simulate", "--bands", str(args.bands), "--register"]
    services["simulate"] += ["--scenario", scenario]
    if "gateway" in services:  # a few bands as 4G watches, through the watch gateway
        services["simulate-watches"] = [
            *("simulate", "--bands", str(args.watches), "--protocol", "watch", "--register"),
            *("--first-serial", str(WATCH_FLEET_FIRST_SERIAL), "--seed", str(WATCH_FLEET_SEED)),
        ]
    return run_services(services)


WATCH_FLEET_FIRST_SERIAL = 500_001  # far from the MQTT fleet's serials
WATCH_FLEET_SEED = 1


def seed_demo(settings: Settings, n_bands: int, n_watches: int = 0) -> int:
    """Seed the demo community around the simulated fleet and watches (development only)."""
    from api.demo import DemoBand, seed_demo_community
    from eldercare.db import connect
    from simulators.fleet import fleet_device_ids
    from simulators.scenarios import DEMO_FENCE_RADIUS_M, home_of

    bands = [DemoBand(d, *home_of(d, seed=0)) for d in fleet_device_ids(n_bands)]
    watches = fleet_device_ids(n_watches, WATCH_FLEET_FIRST_SERIAL)
    bands += [DemoBand(d, *home_of(d, seed=WATCH_FLEET_SEED)) for d in watches]
    with connect(settings) as conn:
        created = seed_demo_community(conn, settings, bands, DEMO_FENCE_RADIUS_M)
        conn.commit()
    return created


def _later_services() -> dict[str, list[str]]:
    """Services added by later capabilities, present once their package provides them."""
    services = {}
    for name, module in (
        ("gateway", "gateway.worker"),
        ("alerting", "alerting.worker"),
        ("api", "api.server"),
        ("jobs", "api.jobs"),
    ):
        try:
            __import__(module)
        except ModuleNotFoundError:
            continue
        services[name] = [name]
    return services


def cmd_demo_gateways(_args: argparse.Namespace) -> int:
    from eldercare.loops import stop_on_signal
    from simulators.gateways import run_demo_gateways

    return run_demo_gateways(load_settings(), stop_on_signal("demo-gateways"))


def cmd_alerting(_args: argparse.Namespace) -> int:
    from alerting.worker import run_alerting

    return run_alerting(load_settings())


def cmd_jobs(_args: argparse.Namespace) -> int:
    from api.jobs import run_jobs

    return run_jobs(load_settings())


def cmd_api(_args: argparse.Namespace) -> int:
    from api.server import run_api

    return run_api(load_settings())


MIN_PASSWORD_LENGTH = 12


def cmd_create_admin(args: argparse.Namespace) -> int:
    """Create an admin account; the password comes from a prompt or the first line of stdin."""
    import getpass

    from api.accounts.service import create_account
    from api.errors import Conflict
    from eldercare.db import connect

    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.username}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < MIN_PASSWORD_LENGTH:
        log.error("password too short: at least %s characters", MIN_PASSWORD_LENGTH)
        return 2
    with connect(load_settings()) as conn:
        try:
            account_id = create_account(
                conn=conn, username=args.username, password=password, role="admin"
            )
        except Conflict:
            log.error("an account named %s exists already", args.username)
            return 1
    log.info("admin account %s created (id %s)", args.username, account_id)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eldercare", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    ingest = sub.add_parser("ingest", help="broker queue -> TimescaleDB ingest service")
    ingest.add_argument("--client-id", help="name of this ingest process on the broker")
    ingest.set_defaults(func=cmd_ingest)
    gateway = sub.add_parser("gateway", help="4G watch protocol (TCP) -> broker gateway")
    gateway.add_argument(
        "--import-cells", metavar="CSV", help="import an OpenCellID CSV export, then exit"
    )
    gateway.set_defaults(func=cmd_gateway)
    sub.add_parser(
        "broker-setup", help="declare service accounts and ingest's queue on the broker"
    ).set_defaults(func=cmd_broker_setup)
    sub.add_parser(
        "broker-auth", help="answer the broker's questions about bands' logins (HTTP)"
    ).set_defaults(func=cmd_broker_auth)
    simulate = sub.add_parser("simulate", help="simulated wristbands")
    from simulators.cli import add_arguments

    add_arguments(simulate)
    simulate.set_defaults(func=cmd_simulate)
    sub.add_parser("alerting", help="anomaly engine and escalation").set_defaults(func=cmd_alerting)
    sub.add_parser(
        "demo-gateways", help="development: stand-in community, family and 120 gateways"
    ).set_defaults(func=cmd_demo_gateways)
    sub.add_parser("api", help="HTTP API and duty console").set_defaults(func=cmd_api)
    sub.add_parser(
        "jobs", help="background jobs: band service requests, location retention"
    ).set_defaults(func=cmd_jobs)
    admin = sub.add_parser(
        "create-admin", help="create an admin account (password from prompt or stdin)"
    )
    admin.add_argument("username")
    admin.set_defaults(func=cmd_create_admin)
    run = sub.add_parser("run", help="migrate, then run every service with a simulated fleet")
    run.add_argument("--bands", type=int, default=50, help="size of the simulated fleet")
    run.add_argument(
        "--watches", type=int, default=5, help="simulated 4G watches (through the gateway)"
    )
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
