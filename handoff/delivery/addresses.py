"""Where webhooks and status callbacks may be sent: one rule for every place that checks.

https to a public address only, unless HANDOFF_WEBHOOK_ALLOW_PRIVATE (then http and private or
loopback addresses too). The portal's forms and the config document check a URL when it is
configured (`url_refusal`); the sender checks it again before each request
(handoff/delivery/http.py `check_target`), against every address the name resolves to then.
"""

import ipaddress
import socket
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from django.conf import settings


class Refusal(StrEnum):
    INVALID = "invalid"  # not a URL at all
    SCHEME = "scheme"  # not https (nor http where private addresses are allowed)
    NO_HOST = "no_host"
    PRIVATE = "private"  # a loopback, private or otherwise non-public address


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    host: str = ""


def private_allowed() -> bool:
    # Read at call time: `make run` and tests allow local receivers.
    return bool(getattr(settings, "HANDOFF_WEBHOOK_ALLOW_PRIVATE", False))


def allowed_schemes(*, allow_private: bool) -> tuple[str, ...]:
    return ("https", "http") if allow_private else ("https",)


def is_loopback_name(host: str) -> bool:
    """localhost and *.localhost: loopback whatever a resolver says (RFC 6761)."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


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

    IP literals in every form the resolver accepts (2130706433, 0177.0.0.1, 0x7f000001, 127.1)
    are read as the address they mean, and names are resolved; a name that does not resolve
    now passes, since the sender checks every address again before each request.
    """
    name = host.rstrip(".").lower()
    if not name or is_loopback_name(name):
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


def url_refusal(url: str, *, allow_private: bool, resolve: bool = True) -> Refused | None:
    """Why `url` may not receive webhooks, or None when it may.

    `resolve=False` leaves out the look-up of the host's addresses, for the sender, which
    resolves the name itself and checks the very addresses it connects to.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return Refused(Refusal.INVALID)
    if parts.scheme not in allowed_schemes(allow_private=allow_private):
        return Refused(Refusal.SCHEME, host or "")
    if not host:
        return Refused(Refusal.NO_HOST)
    if allow_private:
        return None
    if is_loopback_name(host) or (resolve and is_private_host(host)):
        return Refused(Refusal.PRIVATE, host)
    return None
