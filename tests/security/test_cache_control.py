"""Pages with customer data or secrets are never kept by a browser or proxy (docs/security.md)."""

from typing import Any

import pytest
from django.urls import reverse

from handoff.models import ConfigVersion

# URL name, URL arguments (from the permission sweep's objects), the role that opens it.
NO_STORE = [
    ("agent_workspace", {}, "agent"),
    ("agent_handoff", {"pk": "handoff"}, "agent"),
    ("supervisor_board", {}, "admin"),
    ("failure_list", {}, "analyst"),
    ("analytics_export", {}, "analyst"),
    ("config_export_download", {}, "maker"),
    ("bot_detail", {"key": "bot"}, "admin"),
    ("queue_detail", {"key": "queue"}, "admin"),
    ("webchat", {}, None),
    ("webchat_status", {}, None),
]


def no_store(response: Any) -> bool:
    return "no-store" in response.get("Cache-Control", "").split(", ")


@pytest.mark.parametrize(("name", "args", "role"), NO_STORE)
def test_it_sends_no_store_for_pages_with_customer_data_or_secrets(
    client: Any, objects: dict, people: dict, name: str, args: dict, role: str | None
) -> None:
    kwargs = {k: getattr(objects[v], "pk" if k == "pk" else "key") for k, v in args.items()}
    if role:
        client.force_login(people[role])
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200
    assert no_store(response), response.get("Cache-Control")


def test_it_sends_no_store_with_a_chosen_version_and_the_csv_download(
    client: Any, objects: dict, people: dict
) -> None:
    ConfigVersion.objects.create(number=1, document={})
    client.force_login(people["analyst"])
    response = client.get(reverse("config_export_download"), {"version": 1})
    assert no_store(response)
    response = client.get(reverse("analytics_export"), {"from": "2026-01-01", "to": "2026-01-02"})
    assert response["Content-Type"].startswith("text/csv") and no_store(response)


def test_it_keeps_no_history_of_pages_in_the_browsers_storage(
    client: Any, objects: dict, people: dict
) -> None:
    # htmx (hx-boost) would keep the HTML of the last pages in sessionStorage for "back".
    client.force_login(people["agent"])
    html = client.get(reverse("agent_handoff", kwargs={"pk": objects["handoff"].pk})).content
    assert b'"historyCacheSize": 0' in html
