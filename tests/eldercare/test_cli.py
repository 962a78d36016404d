"""The `eldercare` command as an operator uses it."""

from __future__ import annotations

import subprocess
import sys

from argon2 import PasswordHasher

from tests.support.processes import settings_env


def eldercare(settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eldercare.cli", *args],
        input=stdin,
        text=True,
        capture_output=True,
        env=settings_env(settings),
        timeout=60,
    )


def test_create_admin_reads_the_password_from_stdin_and_refuses_duplicates(settings, db):
    done = eldercare(settings, "create-admin", "ops-lead", stdin="a-long-enough-secret\n")
    assert done.returncode == 0, done.stderr
    role, password_hash = db.execute(
        "SELECT role, password_hash FROM accounts WHERE username = 'ops-lead'"
    ).fetchone()
    assert role == "admin" and PasswordHasher().verify(password_hash, "a-long-enough-secret")
    again = eldercare(settings, "create-admin", "ops-lead", stdin="another-long-secret\n")
    assert again.returncode == 1 and "exists already" in again.stderr


def test_create_admin_refuses_a_short_password(settings, db):
    done = eldercare(settings, "create-admin", "short-pw", stdin="abc\n")
    assert done.returncode == 2 and "too short" in done.stderr
    assert db.execute("SELECT 1 FROM accounts WHERE username = 'short-pw'").fetchone() is None
