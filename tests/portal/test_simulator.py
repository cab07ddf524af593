import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from handoff.crypto import new_api_key
from handoff.models import ApiKey, Bot, EscalationRule, Handoff, User
from handoff.selectors.simulation import DRAFT, PUBLISHED, simulation_config
from portal.simulation import simulate, simulate_compare
from tests.portal.conftest import login
from tests.portal.publishing_helpers import body, load

URL = "/simulator/"


@pytest.fixture
def configured(db: Any) -> None:
    load()


def run(client: Client, user: User, **data: Any) -> Any:
    login(client, user)
    return client.post(URL, {"bot": "support-bot", "run": DRAFT, **data})


def run_json(client: Client, user: User, payload: Any, run_on: str = DRAFT) -> Any:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return run(client, user, mode="json", body=text, run=run_on)


def test_it_sends_anonymous_users_to_login(client: Client) -> None:
    assert client.get(URL).status_code == 302
    assert client.post(URL).status_code == 302


def test_it_refuses_agents_and_outsiders(client: Client, agent: User, outsider: User) -> None:
    for user in (agent, outsider):
        login(client, user)
        assert client.get(URL).status_code == 403
        assert client.post(URL, {"run": DRAFT}).status_code == 403
        assert client.get(reverse("simulator_variable_row")).status_code == 403


def test_it_lets_makers_admins_and_analysts_run_it(
    client: Client, configured: None, maker: User, admin_user: User, analyst: User
) -> None:
    for user in (maker, admin_user, analyst):
        login(client, user)
        assert client.get(URL).status_code == 200
        response = run_json(client, user, body())
        assert response.status_code == 200
        assert "VIP billing" in response.content.decode()


def test_it_shows_the_matching_rule_queue_and_masked_context(
    client: Client, configured: None, maker: User
) -> None:
    response = run_json(client, maker, body())
    html = response.content.decode()
    result = response.context["result"]
    assert result.status_code == 202
    assert result.decision.rule == "VIP billing"
    assert result.decision.queue_key == "billing"
    assert "The API would answer 202" in html
    assert "Rule &quot;VIP billing&quot; (order 1): matched" in html
    # Masked, visible fields with their labels; the hidden field is not in the agent's view.
    assert "Card" in html and "************1111" in html
    assert "4111111111111111" not in html.split('id="sim-result"')[1].split("request body")[0]
    labels = [f["label"] for f in result.decision.visible_context]
    assert labels == ["Account", "Tier", "Card"]
    # The queue and its state.
    assert result.queues[0].key == "billing" and result.queues[0].is_open is True


def test_it_explains_why_each_rule_did_not_match(
    client: Client, configured: None, maker: User
) -> None:
    payload = body(topic=None, variables={"account_id": "A-1", "after_hours": True})
    result = run_json(client, maker, payload).context["result"]
    outcomes = {r["rule"]: r["result"] for r in result.rules}
    assert outcomes == {"VIP billing": "no_match", "After hours": "matched"}
    first = run_json(client, maker, body()).context["result"]
    assert [(r["rule"], r["result"]) for r in first.rules] == [
        ("VIP billing", "matched"),
        ("After hours", "not_evaluated"),
    ]
    # The closed queue rejects: the queue state shows closed and the overflow taken.
    assert result.decision.status == "rejected"
    assert result.decision.message == "We are closed."
    closed = result.queues[0]
    assert closed.key == "closed" and closed.is_open is False
    assert closed.overflow[0]["action"] == "reject"


def test_it_composes_the_request_from_the_form(
    client: Client, configured: None, maker: User
) -> None:
    response = run(
        client,
        maker,
        mode="compose",
        channel="webchat",
        topic="billing",
        locale="en-US",
        customer_name="Ada",
        var_name=["account_id", "tier", "vip", "score", ""],
        var_type=["text", "text", "boolean", "number", "text"],
        var_value=["A-7", "gold", "yes", "4.5", ""],
        transcript="customer: my invoice is wrong\nbot: Let me get someone\nplain line",
    )
    context = response.context
    assert context["result"].decision.rule == "VIP billing"
    sent = json.loads(context["body_json"])
    assert sent["variables"] == {"account_id": "A-7", "tier": "gold", "vip": True, "score": 4.5}
    assert sent["customer"] == {"name": "Ada"}
    assert [t["from"] for t in sent["transcript"]] == ["customer", "bot", "customer"]


def test_it_shows_a_bad_variable_value_at_its_row(
    client: Client, configured: None, maker: User
) -> None:
    response = run(
        client,
        maker,
        mode="compose",
        channel="webchat",
        var_name=["amount"],
        var_type=["number"],
        var_value=["lots"],
    )
    assert "result" not in response.context
    assert response.context["rows"][0]["error"]
    assert "is not a number" in response.content.decode()


def test_it_starts_from_a_channel_the_bot_may_use(
    client: Client, configured: None, maker: User
) -> None:
    login(client, maker)
    assert client.get(URL).context["default_channel"] == "webchat"


def test_it_adds_a_variable_row_in_place(client: Client, maker: User) -> None:
    login(client, maker)
    response = client.get(reverse("simulator_variable_row"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.strip().startswith("<tr") and 'name="var_name"' in html


def test_it_answers_htmx_with_the_workspace_only(
    client: Client, configured: None, maker: User
) -> None:
    login(client, maker)
    response = client.post(
        URL,
        {"bot": "support-bot", "run": DRAFT, "mode": "json", "body": json.dumps(body())},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert html.strip().startswith('<div id="simulator">')
    assert "<html" not in html


def test_it_names_a_missing_required_field_the_way_the_api_does(
    client: Client, configured: None, maker: User
) -> None:
    payload = body(variables={"tier": "gold"})
    result = run_json(client, maker, payload).context["result"]
    assert result.status_code == 422
    assert result.error["code"] == "context_invalid"
    assert list(result.error["fields"]) == ["context.AccountId"]
    # The decision is still explained, so the maker sees what would have happened.
    assert result.decision.rule == "VIP billing"


def test_it_names_invalid_body_fields_the_way_the_api_does(
    client: Client, configured: None, maker: User
) -> None:
    payload = {"channel": "webchat", "locale": "not a locale", "customer": {"mail": "x"}}
    response = run_json(client, maker, payload)
    result = response.context["result"]
    assert result.status_code == 400
    assert set(result.error["fields"]) == {"conversation_id", "locale", "customer.mail"}
    assert "<code>customer.mail</code>" in response.content.decode()


def test_it_reports_a_body_that_is_not_json(client: Client, configured: None, maker: User) -> None:
    response = run_json(client, maker, "{not json")
    assert response.context["parse_error"]["error"]["code"] == "invalid_json"
    assert "The API would answer 400" in response.content.decode()


@pytest.fixture
def bot_client(configured: None) -> Client:
    plain, prefix, hashed = new_api_key()
    ApiKey.objects.create(bot=Bot.objects.get(key="support-bot"), prefix=prefix, hashed=hashed)
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


@pytest.mark.parametrize(
    "payload",
    [
        body(variables={"tier": "gold"}),  # 422: a required context field is missing
        body(channel="nowhere"),  # 400: unknown channel
        body(topic="nothing"),  # 400: unknown topic
        body(channel="sms"),  # 403: disabled
        body(channel="teams"),  # 403: not allowed for this bot
        {"channel": "webchat", "transcript": [{"from": "robot", "text": 1}], "extra": 1},
        [1, 2],
    ],
)
def test_it_gives_the_same_errors_as_the_api(bot_client: Client, payload: Any) -> None:
    api = bot_client.post("/api/v1/handoffs", payload, content_type="application/json")
    assert api.status_code >= 400
    config = simulation_config(target=PUBLISHED)
    result = simulate(payload, config=config, target=PUBLISHED, bot_key="support-bot")
    assert result.status_code == api.status_code
    assert {"error": result.error} == api.json()
    assert Handoff.objects.count() == 0


def test_it_routes_like_the_api(bot_client: Client) -> None:
    api = bot_client.post("/api/v1/handoffs", body(), content_type="application/json")
    assert api.status_code == 202
    handoff = Handoff.objects.get()
    config = simulation_config(target=PUBLISHED)
    decision = simulate(body(), config=config, target=PUBLISHED, bot_key="support-bot").decision
    assert decision is not None
    assert (decision.queue_key, decision.rule) == (handoff.queue_key, handoff.rule)
    assert decision.context == handoff.context


def test_it_stores_nothing(client: Client, configured: None, maker: User) -> None:
    run_json(client, maker, body())
    run_json(client, maker, body(), run_on="compare")
    assert Handoff.objects.count() == 0


def test_it_runs_against_the_draft_or_the_published_version(
    client: Client, configured: None, maker: User
) -> None:
    EscalationRule.objects.filter(name="VIP billing").update(enabled=False)
    draft = run_json(client, maker, body(), run_on=DRAFT).context["result"]
    published = run_json(client, maker, body(), run_on=PUBLISHED).context["result"]
    assert draft.decision.rule is None and draft.decision.queue_key == "general"
    assert published.decision.rule == "VIP billing"
    assert published.version_number == 1


def test_it_compares_draft_with_published(client: Client, configured: None, maker: User) -> None:
    EscalationRule.objects.filter(name="VIP billing").update(enabled=False)
    response = run_json(client, maker, body(), run_on="compare")
    comparison = response.context["comparison"]
    differences = {d.label: (d.draft, d.published) for d in comparison.differences}
    assert differences["Queue"] == ("general", "billing")
    assert differences["Rule"] == (None, "VIP billing")
    assert differences["Rule “VIP billing”"] == ("disabled", "matched")
    html = response.content.decode()
    assert 'class="differs"' in html and "Draft compared with published" in html


def test_it_says_when_the_draft_routes_the_same(configured: None) -> None:
    comparison = simulate_compare(body(), bot_key="support-bot")
    assert comparison.same


def test_it_works_before_anything_is_published(db: Any) -> None:
    load(publish=False)
    published = simulate(body(), config=None, target=PUBLISHED, bot_key="support-bot")
    assert published.status_code == 503
    draft = simulate(
        body(), config=simulation_config(target=DRAFT), target=DRAFT, bot_key="support-bot"
    )
    assert draft.decision is not None and draft.decision.rule == "VIP billing"


def test_it_simulates_at_a_chosen_time(client: Client, configured: None, maker: User) -> None:
    payload = body(topic=None, variables={"account_id": "A-1", "after_hours": True})
    response = run_json(client, maker, payload)
    assert response.context["result"].decision.status == "rejected"
    response = run(client, maker, mode="json", body=json.dumps(payload), at="not a time")
    assert "at" in response.context["form_errors"]


def test_it_shows_which_agents_would_match_the_required_skills(client: Client, maker: User) -> None:
    from tests.conftest import make_user
    from tests.portal.publishing_helpers import document

    make_user("ann", "agent", presence="available")
    make_user("bob", "agent")
    doc = document()
    doc["skills"] = [{"key": "lang:ja", "name": "Japanese"}]
    doc["agents"] = [
        {"username": "ann", "skills": {"lang:ja": 4}},
        {"username": "bob", "skills": {"lang:ja": 1}},
    ]
    billing = doc["queues"][1]
    billing.update(
        skill_matching="exact",
        members=[{"username": "bob", "capacity": 2}, {"username": "ann", "capacity": 1}],
    )
    doc["rules"][0]["require_skills"] = {"lang:ja": 3}
    load(doc=doc, publish=False)
    result = simulate(
        body(), config=simulation_config(target=DRAFT), target=DRAFT, bot_key="support-bot"
    )
    assert result.skill_matching == "exact"
    assert [(a["username"], a["eligible"], a["presence"]) for a in result.agents] == [
        ("ann", True, "available"),
        ("bob", False, "offline"),
    ]
    assert result.agents[1]["shortfall"] == 2
    html = run_json(client, maker, body()).content.decode()
    assert "does not meet the required skills" in html and "Skill matching: exact." in html
