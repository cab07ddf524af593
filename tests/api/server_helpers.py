"""A real gunicorn serving portal.wsgi on the test database, for what Django's test client
cannot show (how the server hands a request to Django)."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from tests.handoff.delivery_helpers import closed_port, wait_until
from tests.handoff.test_worker import worker_database_url

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


@contextmanager
def gunicorn(log: Path, **env: str) -> Iterator[int]:
    """Its port, once it answers."""
    import http.client

    port = closed_port()
    out = open(log, "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [GUNICORN, "portal.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--log-level", "info"],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "SECRET_KEY": settings.SECRET_KEY,
            "HANDOFF_ENCRYPTION_KEY": settings.HANDOFF_ENCRYPTION_KEY,
            "ALLOWED_HOSTS": "127.0.0.1",
            "DEBUG": "0",
            **env,
        },
        stdout=out,
        stderr=subprocess.STDOUT,
    )

    def answers() -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health/")
            conn.getresponse().read()
            return True
        except OSError:
            return process.poll() is not None

    try:
        assert wait_until(answers, 30) and process.poll() is None, log.read_text()[-3000:]
        yield port
    finally:
        process.terminate()
        process.wait(10)
        out.close()
