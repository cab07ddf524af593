from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from handoff.config.document import config_publish, export_document, latest_version
from handoff.crypto import new_api_key
from handoff.models import (
    ApiKey,
    AuditEntry,
    Bot,
    ConfigVersion,
    Conversation,
    EscalationRule,
    Queue,
    User,
)
from tests.portal.conftest import login
from tests.portal.publishing_helpers import load

PUBLISH = "/config/publish/"
VERSIONS = "/config/versions/"
DIFF = "/config/versions/diff/"
ROLLBACK = "/config/versions/rollback/"


@pytest.fixture
def configured(db: Any) -> None:
    load()


def test_it_sends_anonymous_users_to_login(client: Client) -> None:
    for url in (PUBLISH, VERSIONS, DIFF, ROLLBACK):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_lets_only_makers_and_admins_publish_and_roll_back(
    client: Client, configured: None, analyst: User, agent: User, outsider: User
) -> None:
    for user in (analyst, agent, outsider):
        login(client, user)
        assert client.get(PUBLISH).status_code == 403
        assert client.post(PUBLISH, {"note": "x"}).status_code == 403
        assert client.post(ROLLBACK, {"number": 1}).status_code == 403
    assert ConfigVersion.objects.count() == 1


def test_it_lets_analysts_read_versions_but_not_agents(
    client: Client, configured: None, analyst: User, agent: User
) -> None:
    login(client, analyst)
    assert client.get(VERSIONS).status_code == 200
    assert client.get(DIFF).status_code == 200
    login(client, agent)
    assert client.get(VERSIONS).status_code == 403
    assert client.get(DIFF).status_code == 403


def test_it_says_whether_the_draft_has_unpublished_changes(
    client: Client, configured: None, maker: User
) -> None:
    login(client, maker)
    response = client.get(PUBLISH)
    assert response.context["changed"] is False
    assert "The draft is the same as the live version." in response.content.decode()
    Queue.objects.filter(key="billing").update(name="Billing desk")
    response = client.get(PUBLISH)
    assert response.context["changed"] is True
    html = response.content.decode()
    assert "The draft has unpublished changes." in html
    assert "Billing desk" in html  # the diff of what publishing changes


def test_it_publishes_with_a_note(client: Client, configured: None, maker: User) -> None:
    Queue.objects.filter(key="billing").update(name="Billing desk")
    login(client, maker)
    response = client.post(PUBLISH, {"note": "Renamed billing"})
    assert response.status_code == 302 and response["Location"] == VERSIONS
    version = latest_version()
    assert version is not None and version.number == 2
    assert version.note == "Renamed billing" and version.created_by == maker
    assert version.document == export_document()
    page = client.get(VERSIONS).content.decode()
    assert "Renamed billing" in page and maker.display_name in page


def test_it_lists_every_problem_with_a_link_to_fix_it(
    client: Client, configured: None, maker: User
) -> None:
    # Two problems: a rule with an unknown condition field, and no fallback queue.
    rule = EscalationRule.objects.get(name="After hours")
    rule.conditions = {"all": [{"field": "nonsense", "op": "eq", "value": 1}]}
    rule.save()
    Queue.objects.filter(key="general").update(is_fallback=False)
    login(client, maker)
    response = client.post(PUBLISH, {"note": "broken"})
    assert response.status_code == 200
    assert ConfigVersion.objects.count() == 1
    problems = response.context["problems"]
    paths = [p["path"] for p in problems]
    assert "queues" in paths
    rule_problem = next(p for p in problems if p["path"].startswith("rules[1]"))
    assert rule_problem["object"] == "After hours"
    assert rule_problem["url"] == reverse("rule_list") or "rule" in rule_problem["url"]
    fallback_problem = next(p for p in problems if p["path"] == "queues")
    assert fallback_problem["url"] == reverse("queue_list")
    html = response.content.decode()
    assert "Nothing was published" in html
    assert f'href="{rule_problem["url"]}"' in html


def test_it_links_queue_problems_to_the_queue(
    client: Client, configured: None, admin_user: User, maker: User
) -> None:
    Queue.objects.filter(key="billing").update(hours={"timezone": "Mars/Olympus", "weekly": {}})
    login(client, admin_user)
    problems = client.post(PUBLISH, {"note": ""}).context["problems"]
    problem = next(p for p in problems if p["path"].startswith("queues[0]"))
    assert problem["url"] == reverse("queue_detail", kwargs={"key": "billing"})


def test_it_links_channel_problems_by_role(
    client: Client, configured: None, admin_user: User, maker: User
) -> None:
    from handoff.models import Channel

    Channel.objects.filter(key="teams").update(name=" ")
    login(client, admin_user)
    problem = client.post(PUBLISH).context["problems"][0]
    assert problem["path"].startswith("channels[1]")
    assert problem["url"] == reverse("channel_edit", kwargs={"key": "teams"})
    login(client, maker)  # makers may not open the edit page: they get the list
    problem = client.post(PUBLISH).context["problems"][0]
    assert problem["url"] == reverse("channel_list")


def test_it_lists_versions_with_who_when_note_and_rollback(
    client: Client, configured: None, maker: User
) -> None:
    EscalationRule.objects.filter(name="VIP billing").update(priority=7)
    config_publish(user=maker, note="second")
    login(client, maker)
    client.post(ROLLBACK, {"number": 1})
    page = client.get(VERSIONS)
    versions = list(page.context["page"])
    assert [v.number for v in versions] == [3, 2, 1]
    assert versions[0].rolled_back_from == 1
    html = page.content.decode()
    assert "second" in html and "Rollback to version 1" in html


def test_it_shows_a_readable_diff_between_two_versions(
    client: Client, configured: None, maker: User
) -> None:
    Queue.objects.filter(key="billing").update(max_waiting=80)
    EscalationRule.objects.filter(name="After hours").delete()
    config_publish(user=maker, note="two")
    login(client, maker)
    response = client.get(DIFF, {"a": 1, "b": 2})
    diff = {s.section: s for s in response.context["diff"]}
    assert set(diff) == {"queues", "rules"}
    billing = diff["queues"].items[0]
    assert (billing.key, billing.kind) == ("billing", "changed")
    assert [(f.path, f.old, f.new) for f in billing.fields] == [("max_waiting", None, 80)]
    assert (diff["rules"].items[0].key, diff["rules"].items[0].kind) == ("After hours", "removed")
    html = response.content.decode()
    assert "<code>max_waiting</code>" in html and "<code>80</code>" in html
    # Defaults to the last change published.
    assert client.get(DIFF).context["diff"] == response.context["diff"]


def test_it_compares_a_version_with_the_draft(
    client: Client, configured: None, analyst: User
) -> None:
    Queue.objects.filter(key="general").update(name="Front desk")
    login(client, analyst)
    response = client.get(DIFF, {"a": "1", "b": "draft"})
    change = response.context["diff"][0].items[0]
    assert change.fields[0].path == "name" and change.fields[0].new == "Front desk"
    assert client.get(DIFF, {"a": 9, "b": 1}).status_code == 404


def test_it_confirms_before_rolling_back(client: Client, configured: None, maker: User) -> None:
    EscalationRule.objects.filter(name="VIP billing").update(priority=7)
    config_publish(user=maker, note="second")
    login(client, maker)
    response = client.get(ROLLBACK, {"number": 1})
    assert response.status_code == 200
    assert "Roll back to version 1" in response.content.decode()
    assert ConfigVersion.objects.count() == 2  # a GET changes nothing


def test_it_rolls_back_by_publishing_a_new_version_equal_to_the_old(
    client: Client, configured: None, admin_user: User
) -> None:
    Queue.objects.filter(key="billing").update(priority=11)
    config_publish(user=admin_user, note="second")
    login(client, admin_user)
    response = client.post(ROLLBACK, {"number": 1})
    assert response.status_code == 302
    new = latest_version()
    assert new is not None and new.number == 3 and new.rolled_back_from == 1
    assert new.document == ConfigVersion.objects.get(number=1).document
    assert Queue.objects.get(key="billing").priority == 10  # the draft is the old one again
    assert AuditEntry.objects.filter(action="rollback", user=admin_user).exists()


def test_it_lets_a_maker_roll_back_rules(client: Client, configured: None, maker: User) -> None:
    EscalationRule.objects.filter(name="VIP billing").update(priority=7)
    config_publish(user=maker, note="second")
    login(client, maker)
    assert client.post(ROLLBACK, {"number": 1}).status_code == 302
    assert EscalationRule.objects.get(name="VIP billing").priority == 1


def add_bot_with_key() -> None:
    """What an admin did after version 1: a bot with a live key, a queue's new priority."""
    bot = Bot.objects.create(key="shop-bot", name="Shop bot")
    _plain, prefix, hashed = new_api_key()
    ApiKey.objects.create(bot=bot, prefix=prefix, hashed=hashed, name="live")
    Queue.objects.filter(key="billing").update(priority=11)
    config_publish(note="second")


def test_it_tells_a_maker_what_only_an_admin_may_roll_back(
    client: Client, configured: None, maker: User
) -> None:
    add_bot_with_key()
    login(client, maker)
    page = client.get(ROLLBACK, {"number": 1})
    html = page.content.decode()
    assert page.context["admin_only"] == [
        "Queue “billing” would change: priority",
        "Bot “shop-bot” would be removed, with its API keys",
    ]
    assert "Only an admin may roll back to version 1" in html
    assert "Roll back to version 1" not in html  # no button to press
    response = client.post(ROLLBACK, {"number": 1})
    assert response.status_code == 403
    assert "Bot “shop-bot” would be removed, with its API keys" in response.content.decode()
    assert ApiKey.objects.filter(bot__key="shop-bot").exists()
    assert ConfigVersion.objects.count() == 2


def test_it_lets_an_admin_roll_back_bots_and_queues(
    client: Client, configured: None, admin_user: User
) -> None:
    add_bot_with_key()
    login(client, admin_user)
    assert client.get(ROLLBACK, {"number": 1}).context["admin_only"] == []
    assert client.post(ROLLBACK, {"number": 1}).status_code == 302
    assert not Bot.objects.filter(key="shop-bot").exists()
    assert Queue.objects.get(key="billing").priority == 10


def test_it_names_a_bot_with_conversations_it_cannot_remove(
    client: Client, configured: None, admin_user: User
) -> None:
    add_bot_with_key()
    Conversation.objects.create(bot=Bot.objects.get(key="shop-bot"), channel="webchat")
    login(client, admin_user)
    response = client.post(ROLLBACK, {"number": 1})
    assert response.status_code == 200
    assert response.context["problems"][0]["message"] == (
        'bot "shop-bot" has conversations and cannot be removed; keep it in the document'
    )
    assert Bot.objects.filter(key="shop-bot").exists()
    assert ConfigVersion.objects.count() == 2


def test_it_answers_404_for_an_unknown_version(
    client: Client, configured: None, maker: User
) -> None:
    login(client, maker)
    assert client.post(ROLLBACK, {"number": 42}).status_code == 404
    assert client.get(ROLLBACK, {"number": 42}).status_code == 404


def test_it_keeps_the_version_list_queries_constant(
    client: Client, configured: None, maker: User, django_assert_max_num_queries: Any
) -> None:
    login(client, maker)
    client.get(VERSIONS)
    version = ConfigVersion.objects.get()
    ConfigVersion.objects.bulk_create(
        ConfigVersion(number=n, document=version.document, created_by=maker, note=f"n{n}")
        for n in range(2, 80)
    )
    with django_assert_max_num_queries(10):
        response = client.get(VERSIONS)
    assert len(response.context["page"]) == 50


def test_it_flags_unpublished_changes_to_those_who_can_publish(
    client: Client, configured: None, maker: User, analyst: User
) -> None:
    from handoff.config.document import audit

    login(client, maker)
    assert client.get(VERSIONS).context["unpublished_changes"] is False
    audit(user=maker, action="create", object_type="api_key", object_key="support-bot")
    assert client.get(VERSIONS).context["unpublished_changes"] is False  # not in the document
    EscalationRule.objects.filter(name="VIP billing").update(priority=7)
    audit(user=maker, action="update", object_type="rule", object_key="VIP billing")
    response = client.get(VERSIONS)
    assert response.context["unpublished_changes"] is True
    assert "Unpublished changes" in response.content.decode()
    login(client, analyst)
    assert client.get(VERSIONS).context["unpublished_changes"] is False
    login(client, maker)
    client.post(PUBLISH, {"note": "p"})
    assert client.get(VERSIONS).context["unpublished_changes"] is False
    client.post(ROLLBACK, {"number": 1})
    assert client.get(VERSIONS).context["unpublished_changes"] is False
