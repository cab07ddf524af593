from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from handoff.config.document import audit
from handoff.models import AuditEntry, User
from tests.portal.conftest import login

URL = "/config/audit/"


@pytest.fixture
def entries(db: Any, maker: User, admin_user: User) -> None:
    audit(user=maker, action="create", object_type="rule", object_key="VIP")
    audit(user=maker, action="publish", object_type="config", object_key="1")
    audit(user=admin_user, action="update", object_type="queue", object_key="billing")
    old = audit(user=admin_user, action="delete", object_type="channel", object_key="fax")
    AuditEntry.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=10))


def keys(response: Any) -> list[str]:
    return [e.object_key for e in response.context["page"]]


def test_it_sends_anonymous_users_to_login(client: Client) -> None:
    assert client.get(URL).status_code == 302


def test_it_refuses_agents_and_outsiders(client: Client, agent: User, outsider: User) -> None:
    for user in (agent, outsider):
        login(client, user)
        assert client.get(URL).status_code == 403


def test_it_lists_every_change_with_who_and_when(
    client: Client, entries: None, analyst: User, maker: User
) -> None:
    login(client, analyst)
    response = client.get(URL)
    assert response.status_code == 200
    assert keys(response) == ["billing", "1", "VIP", "fax"]
    html = response.content.decode()
    assert maker.display_name in html and "<code>billing</code>" in html


def test_it_filters_by_user_action_type_and_date(
    client: Client, entries: None, admin_user: User, maker: User
) -> None:
    login(client, admin_user)
    assert keys(client.get(URL, {"user": maker.pk})) == ["1", "VIP"]
    assert keys(client.get(URL, {"action": "publish"})) == ["1"]
    assert keys(client.get(URL, {"object_type": "queue"})) == ["billing"]
    today = timezone.localdate().isoformat()
    assert keys(client.get(URL, {"since": today})) == ["billing", "1", "VIP"]
    old = (timezone.localdate() - timedelta(days=5)).isoformat()
    assert keys(client.get(URL, {"until": old})) == ["fax"]
    assert keys(client.get(URL, {"user": str(admin_user.pk), "action": "delete"})) == ["fax"]


def test_it_paginates(client: Client, db: Any, admin_user: User) -> None:
    AuditEntry.objects.bulk_create(
        AuditEntry(user=admin_user, action="update", object_type="queue", object_key=f"q{n}")
        for n in range(120)
    )
    login(client, admin_user)
    first = client.get(URL)
    assert len(first.context["page"]) == 50 and first.context["page"].has_next()
    third = client.get(URL, {"action": "update", "page": "3"})
    assert len(third.context["page"]) == 20
    assert "action=update&amp;page=2" in third.content.decode()


def test_it_keeps_queries_constant(client: Client, db: Any, admin_user: User, maker: User) -> None:
    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL).status_code == 200
        return len(captured)

    login(client, admin_user)
    audit(user=maker, action="create", object_type="rule", object_key="x")
    small = count()
    users = [User.objects.create(username=f"u{n}") for n in range(20)]
    AuditEntry.objects.bulk_create(
        AuditEntry(user=users[n % 20], action=f"a{n % 7}", object_type="queue", object_key=str(n))
        for n in range(500)
    )
    assert count() == small
