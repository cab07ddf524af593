import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection

from handoff.config.snapshot import forget_published_snapshots
from handoff.models import User
from handoff.selectors import handoffs as selectors

CHROMIUM = "/usr/bin/chromium"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    on_postgres = connection.vendor == "postgresql"
    has_chromium = shutil.which(CHROMIUM) is not None
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(
                pytest.mark.skip(
                    reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)"
                )
            )
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(
                pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
            )


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    # CI has PostgreSQL and Chromium: a skipped test there means something was not proven.
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; every test must run in CI.")
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _fresh_process_state() -> None:
    """Each test starts without what earlier tests left in this process: throttling and rate
    limit counters in the cache, and cached configuration snapshots and served counts (a
    flushed database reuses primary keys)."""
    cache.clear()
    forget_published_snapshots()
    selectors._served.clear()


def make_user(username: str, *roles: str, **extra: Any) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, **extra)
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def admin_user(db: Any) -> User:
    return make_user("alice-admin", "admin")


@pytest.fixture
def maker(db: Any) -> User:
    return make_user("mia-maker", "maker")


@pytest.fixture
def analyst(db: Any) -> User:
    return make_user("ann-analyst", "analyst")


@pytest.fixture
def agent(db: Any) -> User:
    return make_user("ben-agent", "agent")


@pytest.fixture
def outsider(db: Any) -> User:
    """Logged in, but with no role at all."""
    return make_user("olga-outsider")


@pytest.fixture(scope="session")
def asgi_server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Any]:
    """uvicorn serving the portal in a thread, for pages and streams that need ASGI
    (tests/live_helpers.py). Stopped before the test database goes."""
    from tests.live_helpers import AsgiServer

    with django_db_blocker.unblock():
        server = AsgiServer()
        yield server
        server.stop()


@pytest.fixture
def open_stream(asgi_server: Any) -> Iterator[Any]:
    """A factory of event stream readers against the ASGI server, closed after the test."""
    from tests.live_helpers import Stream

    opened: list[Stream] = []

    def make(path: str, **kwargs: Any) -> Stream:
        stream = Stream(asgi_server.url + path, **kwargs)
        opened.append(stream)
        return stream.open()

    yield make
    for stream in opened:
        stream.close()
