#!/usr/bin/env bash
# Idempotent native set-up for a Debian 12 machine with no Docker engine:
# PostgreSQL 15 + TimescaleDB (built from Debian 13's source package), Redis and the
# project's own RabbitMQ node (MQTT for bands, AMQP for ingest; bands' logins asked of
# `eldercare broker-auth` on 127.0.0.1:8090, which `eldercare run` starts) on loopback,
# beside any system broker. Skips whatever is done.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state_dir="${ELDERCARE_STATE_DIR:-/var/lib/eldercare}"
pg_version=15
pg_config="/usr/lib/postgresql/$pg_version/bin/pg_config"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"

log() { printf '[setup] %s\n' "$*"; }

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$apt_updated" -eq 0 ]; then $sudo_cmd apt-get update -qq; apt_updated=1; fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_packages() {
  # rabbitmq-server: the project's broker. mosquitto: only for bench/ingest_throughput.py's
  # comparison with the broker the project used before.
  apt_install postgresql-$pg_version postgresql-client-$pg_version redis-server \
    rabbitmq-server mosquitto python3-venv
  # Headless Chromium for the duty console's browser test (driven by Python playwright with
  # executable_path=/usr/bin/chromium; playwright's own browser download is never used).
  apt_install chromium
  # Chinese pages render in CJK glyphs, not boxes, in headless Chromium and on duty screens.
  apt_install fonts-noto-cjk
}

ensure_postgres_running() {
  if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
    log "starting PostgreSQL $pg_version"
    $sudo_cmd pg_ctlcluster --skip-systemctl-redirect $pg_version main start
  fi
}

timescaledb_installed() {
  [ -f "$($pg_config --pkglibdir)/timescaledb.so" ]
}

build_timescaledb() {
  timescaledb_installed && return 0
  log "building TimescaleDB from Debian 13's source package (apache-only build)"
  local list=/etc/apt/sources.list.d/eldercare-trixie-src.list
  # Source only: nothing is ever installed or upgraded from trixie.
  if [ ! -f "$list" ]; then
    echo "deb-src http://deb.debian.org/debian trixie main" | $sudo_cmd tee "$list" >/dev/null
    apt_updated=0
  fi
  apt_install dpkg-dev postgresql-server-dev-$pg_version cmake gcc make libssl-dev
  if [ "$apt_updated" -eq 0 ]; then $sudo_cmd apt-get update -qq; apt_updated=1; fi
  local build_dir
  build_dir="$(mktemp -d)"
  chmod 755 "$build_dir"  # apt-get source drops privileges to _apt
  (
    cd "$build_dir"
    apt-get source --download-only -qq timescaledb >/dev/null
    dpkg-source -x --no-check ./timescaledb_*.dsc src >/dev/null
    cd src
    ./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
      -DPG_CONFIG="$pg_config" >/dev/null
    make -C build -j"$(nproc)" >/dev/null
    $sudo_cmd make -C build install >/dev/null
  )
  rm -rf "$build_dir"
}

ensure_timescaledb_preloaded() {
  local conf_dir="/etc/postgresql/$pg_version/main/conf.d"
  local conf="$conf_dir/eldercare-timescaledb.conf"
  if [ ! -f "$conf" ]; then
    log "enabling timescaledb in shared_preload_libraries"
    $sudo_cmd mkdir -p "$conf_dir"
    printf "shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n" \
      | $sudo_cmd tee "$conf" >/dev/null
    $sudo_cmd pg_ctlcluster --skip-systemctl-redirect $pg_version main restart
  fi
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

ensure_database() {
  local db="${ELDERCARE_DB_NAME:-eldercare}"
  if ! as_postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    log "creating database $db"
    as_postgres createdb "$db"
  fi
}

ensure_redis_running() {
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    $sudo_cmd mkdir -p /var/lib/redis /var/log/redis
    $sudo_cmd redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/eldercare.log
  fi
}

stop_legacy_mosquitto() {
  # Earlier versions ran the project's Mosquitto on 1884, the port bands now reach
  # RabbitMQ's MQTT listener on. (A system Mosquitto on 1883 is not ours to touch.)
  local pid_file="$state_dir/mosquitto/mosquitto.pid"
  [ -f "$pid_file" ] || return 0
  local pid
  pid="$(cat "$pid_file")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping the project's former Mosquitto instance"
    $sudo_cmd kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
}

ensure_broker_running() {
  # The project's own RabbitMQ node, beside the system's (5672): MQTT 127.0.0.1:1884,
  # AMQP 5673, management API 15673; files under $state_dir/rabbitmq; restarted when its
  # configuration changed. `eldercare run` declares its service accounts and ingest's queue
  # (idempotent, through the management API) and starts the auth service it asks.
  stop_legacy_mosquitto
  $sudo_cmd mkdir -p "$state_dir/rabbitmq"
  $sudo_cmd chown "$(id -u):$(id -g)" "$state_dir/rabbitmq"
  (cd "$repo" && python3 -m eldercare.broker_node start "$state_dir/rabbitmq")
}

ensure_packages
build_timescaledb
ensure_postgres_running
ensure_timescaledb_preloaded
ensure_database
ensure_redis_running
ensure_broker_running
log "native services ready"
