"""Webhook and status-callback URLs that point inside the network are refused by default:
when configured (portal forms, config documents) and again when sent (handoff/delivery/http.py)."""

import copy
import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from handoff.config.validation import validate_document
from handoff.delivery import http as delivery
from handoff.delivery.addresses import is_private_host, is_public_address, url_refusal
from portal.forms import check_webhook_url
from tests.api.conftest import DOCUMENT

# Every spelling of "somewhere inside": loopback, private ranges, link-local and the cloud
# metadata address, IPv6 forms, integer/octal/hex/short IPv4, the unspecified address,
# multicast, userinfo tricks and names that resolve locally.
INTERNAL = [
    "https://127.0.0.1/hook",
    "https://127.0.0.1:8443/hook",
    "https://[::1]/hook",
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://api.localhost/hook",
    "https://10.0.0.8/hook",
    "https://172.16.0.1/hook",
    "https://172.31.255.254/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://169.254.1.1/hook",
    "https://100.64.0.1/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:7f00:1]/hook",
    "https://[0:0:0:0:0:ffff:169.254.169.254]/hook",
    "https://[fc00::1]/hook",
    "https://[fd12:3456::1]/hook",
    "https://[fe80::1]/hook",
    "https://[::]/hook",
    "https://2130706433/hook",
    "https://0177.0.0.1/hook",
    "https://0x7f000001/hook",
    "https://0x7f.0.0.1/hook",
    "https://127.1/hook",
    "https://0.0.0.0/hook",
    "https://0/hook",
    "https://224.0.0.1/hook",
    "https://evil@127.0.0.1/hook",
    "https://user:pass@10.0.0.1/hook",
    # IPv6 transition addresses that carry a private or loopback IPv4 address inside:
    # 6to4 (2002::/16, the IPv4 in bits 16-48), NAT64 (64:ff9b::/96, the last 32 bits) and
    # Teredo (2001::/32, the client's IPv4 inverted in the last 32 bits).
    "https://[2002:7f00:1::]/hook",
    "https://[2002:a00:8::1]/hook",
    "https://[2002:a9fe:a9fe::1]/hook",
    "https://[64:ff9b::7f00:1]/hook",
    "https://[64:ff9b::127.0.0.1]/hook",
    "https://[64:ff9b::c0a8:101]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
    "https://[2001:0:4136:e378:8000:63bf:f5ff:fff7]/hook",
]
# Schemes other than https (http is allowed only with HANDOFF_WEBHOOK_ALLOW_PRIVATE).
SCHEMES = [
    "http://hooks.example.com/hook",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "ftp://hooks.example.com/hook",
    "dict://127.0.0.1:11211/stats",
    "javascript:alert(1)",
]


def this_host() -> str:
    """A name that resolves through this machine's own table (no external DNS needed)."""
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    if all(is_public_address(str(a)) for a in addresses):
        pytest.skip(f"{name} resolves to a public address here")
    return f"https://{name}/hook"


@pytest.fixture(autouse=True)
def private_refused() -> Iterator[None]:
    with override_settings(HANDOFF_WEBHOOK_ALLOW_PRIVATE=False):
        yield


@pytest.mark.parametrize("url", INTERNAL + SCHEMES)
def test_it_refuses_the_url_by_the_one_rule_all_three_use(url: str) -> None:
    assert url_refusal(url, allow_private=False) is not None


@pytest.mark.parametrize("url", INTERNAL + SCHEMES)
def test_it_refuses_the_url_in_portal_forms(url: str) -> None:
    with pytest.raises(ValidationError):
        check_webhook_url(url)


def test_it_refuses_a_name_resolving_to_a_private_address_in_forms() -> None:
    with pytest.raises(ValidationError):
        check_webhook_url(this_host())


def document_with(url: str) -> dict[str, Any]:
    doc = copy.deepcopy(DOCUMENT)
    doc["queues"][0]["delivery"] = {"kind": "webhook", "url": url}
    doc["bots"][0]["status_callback_url"] = url
    return doc


@pytest.mark.parametrize("url", INTERNAL + SCHEMES)
def test_it_refuses_the_url_in_config_documents(db: Any, url: str) -> None:
    _, errors = validate_document(document_with(url))
    paths = {error.path for error in errors}
    assert "queues[0].delivery.url" in paths, errors
    assert "bots[0].status_callback_url" in paths, errors


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("2002:7f00:1::", "127.0.0.1"),
        ("2002:c0a8:101::1", "192.168.1.1"),
        ("64:ff9b::7f00:1", "127.0.0.1"),
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fff7", "10.0.0.8"),
    ],
)
def test_it_refuses_transition_addresses_like_the_address_they_embed(
    address: str, embedded: str
) -> None:
    assert not is_public_address(embedded)
    assert not is_public_address(address)
    assert is_private_host(address)


@pytest.mark.parametrize("address", ["2002:5db8:d70e::1", "64:ff9b::5db8:d70e"])
def test_it_accepts_transition_addresses_of_a_public_address(address: str) -> None:
    # 93.184.215.14 is public; so are the 6to4 and NAT64 spellings of it.
    assert delivery.is_public_address(address)


def test_it_accepts_a_public_https_url(db: Any) -> None:
    check_webhook_url("https://93.184.215.14/hook")
    _, errors = validate_document(document_with("https://93.184.215.14/hook"))
    assert not [e for e in errors if e.path.endswith(("delivery.url", "status_callback_url"))]


@pytest.mark.parametrize("url", INTERNAL + SCHEMES)
def test_it_refuses_the_url_when_sending(url: str) -> None:
    result = delivery.post(url=url, body=b"{}", headers={})
    assert result.outcome == delivery.Outcome.FAIL, result
    assert result.error.startswith("target refused"), result
    assert result.status_code is None


def test_it_refuses_a_name_resolving_to_a_private_address_when_sending() -> None:
    result = delivery.post(url=this_host(), body=b"{}", headers={})
    assert result.outcome == delivery.Outcome.FAIL
    assert "non-public address" in result.error


@contextmanager
def http_server(status: int, location: str = "") -> Iterator[tuple[str, list[str]]]:
    """A real server on 127.0.0.1 answering every request with `status` (and a Location)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            self.send_response(status)
            if location:
                self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_it_never_follows_a_redirect(status: int) -> None:
    # Private addresses are allowed here only so that the first hop reaches the local
    # server at all: even then the redirect to the "internal" server is not followed.
    with (
        http_server(200) as (internal_url, internal_seen),
        http_server(status, location=internal_url) as (url, seen),
        override_settings(HANDOFF_WEBHOOK_ALLOW_PRIVATE=True),
    ):
        result = delivery.post(url=url, body=b"{}", headers={})
    assert seen == ["/hook"]
    assert internal_seen == []
    assert result.status_code == status
    assert result.outcome == delivery.Outcome.FAIL
