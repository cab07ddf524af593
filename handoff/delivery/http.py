"""Outbound HTTP for webhooks and status callbacks (DESIGN §6).

Standard Webhooks signing, the target check (https and public addresses only unless
HANDOFF_WEBHOOK_ALLOW_PRIVATE), one POST that never follows redirects, and the classification
of its outcome. No database access here: the callers record what happened.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import socket
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

USER_AGENT = "HandoffPortal-Webhooks/1.0"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # timeouts, connection errors, 408, 429, 5xx
    FAIL = "fail"  # any other answer, or a refused target: retrying would not help


@dataclass
class Result:
    outcome: Outcome
    status_code: int | None = None
    error: str = ""
    elapsed_ms: int = 0


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


# NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address a translator
# reaches. Its local-use sibling 64:ff9b:1::/48 (RFC 8215) is not globally reachable at all.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def is_public_address(address: str) -> bool:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 address reaches that address: it is public only
        # when the IPv4 address is. An IPv4-mapped or NAT64 address *is* its IPv4 address
        # (::ffff:127.0.0.1 is loopback whatever its spelling; a DNS64 resolver answers
        # 64:ff9b::93.184.215.14 for a public IPv4-only host); a 6to4 relay or a Teredo peer
        # is reached through the IPv4 address it embeds (the Teredo server's and client's).
        if ip in NAT64_LOCAL:
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        else:
            embedded = [ip.sixtofour, *(ip.teredo or ())]
            if any(v4 is not None and not is_public_address(str(v4)) for v4 in embedded):
                return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def is_private_host(host: str) -> bool:
    """Whether a URL's host is, or now resolves to, an address that is not public.

    For configuration time (forms, config documents): IP literals in every form the resolver
    accepts (2130706433, 0177.0.0.1, 0x7f000001, 127.1) are read as the address they mean, and
    names are resolved; a name that does not resolve now passes, since check_target() checks
    every address again before each request.
    """
    name = host.rstrip(".").lower()
    if not name or name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        addresses = [str(ipaddress.ip_address(name))]
    except ValueError:
        try:
            addresses = [socket.inet_ntoa(socket.inet_aton(name))]
        except OSError:
            try:
                infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                return False
            addresses = [str(info[4][0]) for info in infos]
    return any(not is_public_address(address) for address in addresses)


def check_target(url: str, *, allow_private: bool) -> Target:
    """Resolve the URL's host and check every address it resolves to.

    Raises TargetRefused for a URL that may not be called, OSError when the name does not
    resolve (a temporary failure, retried).
    """
    parts = urlsplit(url)
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise TargetRefused(f"only {' or '.join(allowed)} URLs may be called: {url}")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    name = host.rstrip(".").lower()
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        # Whatever the resolver says (RFC 6761: these names are loopback).
        raise TargetRefused(f"{host} resolves to a non-public address (loopback)")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OSError(f"{host} does not resolve")
    if not allow_private:
        refused = [a for a in addresses if not is_public_address(a)]
        if refused:
            raise TargetRefused(f"{host} resolves to a non-public address ({refused[0]})")
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


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes a noticeable time: once per process, not per request.
    return ssl.create_default_context()


def classify(status_code: int) -> Outcome:
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code in (408, 429) or status_code >= 500:
        return Outcome.RETRY
    return Outcome.FAIL  # other 4xx, and 3xx: redirects are never followed


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Result:
    """POST once; the answer classified. Never raises for network trouble."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = check_target(url, allow_private=settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE)
    except TargetRefused as exc:
        return Result(Outcome.FAIL, error=f"target refused: {exc}", elapsed_ms=took())
    except (OSError, UnicodeError) as exc:
        return Result(Outcome.RETRY, error=f"name resolution failed: {exc}", elapsed_ms=took())
    extensions = {"sni_hostname": target.hostname} if url.startswith("https") else {}
    try:
        # trust_env=False: no proxy from the environment may reroute a checked request.
        with httpx.Client(
            follow_redirects=False,
            timeout=settings.HANDOFF_WEBHOOK_TIMEOUT,
            trust_env=False,
            verify=_tls_context(),
        ) as client:
            response = client.post(
                target.connect_url,
                content=body,
                headers={**headers, "host": target.host_header},
                extensions=extensions,
            )
    except httpx.TimeoutException:
        return Result(Outcome.RETRY, error="timeout", elapsed_ms=took())
    except httpx.HTTPError as exc:
        return Result(Outcome.RETRY, error=f"connection error: {exc}", elapsed_ms=took())
    outcome = classify(response.status_code)
    error = (
        ""
        if outcome == Outcome.DELIVERED
        else f"HTTP {response.status_code}: {response.text[:200]}"
    )
    return Result(outcome, status_code=response.status_code, error=error, elapsed_ms=took())


def retry_delay(attempt: int) -> float | None:
    """Seconds before the retry after failed attempt number `attempt` (1-based), or None when
    the attempts are used up. Each delay varies by ±20% so that retries do not march in step."""
    delays = settings.HANDOFF_WEBHOOK_RETRY_DELAYS
    if attempt > len(delays):
        return None
    base = delays[attempt - 1]
    return base * random.uniform(0.8, 1.2)
