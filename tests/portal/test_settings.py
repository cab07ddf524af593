"""portal/settings.py: every variable is read by a typed helper, and a bad value stops the
process at start with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import settings as portal_settings

ROOT = Path(__file__).resolve().parents[2]


def load_settings(code: str = "", **env: str) -> subprocess.CompletedProcess:
    # Only the variables a test sets: the others take their defaults.
    dropped = {"DJANGO_SETTINGS_MODULE", "WEBCHAT_MESSAGES_PER_MINUTE"}
    dropped |= {"WEBCHAT_CONVERSATIONS_PER_HOUR", "LOG_LEVEL", "HANDOFF_API_RATE"}
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "-c", "import portal.settings as s\n" + code],
        cwd=ROOT,
        env={**base, "SECRET_KEY": "x", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("HANDOFF_API_RATE", "fast"),
        ("HANDOFF_API_RATE", "0/min"),
        ("HANDOFF_API_RATE", "100/week"),
        ("WEBCHAT_MESSAGES_PER_MINUTE", "many"),
        ("WEBCHAT_CONVERSATIONS_PER_HOUR", "0"),
        ("TIME_ZONE", "Mars/Olympus_Mons"),
        ("TRUSTED_PROXY_HOPS", "-1"),
        ("DEBUG", "perhaps"),
    ],
)
def test_it_stops_at_start_naming_the_variable(name: str, value: str) -> None:
    result = load_settings(**{name: value})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line
    assert f"{name}:" in last_line


def test_it_starts_with_good_values() -> None:
    result = load_settings(
        LOG_LEVEL="warning",
        LOG_FORMAT="json",
        HANDOFF_API_RATE="10/second",
        WEBCHAT_MESSAGES_PER_MINUTE="5",
        WEBCHAT_CONVERSATIONS_PER_HOUR="3",
        TIME_ZONE="Asia/Tokyo",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("value", ["1200/min", "10/s", "5/second", "100/hour", "7/d", "3/days"])
def test_it_reads_the_rates_drf_understands(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HANDOFF_API_RATE", value)
    assert portal_settings.env_rate("HANDOFF_API_RATE", "1200/min") == value


def test_it_reads_a_log_level_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert portal_settings.env_log_level("LOG_LEVEL", "INFO") == "DEBUG"
    monkeypatch.setenv("LOG_LEVEL", "verbose")
    with pytest.raises(ImproperlyConfigured, match="LOG_LEVEL"):
        portal_settings.env_log_level("LOG_LEVEL", "INFO")


def test_it_keeps_the_defaults() -> None:
    result = load_settings(
        "print(s.WEBCHAT_MESSAGES_PER_MINUTE, s.WEBCHAT_CONVERSATIONS_PER_HOUR, "
        "s.HANDOFF_API_RATE, s.LOG_LEVEL)"
    )
    assert result.stdout.split() == ["20", "20", "1200/min", "INFO"], result.stderr
