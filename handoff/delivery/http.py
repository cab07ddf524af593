"""Outbound HTTP for webhooks and status callbacks (docs/delivery.md).

Standard Webhooks signing, the target check (the rule of handoff/delivery/addresses.py, against
every address the name resolves to), one POST that never follows redirects and ends by its
deadline, and the classification of its outcome. No database access here: the callers record
what happened.
"""

import base64
import email.utils
import hashlib
import hmac
import ipaddress
import json
import os
import random
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from handoff.delivery.addresses import (
    Refusal,
    allowed_schemes,
    is_public_address,
    private_allowed,
    url_refusal,
)

USER_AGENT = "HandoffPortal-Webhooks/1.0"


USER_AGENT = "HandoffPortal-Webhooks/1.0"
# A Retry-After longer than this is read as this: a receiver cannot park a delivery for weeks.
RETRY_AFTER_MAX_SECONDS = 24 * 3600
# Of an answer's body only this much is read (for the error message); the rest is dropped.
ANSWER_MAX_BYTES = 64 * 1024


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # timeouts, connection errors, 408, 429, 5xx
    FAIL = "fail"  # any other answer, or a refused target: retrying would not help
    GONE = "gone"  # 410: the receiver says the endpoint is gone for good


@dataclass
class Result:
    outcome: Outcome
    status_code: int | None = None
    error: str = ""
    elapsed_ms: int = 0
    # Seconds a 429 or 503 answer asked the sender to wait (Retry-After), capped.
    retry_after: float | None = None


class TargetRefused(Exception):
    """The URL may not be called (scheme or address not allowed)."""


@dataclass
class Target:
    connect_url: str  # the URL with the checked IP address in place of the host name
    host_header: str
    hostname: str
    address: str


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(
        payload, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False
    ).encode()


def sign(*, secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (Standard Webhooks)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def signed_headers(*, secret: bytes, msg_id: str, body: bytes, timestamp: int | None = None):
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret=secret, msg_id=msg_id, timestamp=ts, body=body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def check_target(url: str, *, allow_private: bool, timeout: float | None = None) -> Target:
    """Resolve the URL's host and check every address it resolves to.

    Raises TargetRefused for a URL that may not be called, OSError when the name does not
    resolve within `timeout` seconds (a temporary failure, retried).
    """
    refused = url_refusal(url, allow_private=allow_private, resolve=False)
    if refused is not None and refused.reason == Refusal.PRIVATE:
        raise TargetRefused(f"{refused.host} resolves to a non-public address (loopback)")
    if refused is not None:
        allowed = allowed_schemes(allow_private=allow_private)
        raise TargetRefused(f"only {' or '.join(allowed)} URLs may be called: {url}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = _resolve(host, port, timeout=timeout)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OSError(f"{host} does not resolve")
    if not allow_private:
        non_public = [a for a in addresses if not is_public_address(a)]
        if non_public:
            raise TargetRefused(f"{host} resolves to a non-public address ({non_public[0]})")
    # Connect to the address just checked, so a second DNS answer cannot point elsewhere.
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    connect_url = urlunsplit(
        (parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, "")
    )
    default_port = (parts.scheme == "https" and port == 443) or (
        parts.scheme == "http" and port == 80
    )
    host_header = host if default_port else f"{host}:{port}"
    return Target(connect_url=connect_url, host_header=host_header, hostname=host, address=address)


# -- name resolution with a time limit ---------------------------------------------------------

_resolver_pool: ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()


def _resolve(host: str, port: int, *, timeout: float | None) -> list[Any]:
    """getaddrinfo() within `timeout` seconds (it has no time limit of its own)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        timeout = None  # an address literal resolves without asking anyone
    if timeout is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    global _resolver_pool
    with _resolver_lock:
        if _resolver_pool is None:
            _resolver_pool = ThreadPoolExecutor(4, thread_name_prefix="webhook-dns")
        pool = _resolver_pool
    future = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        return future.result(timeout=max(timeout, 0.0))
    except TimeoutError:
        # The lookup goes on in its thread and its answer is dropped; nothing is sent.
        raise OSError(f"{host} did not resolve within {timeout:.1f} s") from None


# -- one attempt, bounded as a whole -------------------------------------------------------------

# The monotonic time the running attempt must end by. httpx's time-outs bound each connect,
# read and write, not their sum: a receiver that trickles its answer a byte at a time would keep
# an attempt alive past its lease, and a second copy of the task would POST again meanwhile.
_deadline: ContextVar[float | None] = ContextVar("webhook_deadline", default=None)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """The time-out for the next socket operation: its own, or less when the deadline is near."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the attempt ran out of time")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sockets, each operation limited to what is left of the attempt's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are sent over TCP only")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


# -- clients, one per host name and process ------------------------------------------------------


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes a noticeable time: once per process, not per request.
    return ssl.create_default_context()


# A connection is reused only for the host name it was opened for: the request goes to the
# checked IP address, so the pool sees only that address, while TLS verified the certificate
# for one name. Idle connections are closed after 4 s, before the 5 s a Node.js server keeps
# them, so that a request seldom meets a connection the server is closing.
MAX_CLIENTS = 32
_LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=4, keepalive_expiry=4.0)
_clients: dict[tuple[str, str], httpx.Client] = {}
_clients_lock = threading.Lock()


def _new_client() -> httpx.Client:
    transport = httpx.HTTPTransport(verify=_tls_context(), trust_env=False, limits=_LIMITS)
    # httpx has no option for the network backend: give the transport a pool that has it.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=_tls_context(),
        max_connections=_LIMITS.max_connections,
        max_keepalive_connections=_LIMITS.max_keepalive_connections,
        keepalive_expiry=_LIMITS.keepalive_expiry,
        network_backend=_DeadlineBackend(),
    )
    # trust_env=False: no proxy from the environment may reroute a checked request.
    return httpx.Client(transport=transport, follow_redirects=False, trust_env=False)


def _client(scheme: str, hostname: str) -> httpx.Client:
    key = (scheme, hostname.rstrip(".").lower())
    with _clients_lock:
        client = _clients.pop(key, None) or _new_client()
        _clients[key] = client  # the most recently used last
        if len(_clients) > MAX_CLIENTS:
            _clients.pop(next(iter(_clients))).close()
    return client


def _forget_after_fork() -> None:
    # A forked worker process must not share its parent's sockets or resolver threads.
    global _resolver_pool
    _clients.clear()
    _resolver_pool = None


os.register_at_fork(after_in_child=_forget_after_fork)


# -- the answer ----------------------------------------------------------------------------------


def classify(status_code: int) -> Outcome:
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code == 410:
        return Outcome.GONE
    if status_code in (408, 429) or status_code >= 500:
        return Outcome.RETRY
    return Outcome.FAIL  # other 4xx, and 3xx: redirects are never followed


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), capped at
    RETRY_AFTER_MAX_SECONDS; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # "-0000": UTC by RFC 5322
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), float(RETRY_AFTER_MAX_SECONDS))


def _read_some(response: httpx.Response) -> bytes:
    # Up to ANSWER_MAX_BYTES: a huge answer is cut (and its connection closed, not reused).
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= ANSWER_MAX_BYTES:
            break
    return b"".join(chunks)


def post(
    *, url: str, body: bytes, headers: dict[str, str], deadline: float | None = None
) -> Result:
    """POST once; the answer classified. Never raises for network trouble.

    The whole attempt (name resolution, connection, TLS, sending, the answer) ends by
    `deadline` (a `time.monotonic()` value; default: HANDOFF_WEBHOOK_TIMEOUT from now).
    """
    started = time.monotonic()
    timeout = settings.HANDOFF_WEBHOOK_TIMEOUT
    if deadline is None:
        deadline = started + timeout

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = check_target(
            url, allow_private=private_allowed(), timeout=deadline - time.monotonic()
        )
    except TargetRefused as exc:
        return Result(Outcome.FAIL, error=f"target refused: {exc}", elapsed_ms=took())
    except (OSError, UnicodeError) as exc:
        return Result(Outcome.RETRY, error=f"name resolution failed: {exc}", elapsed_ms=took())
    scheme = urlsplit(url).scheme
    extensions = {"sni_hostname": target.hostname} if scheme == "https" else {}
    token = _deadline.set(deadline)
    try:
        with _client(scheme, target.hostname).stream(
            "POST",
            target.connect_url,
            content=body,
            headers={**headers, "host": target.host_header},
            extensions=extensions,
            timeout=timeout,
        ) as response:
            answer = _read_some(response)
    except httpx.TimeoutException:
        return Result(Outcome.RETRY, error="timeout", elapsed_ms=took())
    except httpx.HTTPError as exc:
        return Result(Outcome.RETRY, error=f"connection error: {exc}", elapsed_ms=took())
    finally:
        _deadline.reset(token)
    status = response.status_code
    outcome = classify(status)
    error = ""
    if outcome != Outcome.DELIVERED:
        error = f"HTTP {status}: {answer[:200].decode('utf-8', 'replace')}"
    wait = parse_retry_after(response.headers.get("retry-after")) if status in (429, 503) else None
    return Result(outcome, status_code=status, error=error, elapsed_ms=took(), retry_after=wait)


def retry_delay(attempt: int, *, retry_after: float | None = None) -> float | None:
    """Seconds before the retry after failed attempt number `attempt` (1-based), or None when
    the attempts are used up. Each delay varies by ±20% so that retries do not march in step;
    a receiver's Retry-After (429, 503) is honoured: never sooner than it asked."""
    delays = settings.HANDOFF_WEBHOOK_RETRY_DELAYS
    if attempt > len(delays):
        return None
    base = delays[attempt - 1]
    return max(base * random.uniform(0.8, 1.2), retry_after or 0.0)
