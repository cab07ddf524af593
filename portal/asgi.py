"""The ASGI application: every page, the API, and the live streams (server-sent events, which
a WSGI server cannot hold open). Served by uvicorn (`make run`) or by gunicorn with uvicorn's
worker in production (docs/deploy.md)."""

import asyncio
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# Under ASGI each request runs its database work in a thread of its own: a connection kept
# after the request would stay with a thread that is gone. Close them (PgBouncer pools).
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")

# Requests of one process that may be at work at once (each holds a database connection
# meanwhile); the others wait their turn. An open stream counts only while it opens.
CONCURRENCY = int(os.environ.get("HANDOFF_ASGI_CONCURRENCY", "16"))


def at_most(limit: int, app: Any) -> Any:
    """Let `limit` requests work at once, each until its answer starts coming: a crowd of
    browsers reconnecting their streams together (a deploy, a network blip) must not open
    as many database connections as there are browsers."""
    gates: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    async def limited(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        gate = gates.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(limit))
        await gate.acquire()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                gate.release()

        async def send_then_release(message: dict[str, Any]) -> None:
            # The first piece of the body: the request's database work is done (a stream
            # sends its first piece once it has read what it must replay).
            if message["type"] == "http.response.body":
                release()
            await send(message)

        try:
            await app(scope, receive, send_then_release)
        finally:
            release()

    return limited


application = at_most(CONCURRENCY, get_asgi_application())
