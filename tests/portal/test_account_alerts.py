"""My settings: an agent switches each offer alert; the workspace carries the choices."""

from typing import Any

from django.urls import reverse

from handoff.models import User
from tests.portal.conftest import login


def test_it_saves_each_offer_alert_on_the_user(client: Any, agent: User) -> None:
    login(client, agent)
    assert 'name="alerts-alert_sound"' in client.get(reverse("account_settings")).content.decode()

    response = client.post(
        reverse("account_settings"), {"language": "", "alerts-alert_title": "on"}, follow=True
    )

    assert response.status_code == 200
    agent.refresh_from_db()
    assert (agent.alert_title, agent.alert_sound, agent.alert_notification) == (True, False, False)
    page = client.get(reverse("agent_workspace")).content.decode()
    assert 'data-alert-title="1"' in page
    assert 'data-alert-sound="0"' in page and 'data-alert-notification="0"' in page


def test_it_offers_the_alerts_to_agents_and_admins_only(
    client: Any, maker: User, admin_user: User
) -> None:
    page = login(client, maker).get(reverse("account_settings")).content.decode()
    assert "alerts-alert_sound" not in page
    page = login(client, admin_user).get(reverse("account_settings")).content.decode()
    assert "alerts-alert_sound" in page


def test_it_turns_every_alert_on_for_a_new_user(agent: User) -> None:
    assert (agent.alert_title, agent.alert_sound, agent.alert_notification) == (True, True, True)
