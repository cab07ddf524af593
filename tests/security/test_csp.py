"""Every page carries the Content-Security-Policy, and nothing in it needs 'unsafe-inline'."""

import re
from typing import Any

from django.urls import reverse

from portal import portal_urls
from portal.security import CONTENT_SECURITY_POLICY
from tests.portal.test_permissions import patterns, url_for

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b", re.IGNORECASE)
HX_ON = re.compile(r"\shx-on[:-]", re.IGNORECASE)  # evaluated with Function(): needs eval


def assert_clean(response: Any, url: str) -> None:
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
    html = response.content.decode()
    for name, pattern in [
        ("inline <script>", INLINE_SCRIPT),
        ("on*= handler", EVENT_HANDLER),
        ("style attribute", STYLE_ATTRIBUTE),
        ("<style> element", INLINE_STYLE),
        ("hx-on attribute", HX_ON),
    ]:
        found = pattern.search(html)
        assert not found, f"{url}: {name}: {found.group(0)[:120] if found else ''}"


def test_it_sends_the_policy_on_every_page_without_inline_code(
    client: Any, objects: Any, people: Any
) -> None:
    checked = 0
    for pattern in patterns():
        if pattern.name in portal_urls.PUBLIC:
            continue
        url = url_for(pattern, objects, people)
        role = pattern.callback.allowed_roles[0]  # type: ignore[attr-defined]
        client.force_login(people[role])
        response = client.get(url)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        assert_clean(response, url)
        checked += 1
    assert checked > 30


def test_it_keeps_the_public_pages_clean(client: Any, db: Any) -> None:
    for name in ("login", "webchat"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert_clean(response, name)


def test_it_serves_the_api_docs_script_as_a_file(client: Any, db: Any) -> None:
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    html = response.content.decode()
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert not INLINE_SCRIPT.search(html)
    script = re.search(r'<script src="([^"]*script=[^"]*)"', html)
    assert script, html
    js = client.get(script.group(1).replace("&amp;", "&"))
    assert js.status_code == 200
    assert "javascript" in js["Content-Type"]


def test_it_denies_framing(client: Any, db: Any) -> None:
    response = client.get(reverse("login"))
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
