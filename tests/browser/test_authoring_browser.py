"""A maker authors in the browser: a topic with three nodes edited in place, a context field
previewed through the engine, a rule with two conditions built row by row. Saves screenshots
of these pages under docs/screenshots/."""

from typing import Any

import pytest
from django.contrib.auth.models import Group

from handoff.models import ContextField, EscalationRule, Queue, Topic
from portal.roles import ROLES
from tests.browser.conftest import SCREENSHOTS as SHOTS
from tests.browser.conftest import htmx_idle, log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def add_node(page: Any, **fields: str) -> None:
    form = page.locator("#add-node")
    form.locator("[name=add-type]").select_option(fields.pop("type"))
    for name, value in fields.items():
        control = form.locator(f"[name=add-{name}]")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    count = page.locator(".node-list > li.card").count()
    form.locator("button[type=submit]").click()
    page.locator(".node-list > li.card").nth(count).wait_for()


def test_it_authors_a_topic_a_field_and_a_rule(live_server: Any, new_page: Any) -> None:
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    make_user("mia-maker", "maker")
    Queue.objects.create(key="general", name="General", is_fallback=True)
    Queue.objects.create(key="billing", name="Billing")

    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server.url, "mia-maker", "pw-mia-maker")

    page.goto(f"{live_server.url}/authoring/topics/new/")
    page.fill("[name=key]", "refund")
    page.fill("[name=name]", "Refund")
    page.fill("[name=trigger_phrases_text]", "refund\nmoney back")
    page.click("text=Create topic")
    page.wait_for_url("**/authoring/topics/refund/")

    add_node(
        page,
        type="question",
        node_id="ask-amount",
        prompt="How much?",
        variable="amount",
        value_type="number",
    )
    add_node(page, type="transfer", node_id="handoff", agent_message="Refund of {variables.amount}")
    # Only the fields of the chosen type show; the go-to lists the topic's nodes.
    page.locator("[name=add-type]").select_option("condition")
    assert page.locator("#add-node [name=add-prompt]").is_hidden()
    assert page.locator("#add-node [name=add-goto] option[value=handoff]").count() == 1
    add_node(
        page,
        type="condition",
        node_id="big",
        variable="amount",
        operator="gt",
        value="100",
        goto="handoff",
    )
    # An error is shown at its field, in place.
    add_node_errors = page.locator("#add-node")
    add_node_errors.locator("[name=add-type]").select_option("end")
    add_node_errors.locator("[name=add-node_id]").fill("big")
    add_node_errors.locator("button[type=submit]").click()
    page.locator(
        "#add-node .errorlist", has_text="Another node of this topic has this id"
    ).wait_for()
    # The condition moves up, before the transfer.
    page.locator(".node-list > li.card").nth(2).locator("button[value=up]").click()
    page.locator(".node-list > li.card").nth(1).locator("h3", has_text="big").wait_for()
    topic = Topic.objects.get(key="refund")
    assert list(topic.nodes.order_by("position").values_list("node_id", flat=True)) == [
        "ask-amount",
        "big",
        "handoff",
    ]
    shot(page, "authoring-topic")

    page.goto(f"{live_server.url}/authoring/context-fields/new/")
    page.fill("[name=source]", "customer.email")
    page.fill("[name=target]", "CustomerEmail")
    page.select_option("[name=transform]", "redact_email")
    page.fill("#id_sample", "jane.doe@example.com")
    page.locator("#preview .preview-value", has_text="j***@example.com").wait_for()
    shot(page, "authoring-context-field")
    page.click("text=Save")
    page.wait_for_url("**/authoring/context-fields/")
    assert ContextField.objects.get().transform == "redact_email"

    page.goto(f"{live_server.url}/authoring/rules/new/")
    page.fill("[name=name]", "Big refunds")
    page.click("text=Add condition")
    page.locator(".condition-row").nth(0).wait_for()
    htmx_idle(page)
    # Choosing a field re-renders its row in place, with the operators that fit it.
    with page.expect_response(lambda r: "/authoring/rules/new/" in r.url):
        page.select_option("[name=cond-0-field]", "topic")
    page.locator("[name=cond-0-op] option[value=starts_with]").wait_for(state="attached")
    page.select_option("[name=cond-0-op]", "eq")
    page.fill("[name=cond-0-value]", "refund")
    page.click("text=Add condition")
    page.locator(".condition-row").nth(1).wait_for()
    htmx_idle(page)
    assert page.input_value("[name=cond-0-value]") == "refund"
    with page.expect_response(lambda r: "/authoring/rules/new/" in r.url):
        page.select_option("[name=cond-1-field]", "variables.amount")
    # A number field offers comparisons, and no text operators.
    page.locator("[name=cond-1-op] option[value=gt]").wait_for(state="attached")
    assert page.locator("[name=cond-1-op] option[value=contains]").count() == 0
    page.select_option("[name=cond-1-op]", "gt")
    page.fill("[name=cond-1-value]", "100")
    page.select_option("[name=queue]", "billing")
    shot(page, "authoring-rule")
    page.click("text=Save rule")
    page.wait_for_url("**/authoring/rules/")
    rule = EscalationRule.objects.get()
    assert rule.conditions == {
        "all": [
            {"field": "topic", "op": "eq", "value": "refund"},
            {"field": "variables.amount", "op": "gt", "value": 100},
        ]
    }
    page.click("#rule-rows button.toggle")
    page.locator("#rule-rows button.toggle", has_text="Disabled").wait_for()
    rule.refresh_from_db()
    assert not rule.enabled
    shot(page, "authoring-rules")
