"""portal/asgi.py: at most N requests of a process at work at once, each until its answer's
body starts (an open stream stops counting once it has opened)."""

import asyncio
from typing import Any

from portal.asgi import at_most
from tests.live_helpers import in_a_loop_of_its_own


def test_it_lets_only_so_many_requests_work_at_once() -> None:
    working = 0
    most = 0
    streaming = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal working, most
        working += 1
        most = max(most, working)
        await asyncio.sleep(0.01)  # its database work
        working -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await streaming.wait()  # a stream: open long after its first piece

    async def send(message: dict[str, Any]) -> None:
        pass

    async def scenario() -> int:
        limited = at_most(3, app)
        requests = [asyncio.create_task(limited({"type": "http"}, None, send)) for _ in range(20)]
        while working or most == 0:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        # All twenty opened although only three worked at once: the streams do not hold it.
        opened = sum(not t.done() for t in requests)
        streaming.set()
        await asyncio.gather(*requests)
        return opened

    assert in_a_loop_of_its_own(scenario) == 20
    assert most == 3
