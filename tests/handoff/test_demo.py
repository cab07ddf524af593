import hashlib
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from handoff.config.document import (
    export_document,
    has_unpublished_changes,
    import_document,
    latest_version,
)
from handoff.models import (
    ApiKey,
    Bot,
    Channel,
    ConfigVersion,
    ContextField,
    EscalationRule,
    Queue,
    QueueMembership,
    Topic,
    User,
)
from tests.handoff.config_helpers import row_counts

pytestmark = pytest.mark.django_db

DEMO_LOGINS = {
    "admin": "admin",
    "maker": "maker",
    "analyst": "analyst",
    "agent1": "agent",
    "agent2": "agent",
}


@pytest.fixture(autouse=True)
def allow_private(settings: Any) -> None:
    # `make run` sets HANDOFF_WEBHOOK_ALLOW_PRIVATE=1 for the demo's local webhook receiver.
    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = True


def load_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("load_demo", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def assert_is_a_key_of_the_demo_bot(key: str) -> None:
    stored = ApiKey.objects.get(hashed=hashlib.sha256(key.encode()).hexdigest())
    assert stored.bot.key == "retail-bot"
    assert stored.is_active


def test_it_loads_a_retail_desk(db: Any) -> None:
    load_demo()
    assert Channel.objects.count() >= 3
    queues = {q.key: q for q in Queue.objects.all()}
    assert len(queues) >= 4
    assert queues["general"].is_fallback
    assert any(q.distribution == "pick" for q in queues.values())
    webhook = [q for q in queues.values() if q.delivery_kind == "webhook"]
    assert [q.webhook_url for q in webhook] == ["http://127.0.0.1:8009/handoffs"]
    assert webhook[0].webhook_secret.startswith("whsec_")
    assert any(q.hours for q in queues.values())
    assert any(q.when_closed_action or q.when_full_action for q in queues.values())
    assert Topic.objects.filter(is_system=False).count() == 5
    assert set(Topic.objects.filter(is_system=True).values_list("key", flat=True)) == {
        "escalate",
        "fallback",
    }
    assert EscalationRule.objects.count() == 8
    assert ContextField.objects.count() == 10
    transforms = set(ContextField.objects.values_list("transform", flat=True))
    assert {"mask_keep_last4", "redact_email", "mask_all"} <= transforms
    assert list(Bot.objects.get().channels.order_by("key").values_list("key", flat=True)) == [
        "sms",
        "webchat",
        "whatsapp",
    ]


def test_it_publishes_the_demo(db: Any) -> None:
    out = load_demo()
    version = latest_version()
    assert version is not None
    assert version.number == 1
    assert version.document == export_document()
    assert "Published configuration version 1." in out


def test_it_creates_the_demo_logins(db: Any) -> None:
    out = load_demo()
    for username, role in DEMO_LOGINS.items():
        user = User.objects.get(username=username)
        assert user.is_active
        assert user.check_password(f"{username}-demo")
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert f"{username}-demo" in out
    assert "http://127.0.0.1:8000/" in out


def test_it_puts_the_agents_in_the_agent_queues(db: Any) -> None:
    load_demo()
    for name in ("agent1", "agent2"):
        queues = QueueMembership.objects.filter(user__username=name, capacity__gt=0)
        assert queues.filter(queue__delivery_kind="agents").count() >= 2
        assert User.objects.get(username=name).skills.exists()


def test_it_prints_a_working_bot_key_on_the_last_line(db: Any) -> None:
    key = load_demo().splitlines()[-1]
    assert_is_a_key_of_the_demo_bot(key)


def test_it_is_safe_to_run_twice(db: Any) -> None:
    first_key = load_demo().splitlines()[-1]
    ids = dict(Queue.objects.values_list("key", "id"))
    secret = Queue.objects.get(delivery_kind="webhook").webhook_secret
    counts = row_counts()
    out = load_demo()
    second_key = out.splitlines()[-1]
    assert second_key != first_key
    assert_is_a_key_of_the_demo_bot(first_key)
    assert_is_a_key_of_the_demo_bot(second_key)
    assert ConfigVersion.objects.count() == 1
    assert dict(Queue.objects.values_list("key", "id")) == ids
    assert Queue.objects.get(delivery_kind="webhook").webhook_secret == secret
    # Only the new key and its audit entry are new.
    after = row_counts()
    assert after["ApiKey"] == counts["ApiKey"] + 1
    assert {k: v for k, v in after.items() if k not in ("ApiKey", "AuditEntry")} == {
        k: v for k, v in counts.items() if k not in ("ApiKey", "AuditEntry")
    }
    assert User.objects.get(username="agent1").check_password("agent1-demo")


def test_it_keeps_a_configuration_someone_changed(db: Any) -> None:
    load_demo()
    doc = export_document()
    doc["queues"][0]["name"] = "Everything else"
    import_document(doc)
    out = load_demo()
    assert "kept it" in out
    assert Queue.objects.get(key=doc["queues"][0]["key"]).name == "Everything else"
    load_demo("--reset")
    assert Queue.objects.get(key=doc["queues"][0]["key"]).name != "Everything else"
    # The edit was never published: the reset draft is version 1 again, nothing to publish.
    assert ConfigVersion.objects.count() == 1
    assert not has_unpublished_changes()


def test_it_explains_the_webhook_setting_when_it_is_off(db: Any, settings: Any) -> None:
    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(CommandError, match="HANDOFF_WEBHOOK_ALLOW_PRIVATE=1"):
        load_demo()
    assert Queue.objects.count() == 0
    assert not User.objects.filter(username="admin").exists()
