"""Waking the web processes when live events are written (Redis pub/sub, `LIVE_URL`).

The event rows are the truth; the wake-up only says "read the table now". It never raises:
a lost wake-up delays events until the reader's next safety read (portal/live.py), it never
loses one. Without `LIVE_URL` there is nothing to publish: the web processes poll the table.
"""

import logging
import threading

import redis
from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def live_url() -> str:
    return settings.LIVE_URL


def wake_channel() -> str:
    """One channel per database: processes that share the tables share the wake-ups (a Redis
    server may serve several deployments, and pub/sub channels ignore the database number)."""
    return f"handoff-live:{connection.settings_dict['NAME']}"


def redis_client(url: str) -> redis.Redis:
    # Short timeouts: a publish runs right after a commit, in a request or a task.
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
            _clients[url] = client
        return client


def wake_publish() -> None:
    url = live_url()
    if not url:
        return
    try:
        redis_client(url).publish(wake_channel(), b"1")
    except redis.RedisError as exc:
        log.warning("live wake-up not published (readers catch up on their own): %s", exc)
