from typing import Any

import pytest
from django.urls import reverse

from handoff.models import User


@pytest.mark.parametrize(
    "person, landing",
    [
        ("admin_user", "config_overview"),
        ("maker", "maker_overview"),
        ("analyst", "analytics_index"),
        ("agent", "agent_workspace"),
    ],
)
def test_it_lands_each_role_on_its_page(
    client: Any, request: Any, person: str, landing: str
) -> None:
    client.force_login(request.getfixturevalue(person))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse(landing)
    assert client.get(response["Location"]).status_code == 200


def test_it_sends_anonymous_users_to_login(client: Any, db: Any) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_tells_a_user_without_a_role_so(client: Any, outsider: User) -> None:
    client.force_login(outsider)
    response = client.get("/")
    assert response.status_code == 403
    assert b"You have no role yet" in response.content
    assert b"Log out" in response.content


def test_it_lands_a_user_with_two_roles_on_the_first(client: Any, db: Any) -> None:
    from tests.conftest import make_user

    client.force_login(make_user("two-hats", "agent", "maker"))
    assert client.get("/")["Location"] == reverse("maker_overview")


def test_it_shows_an_agent_only_the_workspace(client: Any, agent: User) -> None:
    client.force_login(agent)
    html = client.get(reverse("agent_workspace")).content.decode()
    assert "Agent workspace" in html
    assert reverse("agent_workspace") in html
    for name in ("channel_list", "queue_list", "bot_list", "user_list", "topic_list"):
        assert f'href="{reverse(name)}"' not in html


def test_it_shows_a_maker_authoring_and_read_only_config(client: Any, maker: User) -> None:
    client.force_login(maker)
    html = client.get(reverse("maker_overview")).content.decode()
    for name in ("topic_list", "context_field_list", "rule_list", "channel_list", "queue_list"):
        assert f'href="{reverse(name)}"' in html
    for name in ("bot_list", "user_list", "agent_workspace"):
        assert f'href="{reverse(name)}"' not in html


def test_it_shows_an_admin_everything(client: Any, admin_user: User) -> None:
    client.force_login(admin_user)
    html = client.get(reverse("config_overview")).content.decode()
    for name in ("channel_list", "queue_list", "bot_list", "user_list", "topic_list"):
        assert f'href="{reverse(name)}"' in html
    assert 'aria-current="page"' in html


def test_it_hides_edit_buttons_from_readers(client: Any, analyst: User, db: Any) -> None:
    client.force_login(analyst)
    html = client.get(reverse("channel_list")).content.decode()
    assert reverse("channel_new") not in html
