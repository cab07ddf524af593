"""The live channel of one web process: one listener reads the event table and fans each event
out to the streams open in this process; each stream writes server-sent events to a browser.

The listener is a thread (one per process, started by the first stream): it waits for a Redis
wake-up (`LIVE_URL`), or sleeps `LIVE_POLL_MS` on the embedded default, then reads every new
event in one query and hands each to the streams whose audiences it names, through their
asyncio queues. Its cost does not grow with the number of open streams, and an idle stream
costs no query at all. A stream queries the database only when it opens (to replay what a
reconnecting browser missed) and then lets its connection go.

docs/decisions.md says why server-sent events; docs/deploy.md how to serve them.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import redis
from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.db import connections

from handoff.delivery.live import live_url, wake_channel
from handoff.engine.live import Cursor, Event, Kind, sse, sse_event
from handoff.selectors.live import live_backlog, live_events_after, live_latest_id, live_oldest_id

log = logging.getLogger(__name__)

BATCH = 500  # events read at once
SAFETY_SECONDS = 10.0  # with Redis, the table is read this often anyway (a lost wake-up)
RESUBSCRIBE_SECONDS = 2.0  # Redis unreachable: poll like the embedded default, retry this often
HEARTBEAT_SECONDS = 20.0  # a comment line keeps proxies from closing an idle stream
STREAM_SECONDS = 600.0  # a stream ends on purpose (event "bye") and the browser resumes
RETRY_MS = 1000  # how long a browser waits before it reconnects (the SSE "retry" field)
WSGI_RETRY_MS = 3000  # under WSGI a stream is one short answer: the browser asks again this often
BACKLOG_MAX = 200  # more missed than this: the page reloads what it shows instead
QUEUE_SIZE = 256  # batches waiting for a slow stream; past that it reloads in full


@dataclass(eq=False)
class Subscription:
    """One open stream, as the listener sees it."""

    audiences: frozenset[str]
    prefixes: tuple[str, ...]
    loop: asyncio.AbstractEventLoop
    # Batches of events; None ends the stream (the server is stopping).
    queue: asyncio.Queue[list[Event] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    overflowed: bool = False

    def wants(self, audience: str) -> bool:
        return audience in self.audiences or (
            bool(self.prefixes) and audience.startswith(self.prefixes)
        )

    def put(self, events: list[Event] | None) -> None:
        """Runs in the stream's event loop."""
        try:
            self.queue.put_nowait(events)
        except asyncio.QueueFull:
            self.overflowed = True


class Hub:
    """The listener of one process. `start` and the reads use the database: call `start` from a
    thread that may (sync code), never from the event loop."""

    def __init__(self, *, url: str, poll_seconds: float) -> None:
        self.url = url
        self.poll_seconds = poll_seconds
        self.cursor = Cursor(settled=0)
        self.reads = 0  # table reads so far (the benchmark and the tests look)
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pubsub: redis.client.PubSub | None = None
        self._next_subscribe = 0.0

    @property
    def settled(self) -> int:
        return self.cursor.settled

    @property
    def streams(self) -> int:
        return len(self._subs)

    @property
    def woken_by_redis(self) -> bool:
        return self._pubsub is not None

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self.cursor = Cursor(settled=live_latest_id())
            self._thread = threading.Thread(target=self._run, name="live-listener", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End every open stream (each says "bye": browsers resume elsewhere) and the
        listener."""
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            with contextlib.suppress(RuntimeError):  # its event loop is closed already
                sub.loop.call_soon_threadsafe(sub.put, None)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def subscribe(self, audiences: Iterable[str], prefixes: Iterable[str] = ()) -> Subscription:
        """Runs in the event loop."""
        sub = Subscription(frozenset(audiences), tuple(prefixes), asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    # -- the listener thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            # It reads on while no stream is open: a stream that opens later must find the
            # cursor current, or it would get events from before it opened.
            while not self._stopping.is_set():
                self._wait()
                if not self._stopping.is_set():
                    self._read()
        finally:
            self._unsubscribe()
            connections.close_all()

    def _wait(self) -> None:
        """Until a wake-up, the poll interval, the safety read or a gap's deadline."""
        now = time.monotonic()
        gap = self.cursor.next_deadline()
        subscribing = self.url and self._pubsub is None and now >= self._next_subscribe
        if subscribing and self._subscribe():
            return  # read at once: wake-ups were lost while unsubscribed
        if self._pubsub is None:
            timeout = self.poll_seconds if gap is None else min(self.poll_seconds, gap - now)
            self._stopping.wait(max(0.0, timeout))
            return
        until = now + SAFETY_SECONDS if gap is None else min(now + SAFETY_SECONDS, gap)
        while not self._stopping.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return
            try:
                if self._pubsub.get_message(ignore_subscribe_messages=True, timeout=min(left, 1)):
                    # Several commits may have woken us: one read serves them all.
                    while self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0):
                        pass
                    return
            except (redis.RedisError, OSError) as exc:
                log.warning("live: Redis wake-ups lost (%s); polling the table meanwhile", exc)
                self._unsubscribe()
                return

    def _subscribe(self) -> bool:
        try:
            client = redis.Redis.from_url(
                self.url, socket_connect_timeout=1, socket_keepalive=True, health_check_interval=30
            )
            pubsub = client.pubsub()
            pubsub.subscribe(wake_channel())
        except (redis.RedisError, OSError) as exc:
            self._next_subscribe = time.monotonic() + RESUBSCRIBE_SECONDS
            log.warning("live: cannot subscribe to Redis wake-ups (%s); polling the table", exc)
            return False
        self._pubsub = pubsub
        return True

    def _unsubscribe(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                self._pubsub.close()
            self._pubsub = None
            self._next_subscribe = time.monotonic() + RESUBSCRIBE_SECONDS

    def _read(self) -> None:
        try:
            while True:
                rows = live_events_after(
                    after=self.cursor.settled, also=self.cursor.late_ids(), limit=BATCH
                )
                self.reads += 1
                events = self.cursor.take(rows, time.monotonic())
                self._fan_out(events)
                if len(rows) < BATCH or not events:
                    return
        except Exception:
            # The database restarted, or a connection broke: a new one next time.
            log.exception("live: reading events failed; trying again")
            connections.close_all()
            self._stopping.wait(1.0)

    def _fan_out(self, events: list[Event]) -> None:
        if not events:
            return
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            mine = [e for e in events if sub.wants(e.audience)]
            if mine:
                try:
                    sub.loop.call_soon_threadsafe(sub.put, mine)
                except RuntimeError:  # its event loop is closed: the server stopped
                    self.unsubscribe(sub)


_hub: Hub | None = None
_hub_lock = threading.Lock()


def get_hub() -> Hub:
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = Hub(url=live_url(), poll_seconds=settings.LIVE_POLL_MS / 1000)
        return _hub


def reset_hub() -> None:
    """Stop this process's listener; the next stream starts a new one (tests, settings)."""
    global _hub
    with _hub_lock:
        hub, _hub = _hub, None
    if hub is not None:
        hub.stop()


# -- streams ---------------------------------------------------------------------------------


def _opening(
    *, audiences: list[str], prefixes: tuple[str, ...], after: int | None, upto: int
) -> tuple[list[str], int]:
    """What a stream says first, and the id it has told up to: the events a resuming browser
    missed (ids in (after, upto]), or "refresh" when they are gone or too many, then "hello"
    with the id to resume from."""
    if after is not None and after > upto:
        # Ahead of this process's listener (the browser was served by another process), or
        # from before the table was emptied.
        if after <= live_latest_id():
            return [sse(Kind.HELLO, id=after)], after
        return [sse(Kind.REFRESH, id=upto)], upto
    if after is None or after == upto:
        return [sse(Kind.HELLO, id=upto)], upto
    oldest = live_oldest_id()
    if oldest is None or after < oldest - 1:
        return [sse(Kind.REFRESH, id=upto)], upto  # purged since
    missed = live_backlog(
        audiences=audiences, prefixes=prefixes, after=after, upto=upto, limit=BACKLOG_MAX + 1
    )
    if len(missed) > BACKLOG_MAX:
        return [sse(Kind.REFRESH, id=upto)], upto
    return [*(sse_event(e) for e in missed), sse(Kind.HELLO, id=upto)], upto


def _open(
    hub: Hub, *, audiences: list[str], prefixes: tuple[str, ...], after: int | None
) -> tuple[list[str], int]:
    try:
        hub.start()
        return _opening(audiences=audiences, prefixes=prefixes, after=after, upto=hub.settled)
    finally:
        # An open stream holds no database connection: this request's thread lets it go now.
        connections.close_all()


def _release_request_thread() -> None:
    """Let this request's own thread end now rather than when the stream does.

    Django runs a request's sync parts (middleware, the opening above) in a thread of its own,
    kept until the request ends: for a stream open for minutes, an idle thread per open page.
    Sync work later in the request (its end) starts a new one for a moment.
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    executor = SyncToAsync.context_to_thread_executor.pop(context, None) if context else None
    if executor is not None:
        executor.shutdown(wait=False)


async def event_stream(
    *, audiences: list[str], prefixes: tuple[str, ...] = (), after: int | None
) -> AsyncIterator[str]:
    """The body of one stream: replay, then live events, heartbeats, and "bye" after
    STREAM_SECONDS (the browser resumes from its last id)."""
    hub = get_hub()
    # Subscribe before reading what was missed: an event committed meanwhile is in one of the
    # two (or both: ids already sent are skipped).
    sub = hub.subscribe(audiences, prefixes)
    try:
        opening, last = await sync_to_async(_open)(
            hub, audiences=audiences, prefixes=prefixes, after=after
        )
        _release_request_thread()
        # The first piece of the body only now: its database work is done (portal/asgi.py).
        yield f"retry: {RETRY_MS}\n\n" + "".join(opening)
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        while True:
            left = ends - loop.time()
            if left <= 0:
                yield sse(Kind.BYE)
                return
            try:
                events = await asyncio.wait_for(sub.queue.get(), min(HEARTBEAT_SECONDS, left))
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if events is None:
                yield sse(Kind.BYE)
                return
            if sub.overflowed:
                yield sse(Kind.REFRESH, id=hub.settled)
                yield sse(Kind.BYE)
                return
            for event in events:
                if event.id > last:
                    last = event.id
                    yield sse_event(event)
            if any(e.kind == Kind.CAPACITY for e in events):
                # Queue memberships may have changed: reconnect, to listen to the right queues.
                yield sse(Kind.BYE)
                return
    finally:
        hub.unsubscribe(sub)


def short_answer(*, audiences: list[str], prefixes: tuple[str, ...], after: int | None) -> str:
    """The stream as one answer, for a WSGI server that cannot hold a stream open: what was
    missed, then "bye"; the browser asks again after WSGI_RETRY_MS (a slow poll of the table
    that still only reloads what changed)."""
    opening, _upto = _opening(
        audiences=audiences, prefixes=prefixes, after=after, upto=live_latest_id()
    )
    return f"retry: {WSGI_RETRY_MS}\n\n" + "".join(opening) + sse(Kind.BYE)
