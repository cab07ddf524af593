"""`manage.py check --deploy` is clean with production settings."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_check(**env: str) -> subprocess.CompletedProcess:
    # A production-like environment: not what other tests set for themselves (the browser
    # tests set DJANGO_ALLOW_ASYNC_UNSAFE, which the deploy checks rightly refuse).
    dropped = {"DEBUG", "SECURE_HSTS_SECONDS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_passes_the_deploy_checks_in_production() -> None:
    result = run_check(
        DEBUG="0",
        SECRET_KEY="a-production-secret-" + "k9Qz!xL2#pW7" * 5,
        ALLOWED_HOSTS="handoff.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_warns_about_a_short_secret_key() -> None:
    result = run_check(DEBUG="0", SECRET_KEY="short", ALLOWED_HOSTS="handoff.example.com")
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr
