"""Files of the project's Mosquitto instance: config, password file, reload.

Standard library only, so the native set-up can run it before any virtualenv exists:
`python3 -m eldercare.broker_files start STATE_DIR`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO_DIR = REPO_ROOT / "deploy" / "mosquitto"
DEFAULT_PORT = 1884
PBKDF2_ITERATIONS = 101  # mosquitto_passwd's own default for the $7$ format

# Service accounts and the development passwords that Settings defaults to.
DEV_SERVICE_ACCOUNTS = {
    "ingest": "dev-ingest-secret",
    "simulator": "dev-simulator-secret",
    "api": "dev-api-secret",
    "gateway": "dev-gateway-secret",
}


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash a password in mosquitto 2's PBKDF2-SHA512 password-file format."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    salt_b64 = base64.b64encode(salt).decode()
    return f"$7${PBKDF2_ITERATIONS}${salt_b64}${base64.b64encode(digest).decode()}"


def read_password_file(path: Path) -> dict[str, str]:
    """Return {username: hash} from a mosquitto password file (empty if absent)."""
    if not path.exists():
        return {}
    entries = {}
    for line in path.read_text().splitlines():
        if ":" in line:
            user, hashed = line.split(":", 1)
            entries[user] = hashed
    return entries


def write_password_file(path: Path, entries: dict[str, str]) -> None:
    """Replace the password file atomically so the broker never reads half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{user}:{hashed}\n" for user, hashed in sorted(entries.items())))
    os.chmod(tmp, 0o600)
    owner = path.parent.stat()
    if os.geteuid() == 0:
        os.chown(tmp, owner.st_uid, owner.st_gid)
    os.replace(tmp, path)


def render_config(state_dir: Path, port: int, run_as: str, bind: str = "127.0.0.1") -> str:
    """The broker's main config: listener and paths here, shared policy in conf.d."""
    return "\n".join(
        [
            f"user {run_as}",
            f"pid_file {state_dir / 'mosquitto.pid'}",
            "persistence true",
            f"persistence_location {state_dir / 'data'}/",
            "autosave_interval 30",
            f"log_dest file {state_dir / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            f"listener {port} {bind}",
            f"password_file {state_dir / 'passwd'}",
            f"acl_file {state_dir / 'acl'}",
            f"include_dir {state_dir / 'conf.d'}",
            "",
        ]
    )


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def broker_user(state_dir: Path) -> str:
    """The account the broker runs as: the owner of its state dir."""
    return pwd.getpwuid(state_dir.stat().st_uid).pw_name


def prepare_state_dir(
    state_dir: Path,
    port: int,
    accounts: dict[str, str],
    run_as: str | None = None,
    bind: str = "127.0.0.1",
) -> Path:
    """Write config and password file (keeping existing device entries); return config path.

    As root, the state dir is handed to `run_as` (the broker drops privileges to it);
    otherwise the broker runs as the current user.
    """
    (state_dir / "data").mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and run_as:
        account = pwd.getpwnam(run_as)
        for path in (state_dir, state_dir / "data"):
            os.chown(path, account.pw_uid, account.pw_gid)
    # Policy is copied, not referenced, so the broker never depends on one checkout.
    (state_dir / "conf.d").mkdir(exist_ok=True)
    _write_if_changed(state_dir / "acl", (MOSQUITTO_DIR / "acl").read_text())
    policy = (MOSQUITTO_DIR / "conf.d" / "eldercare.conf").read_text()
    _write_if_changed(state_dir / "conf.d" / "eldercare.conf", policy)
    config_path = state_dir / "mosquitto.conf"
    _write_if_changed(config_path, render_config(state_dir, port, broker_user(state_dir), bind))
    passwd = state_dir / "passwd"
    entries = read_password_file(passwd)
    for user, password in accounts.items():
        entries.setdefault(user, hash_password(password))
    write_password_file(passwd, entries)
    return config_path


def broker_pid(state_dir: Path) -> int | None:
    """Pid of the running broker of this state dir, or None."""
    pid_file = state_dir / "mosquitto.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def reload_broker(state_dir: Path) -> bool:
    """Ask the broker to re-read its password and ACL files (SIGHUP)."""
    pid = broker_pid(state_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def start_native(state_dir: Path, port: int = DEFAULT_PORT) -> None:
    """Start the project's broker as a daemon unless it already runs."""
    run_as = "mosquitto" if _account_exists("mosquitto") else None
    config_path = prepare_state_dir(state_dir, port, accounts_from_environment(), run_as)
    if broker_pid(state_dir) is not None:
        # SIGHUP re-reads the password file, ACLs and most of the config.
        reload_broker(state_dir)
        print(f"[setup] project broker already running on 127.0.0.1:{port}")
        return
    subprocess.run(["mosquitto", "-d", "-c", str(config_path)], check=True)
    for _ in range(50):
        if broker_pid(state_dir) is not None:
            print(f"[setup] project broker started on 127.0.0.1:{port}")
            return
        time.sleep(0.1)
    raise SystemExit(f"mosquitto did not start; see {state_dir / 'mosquitto.log'}")


def accounts_from_environment() -> dict[str, str]:
    """Service-account passwords: ELDERCARE_BROKER_<USER>_PASSWORD, else the dev defaults."""
    return {
        user: os.environ.get(f"ELDERCARE_BROKER_{user.upper()}_PASSWORD", default)
        for user, default in DEV_SERVICE_ACCOUNTS.items()
    }


USAGE = """usage:
  python3 -m eldercare.broker_files start STATE_DIR [PORT]         native daemon on loopback
  python3 -m eldercare.broker_files prepare STATE_DIR [PORT] [BIND] files only (containers)"""

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("start", "prepare"):
        raise SystemExit(USAGE)
    state, port = Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_PORT
    if sys.argv[1] == "start":
        start_native(state, port)
    else:
        bind = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
        state.mkdir(parents=True, exist_ok=True)
        print(prepare_state_dir(state, port, accounts_from_environment(), bind=bind))
