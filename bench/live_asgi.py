"""portal.asgi's application, counting every database query of the process, for bench/live.py.

`GET /bench/queries` answers the count so far (served here, before Django: it costs none).
"""

import itertools
from typing import Any

from django.db.backends.signals import connection_created

from portal.asgi import application as portal

_count = itertools.count()
_seen = [0]


def _counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    _seen[0] = next(_count) + 1
    return execute(sql, params, many, context)


def _wrap(sender: Any, connection: Any, **kwargs: Any) -> None:
    connection.execute_wrappers.append(_counted)


connection_created.connect(_wrap)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/bench/queries":
        body = str(_seen[0]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    await portal(scope, receive, send)
