#!/usr/bin/env bash
# Start (or reload) the project's own Mosquitto instance on 127.0.0.1:${ELDERCARE_BROKER_PORT:-1884}.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
state_dir="${1:-/var/lib/eldercare/mosquitto}"
cd "$repo"
python3 -m eldercare.broker_files start "$state_dir" "${ELDERCARE_BROKER_PORT:-1884}"
