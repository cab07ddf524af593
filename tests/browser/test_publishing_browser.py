"""A maker simulates a request against the draft, sees the rule match, compares with the live
version, publishes, and sees the version in the list. Saves screenshots of these pages under
docs/screenshots/."""

import json
from typing import Any

import pytest
from django.contrib.auth.models import Group

from handoff.config.document import audit, latest_version
from handoff.models import EscalationRule
from portal.roles import ROLES
from tests.browser.conftest import SCREENSHOTS as SHOTS
from tests.browser.conftest import htmx_idle, log_in
from tests.conftest import make_user
from tests.portal.publishing_helpers import document, load

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_it_simulates_compares_and_publishes(live_server: Any, new_page: Any) -> None:
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    mia = make_user("mia-maker", "maker")
    load()  # published as version 1
    EscalationRule.objects.filter(name="VIP billing").update(priority=3)
    audit(user=mia, action="update", object_type="rule", object_key="VIP billing")

    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server.url, "mia-maker", "pw-mia-maker")
    page.goto(f"{live_server.url}/simulator/")
    page.fill("#sim-channel", "webchat")
    page.fill("#sim-topic", "billing")
    page.fill("#sim-cname", "Ada Lovelace")
    # Three variables: the first row is there; two more are added in place with htmx.
    page.click("text=Add variable")
    page.click("text=Add variable")
    page.locator(".var-row").nth(2).wait_for()
    for index, (name, value) in enumerate(
        [("account_id", "A-42"), ("tier", "gold"), ("card", "4111 1111 1111 1111")]
    ):
        row = page.locator(".var-row").nth(index)
        row.locator("input[name=var_name]").fill(name)
        row.locator("input[name=var_value]").fill(value)
    page.fill("#sim-transcript", "customer: my invoice is wrong\nbot: Let me get a person")
    page.click("button[value=draft]")
    page.locator(".rule-matched", has_text="VIP billing").wait_for()
    assert "1111" in page.locator(".agent-context").inner_text()
    assert "4111 1111" not in page.locator(".agent-context").inner_text()
    shot(page, "simulator")

    page.click("button[value=compare]")
    page.locator("table.differences").wait_for()
    assert "Priority" in page.locator("table.differences").inner_text()
    shot(page, "simulator-compare")

    page.click(".unpublished")  # the top bar says the draft has unpublished changes
    page.wait_for_url("**/config/publish/")
    shot(page, "publish")
    page.fill("input[name=note]", "VIP billing priority 3")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/config/versions/")
    assert "VIP billing priority 3" in page.locator("table").inner_text()
    version = latest_version()
    assert version is not None and version.number == 2
    assert page.locator(".unpublished").count() == 0
    shot(page, "versions")

    page.goto(f"{live_server.url}/config/versions/diff/?a=1&b=2")
    page.locator(".diff-table").wait_for()
    shot(page, "version-diff")
    page.goto(f"{live_server.url}/config/audit/")
    shot(page, "audit-log")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/simulator/")
    shot(page, "simulator-phone")


def test_it_shows_import_and_publish_problems(live_server: Any, new_page: Any) -> None:
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    make_user("alice-admin", "admin")
    load()
    doc = document()
    doc["queues"][2]["overflow"] = {"when_full": {"action": "transfer", "queue": "x"}}
    doc["rules"][0]["colour"] = "red"

    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server.url, "alice-admin", "pw-alice-admin")
    page.goto(f"{live_server.url}/config/import/")
    page.fill("textarea[name=text]", json.dumps(doc))
    page.click("button[type=submit].primary")
    errors = page.locator("#import-errors")
    errors.wait_for()
    assert "queues[2].overflow.when_full.queue" in errors.inner_text()
    shot(page, "import-errors")

    EscalationRule.objects.filter(name="After hours").update(
        conditions={"all": [{"field": "nonsense", "op": "eq", "value": 1}]}
    )
    page.goto(f"{live_server.url}/config/publish/")
    page.click("button[type=submit].primary")
    problems = page.locator("#problems")
    problems.wait_for()
    assert "rules[1]" in problems.inner_text()
    shot(page, "publish-problems")
    htmx_idle(page)  # a boosted page that is still settling can swallow the click
    problems.locator("a").first.click()
    page.wait_for_url("**/authoring/rules/**")  # the rule's page (or the list)
