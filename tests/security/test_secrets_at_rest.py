"""A copy of the database holds no usable bot key or webhook secret."""

from io import StringIO
from typing import Any

from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from handoff.models import ApiKey, Bot, Queue, User
from tests.handoff.delivery_helpers import make_queue


def database_text() -> str:
    """Everything stored: dumpdata, every column of every table, and decoded sessions."""
    parts = []
    out = StringIO()
    call_command("dumpdata", stdout=out)
    parts.append(out.getvalue())
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for v in row:
                    raw = isinstance(v, bytes | memoryview)
                    parts.append(bytes(v).decode(errors="replace") if raw else str(v))
    # Session data is signed and maybe compressed, not encrypted: look inside too.
    parts.extend(str(s.get_decoded()) for s in Session.objects.all())
    return "\n".join(parts)


def test_it_stores_no_usable_key_or_secret(client: Any, admin_user: User) -> None:
    bot = Bot.objects.create(key="support-bot", name="Support bot")
    queue = make_queue("hooks", delivery_kind="webhook", webhook_url="https://hooks.example.com/")
    client.force_login(admin_user)
    # Through the portal, without ever loading the page that shows them once: the secrets
    # wait in the session.
    response = client.post(reverse("api_key_new", kwargs={"key": bot.key}), {"name": "prod"})
    assert response.status_code == 302
    response = client.post(reverse("queue_rotate_secret", kwargs={"key": queue.key}))
    assert response.status_code == 302
    queue.refresh_from_db()
    secret = queue.webhook_secret
    assert secret.startswith("whsec_")
    api_key = ApiKey.objects.get(bot=bot)
    dumped = database_text()
    assert api_key.prefix in dumped  # the dump works: the visible prefix is there
    assert secret not in dumped
    assert secret.removeprefix("whsec_") not in dumped
    # The key shown once (read back from the bot page, as the admin would).
    page = client.get(reverse("bot_detail", kwargs={"key": bot.key})).content.decode()
    start = page.index(api_key.prefix)
    plain = page[start : start + len(api_key.prefix) + 40].split("<")[0].split('"')[0].strip()
    assert len(plain) > len(api_key.prefix) + 20, plain
    assert plain not in database_text()


def test_it_shows_the_webhook_secret_only_once(client: Any, admin_user: User) -> None:
    queue = make_queue("hooks", delivery_kind="webhook", webhook_url="https://hooks.example.com/")
    client.force_login(admin_user)
    client.post(reverse("queue_rotate_secret", kwargs={"key": queue.key}))
    secret = Queue.objects.get(pk=queue.pk).webhook_secret
    detail = reverse("queue_detail", kwargs={"key": queue.key})
    assert secret in client.get(detail).content.decode()
    for url in (detail, reverse("queue_edit", kwargs={"key": queue.key})):
        assert secret not in client.get(url).content.decode(), url
    exported = client.get(reverse("config_export")).content.decode()
    assert secret not in exported


def test_it_loads_a_dump_back_with_the_same_key(db: Any) -> None:
    from django.core import serializers

    queue = make_queue("hooks", delivery_kind="webhook", webhook_url="https://hooks.example.com/")
    dumped = serializers.serialize("json", [queue])
    assert queue.webhook_secret not in dumped
    (loaded,) = serializers.deserialize("json", dumped)
    assert loaded.object.webhook_secret == queue.webhook_secret  # type: ignore[attr-defined]
