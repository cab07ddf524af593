import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from handoff.config.document import export_document
from handoff.models import Bot, ConfigVersion, Conversation, Queue, User
from tests.handoff.config_helpers import snapshot
from tests.portal.conftest import login
from tests.portal.publishing_helpers import document, load

IMPORT = "/config/import/"
EXPORT = "/config/export/"
DOWNLOAD = "/config/export/download/"


@pytest.fixture
def configured(db: Any) -> None:
    load()


def test_it_sends_anonymous_users_to_login(client: Client) -> None:
    for url in (IMPORT, EXPORT, DOWNLOAD):
        assert client.get(url).status_code == 302


def test_it_lets_only_admins_import(
    client: Client, configured: None, maker: User, analyst: User, agent: User
) -> None:
    for user in (maker, analyst, agent):
        login(client, user)
        assert client.get(IMPORT).status_code == 403
        assert client.post(IMPORT, {"text": json.dumps(document())}).status_code == 403


def test_it_lets_admins_makers_and_analysts_export(
    client: Client, configured: None, admin_user: User, maker: User, analyst: User, agent: User
) -> None:
    for user in (admin_user, maker, analyst):
        login(client, user)
        assert client.get(EXPORT).status_code == 200
        assert client.get(DOWNLOAD).status_code == 200
    login(client, agent)
    assert client.get(EXPORT).status_code == 403
    assert client.get(DOWNLOAD).status_code == 403


def test_it_downloads_the_draft(client: Client, configured: None, maker: User) -> None:
    Queue.objects.filter(key="billing").update(name="Billing desk")
    login(client, maker)
    response = client.get(DOWNLOAD)
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="handoff-config-draft')
    assert json.loads(response.content) == export_document()


def test_it_downloads_a_chosen_version(client: Client, configured: None, analyst: User) -> None:
    Queue.objects.filter(key="billing").update(name="Billing desk")
    login(client, analyst)
    response = client.get(DOWNLOAD, {"version": 1})
    assert 'filename="handoff-config-v1.json"' in response["Content-Disposition"]
    doc = json.loads(response.content)
    assert doc == ConfigVersion.objects.get(number=1).document
    assert {q["name"] for q in doc["queues"]} >= {"Billing"}
    assert client.get(DOWNLOAD, {"version": 7}).status_code == 404


def test_it_imports_a_pasted_document(client: Client, configured: None, admin_user: User) -> None:
    doc = document()
    doc["queues"][1]["name"] = "Money"
    login(client, admin_user)
    response = client.post(IMPORT, {"text": json.dumps(doc)})
    assert response.status_code == 200
    assert "queue:billing" in response.context["result"].updated
    assert Queue.objects.get(key="billing").name == "Money"
    assert ConfigVersion.objects.count() == 1  # imported into the draft only


def test_it_imports_an_uploaded_file_and_publishes(
    client: Client, configured: None, admin_user: User
) -> None:
    doc = document()
    doc["queues"][1]["name"] = "Money"
    upload = SimpleUploadedFile("config.json", json.dumps(doc).encode(), "application/json")
    login(client, admin_user)
    response = client.post(IMPORT, {"file": upload, "publish": "on", "note": "from staging"})
    assert response.status_code == 302
    version = ConfigVersion.objects.order_by("-number").first()
    assert version is not None and version.number == 2 and version.note == "from staging"
    assert version.created_by == admin_user


def test_it_lists_errors_by_json_path_and_changes_nothing(
    client: Client, configured: None, admin_user: User
) -> None:
    doc = document()
    doc["queues"][2]["overflow"] = {"when_full": {"action": "transfer", "queue": "x"}}
    doc["rules"][0]["colour"] = "red"
    before = snapshot()
    login(client, admin_user)
    response = client.post(IMPORT, {"text": json.dumps(doc), "publish": "on"})
    assert response.status_code == 200
    paths = [e.path for e in response.context["errors"]]
    assert "queues[2].overflow.when_full.queue" in paths
    assert "rules[0].colour" in paths
    html = response.content.decode()
    assert "<code>queues[2].overflow.when_full.queue</code>" in html
    assert "Nothing was imported" in html
    assert snapshot() == before


def test_it_names_a_bot_with_conversations_it_cannot_remove(
    client: Client, configured: None, admin_user: User
) -> None:
    Conversation.objects.create(bot=Bot.objects.get(key="support-bot"), channel="webchat")
    doc = document()
    doc["bots"] = []
    doc["channels"] = doc["channels"][:1]
    before = snapshot()
    login(client, admin_user)
    response = client.post(IMPORT, {"text": json.dumps(doc)})
    assert response.status_code == 200
    assert [str(e) for e in response.context["errors"]] == [
        'bots: bot "support-bot" has conversations and cannot be removed; keep it in the document'
    ]
    assert snapshot() == before


def test_it_reports_a_document_that_is_not_json(
    client: Client, configured: None, admin_user: User
) -> None:
    before = snapshot()
    login(client, admin_user)
    response = client.post(IMPORT, {"text": "{nope"})
    assert response.context["errors"][0].path == "(document)"
    assert snapshot() == before


def test_it_asks_for_a_file_or_text(client: Client, configured: None, admin_user: User) -> None:
    login(client, admin_user)
    response = client.post(IMPORT, {"text": "  "})
    assert response.context["form"].errors
    assert "Choose a file or paste a document." in response.content.decode()


def test_it_round_trips_an_export(client: Client, configured: None, admin_user: User) -> None:
    login(client, admin_user)
    exported = client.get(DOWNLOAD).content
    before = snapshot()
    upload = SimpleUploadedFile("config.json", exported, "application/json")
    response = client.post(IMPORT, {"file": upload})
    assert response.status_code == 200 and not response.context["result"].changed
    assert snapshot()[0] == before[0]
