import uuid

from handoff.models import Handoff
from tests.api.test_handoff_create import URL, body


def test_it_shows_the_handoff_with_its_events(bot_client):
    created = bot_client.post(URL, body()).json()
    r = bot_client.get(created["status_url"])
    assert r.status_code == 200
    data = r.json()
    assert data["id"] == created["id"]
    assert data["conversation_id"] == "conv-1"
    assert data["status"] == "queued"
    assert data["queue"] == {"key": "billing", "name": "Billing"}
    assert data["rule"] == "Billing"
    assert data["position"] == 1
    assert data["agent"] is None
    assert [e["type"] for e in data["events"]] == ["received", "queued"]
    assert {"created_at", "updated_at", "estimated_wait_seconds"} <= set(data)


def test_a_bot_sees_only_its_own_handoffs(bot_client, other_bot_client):
    created = bot_client.post(URL, body()).json()
    assert other_bot_client.get(created["status_url"]).status_code == 404
    assert other_bot_client.post(created["status_url"] + "/cancel").status_code == 404
    assert bot_client.get(f"/api/v1/handoffs/{uuid.uuid4()}").status_code == 404


def test_it_cancels_an_open_handoff_once(bot_client):
    created = bot_client.post(URL, body()).json()
    r = bot_client.post(created["status_url"] + "/cancel")
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert Handoff.objects.get(pk=created["id"]).closed_at is not None
    again = bot_client.post(created["status_url"] + "/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "terminal"


def test_it_allows_a_new_handoff_after_the_old_one_is_cancelled(bot_client):
    first = bot_client.post(URL, body()).json()
    bot_client.post(first["status_url"] + "/cancel")
    second = bot_client.post(URL, body())
    assert second.status_code == 202
    assert second.json()["id"] != first["id"]


def test_the_schema_and_docs_are_public(client):
    schema = client.get("/api/v1/schema")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in [
        "/api/v1/handoffs",
        "/api/v1/handoffs/{handoff_id}",
        "/api/v1/handoffs/{handoff_id}/cancel",
        "/api/v1/handoffs/bot-framework",
    ]:
        assert path in text
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
