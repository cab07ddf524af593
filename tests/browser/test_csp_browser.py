"""In a real Chromium: the portal's pages run under the Content-Security-Policy without a
single refusal (an inline script, style or eval the policy blocks shows in the console)."""

from typing import Any

import pytest
from django.urls import reverse

from tests.browser.conftest import log_in
from tests.conftest import make_user

pytestmark = pytest.mark.browser

PAGES = [
    "home",
    "queue_list",
    "queue_new",
    "bot_list",
    "topic_list",
    "rule_list",
    "context_field_list",
    "simulator",
    "test_bot",
    "version_list",
    "config_publish",
    "agent_workspace",
    "supervisor_board",
    "user_new",
]


def refusals(page: Any) -> list[str]:
    found: list[str] = []
    page.on(
        "console",
        lambda m: found.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda e: found.append(f"error: {e}"))
    return found


def test_it_runs_every_page_without_a_policy_refusal(
    live_server: Any,
    new_page: Any,
    db: Any,
) -> None:
    make_user("csp-admin", "admin", "agent")
    page = new_page()
    found = refusals(page)
    log_in(page, live_server.url, "csp-admin", "pw-csp-admin")
    for name in PAGES:
        page.goto(live_server.url + reverse(name))
        page.wait_for_load_state("networkidle")
        assert found == [], f"{name}: {found}"
    for path in (reverse("webchat"), reverse("api-docs")):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
    # The Swagger UI's own inline <style> is refused (margins only); nothing else may be.
    assert [f for f in found if "style" not in f.lower()] == [], found
