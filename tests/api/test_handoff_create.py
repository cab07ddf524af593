import json
import os
import threading
import time

import pytest
from django.db import connection

from handoff.models import ApiKey, Handoff, HandoffEvent, IdempotencyKey
from tests.api.conftest import DOCUMENT, BotClient, make_key, publish

URL = "/api/v1/handoffs"


def body(**extra):
    return {
        "conversation_id": "conv-1",
        "channel": "webchat",
        "topic": "billing",
        "locale": "en-US",
        "reason": "requested_by_customer",
        "customer": {"name": "Kim", "email": "kim@example.com"},
        "variables": {"order_number": "  A-1234 ", "card": "4111111111111111"},
        "transcript": [
            {"from": "customer", "text": "my card 4111111111111111 was charged twice"},
            {"from": "bot", "text": "Let me get you a person.", "at": "2026-11-25T10:00:00Z"},
        ],
        "agent_message": "Customer is upset.",
        **extra,
    }


def test_it_queues_a_handoff_by_the_matching_rule(bot_client):
    r = bot_client.post(URL, body())
    assert r.status_code == 202, r.json()
    data = r.json()
    assert data["status"] == "queued"
    assert data["queue"] == {"key": "billing", "name": "Billing"}
    assert data["rule"] == "Billing"
    assert data["position"] == 1
    assert data["estimated_wait_seconds"] is None
    assert data["message"] is None
    assert data["status_url"] == f"/api/v1/handoffs/{data['id']}"
    handoff = Handoff.objects.get(pk=data["id"])
    assert handoff.context["OrderNumber"] == "A-1234"
    assert handoff.agent_message == "Order A-1234\n\nCustomer is upset."
    assert handoff.config_version is not None
    assert handoff.config_version.number == 1
    assert list(handoff.events.values_list("type", flat=True)) == ["received", "queued"]


def test_it_never_stores_a_masked_value_in_clear(bot_client):
    r = bot_client.post(URL, body())
    handoff = Handoff.objects.get(pk=r.json()["id"])
    stored = json.dumps([handoff.context, handoff.variables, handoff.transcript, handoff.customer])
    assert "4111111111111111" not in stored
    assert handoff.context["Card"].endswith("1111")


def test_it_goes_to_the_fallback_queue_when_no_rule_matches(bot_client):
    r = bot_client.post(URL, body(topic=None))
    assert r.status_code == 202
    assert r.json()["queue"]["key"] == "general"
    assert r.json()["rule"] is None


def test_it_rejects_with_the_message_when_the_queue_is_closed(bot_client):
    r = bot_client.post(URL, body(topic="after-hours"))
    assert r.status_code == 202
    data = r.json()
    assert data["status"] == "rejected"
    assert data["message"] == "We are closed."
    assert data["position"] is None


def test_it_counts_positions_in_priority_then_arrival_order(bot_client):
    first = bot_client.post(URL, body(conversation_id="a")).json()
    second = bot_client.post(URL, body(conversation_id="b")).json()
    assert (first["position"], second["position"]) == (1, 2)


def test_it_returns_the_open_handoff_for_the_same_conversation(bot_client):
    first = bot_client.post(URL, body())
    again = bot_client.post(URL, body(topic=None))
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Handoff.objects.count() == 1


def test_it_names_every_bad_field(bot_client):
    r = bot_client.post(
        URL,
        {
            "channel": 5,
            "locale": "not a locale!",
            "customer": {"name": "x", "shoe": 1},
            "variables": {"a": {"nested": True}},
            "transcript": [{"from": "robot", "text": "hi"}],
            "surprise": 1,
        },
    )
    assert r.status_code == 400
    fields = r.json()["error"]["fields"]
    assert "surprise" in fields
    r = bot_client.post(
        URL,
        {
            "channel": "webchat",
            "locale": "not a locale!",
            "customer": {"name": "x", "shoe": 1},
            "variables": {"a": {"nested": True}},
            "transcript": [{"from": "robot", "text": "hi"}],
        },
    )
    fields = r.json()["error"]["fields"]
    assert set(fields) >= {
        "conversation_id",
        "locale",
        "customer.shoe",
        "variables.a",
        "transcript[0].from",
    }
    assert r.json()["error"]["code"] == "invalid"
    assert Handoff.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [({"channel": "pigeon"}, "channel"), ({"topic": "no-such-topic"}, "topic")],
)
def test_it_refuses_unknown_keys_with_400(bot_client, change, field):
    r = bot_client.post(URL, body(**change))
    assert r.status_code == 400
    assert field in r.json()["error"]["fields"]


@pytest.mark.parametrize("channel", ["sms", "teams"])
def test_it_forbids_disabled_and_not_allowed_channels(bot_client, channel):
    r = bot_client.post(URL, body(channel=channel))
    assert r.status_code == 403
    assert r.json()["error"]["code"] in ("channel_disabled", "channel_not_allowed")


def test_it_needs_a_valid_key(bot_client):
    anonymous = bot_client.client.post(
        URL, data=json.dumps(body()), content_type="application/json"
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    wrong = BotClient(bot_client.bot, "hp_" + "x" * 43).post(URL, body())
    assert wrong.status_code == 401
    ApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert bot_client.post(URL, body()).status_code == 401


def test_it_records_when_a_key_was_last_used(bot_client):
    bot_client.post(URL, body())
    assert ApiKey.objects.get().last_used_at is not None


def test_it_refuses_bodies_over_one_mebibyte(bot_client):
    huge = json.dumps(body(agent_message="x" * (1024 * 1024)))
    r = bot_client.post(URL, huge)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"


def test_it_refuses_what_is_not_json(bot_client):
    r = bot_client.client.post(
        URL,
        data="a=1",
        content_type="application/x-www-form-urlencoded",
        headers=bot_client.headers(),
    )
    assert r.status_code == 415
    broken = bot_client.post(URL, "{not json")
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_json"


def test_it_answers_422_when_a_required_context_field_is_missing(bot_client, document):
    document["context_fields"][0]["required"] = True
    publish(document)
    variables = {"card": "4111111111111111"}
    r = bot_client.post(URL, body(variables=variables))
    assert r.status_code == 422
    assert "context.OrderNumber" in r.json()["error"]["fields"]
    assert Handoff.objects.count() == 0


REDIS_URL = os.environ.get("CELERY_BROKER_URL", "")


@pytest.mark.parametrize("backend", ["locmem", "redis"])
def test_it_throttles_per_key_with_retry_after(bot_client, settings, backend):
    if backend == "redis":
        if not REDIS_URL.startswith("redis://"):
            pytest.skip("needs Redis: set CELERY_BROKER_URL=redis://... (CI does)")
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                # Keys of their own (clear() would empty the whole Redis database).
                "KEY_PREFIX": f"throttle-test-{os.getpid()}-{time.time()}",
            }
        }
    # A day's window: a window's edge falls between these requests once in many lifetimes.
    settings.HANDOFF_API_RATE = "2/day"
    codes = [bot_client.post(URL, body(conversation_id=f"c{i}")).status_code for i in range(3)]
    assert codes[:2] == [202, 202]
    assert codes[2] == 429
    r = bot_client.post(URL, body(conversation_id="c9"))
    assert int(r["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "throttled"
    other = BotClient(bot_client.bot, make_key(bot_client.bot))
    assert other.post(URL, body(conversation_id="c10")).status_code == 202


def test_it_answers_503_before_any_configuration_is_published(db):
    from handoff.models import Bot

    bot = Bot.objects.create(key="b", name="B")
    r = BotClient(bot, make_key(bot)).post(URL, body())
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "not_configured"


class TestIdempotency:
    def test_it_replays_the_first_response_for_the_same_body(self, bot_client):
        first = bot_client.post(URL, body(), headers={"Idempotency-Key": "k1"})
        reordered = json.dumps(dict(reversed(list(body().items()))), indent=4)
        again = bot_client.post(URL, reordered, headers={"Idempotency-Key": "k1"})
        assert again.status_code == first.status_code == 202
        assert again.json() == first.json()
        assert Handoff.objects.count() == 1

    def test_it_replays_errors_too(self, bot_client):
        first = bot_client.post(URL, body(channel="pigeon"), headers={"Idempotency-Key": "k"})
        again = bot_client.post(URL, body(channel="pigeon"), headers={"Idempotency-Key": "k"})
        assert first.status_code == again.status_code == 400
        assert first.json() == again.json()

    def test_it_does_not_remember_an_invalid_body(self, bot_client):
        r = bot_client.post(URL, body(channel=None), headers={"Idempotency-Key": "k"})
        assert r.status_code == 400
        assert not IdempotencyKey.objects.exists()

    def test_it_refuses_a_key_reused_with_another_body(self, bot_client):
        bot_client.post(URL, body(), headers={"Idempotency-Key": "k1"})
        r = bot_client.post(URL, body(reason="other"), headers={"Idempotency-Key": "k1"})
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "idempotency_key_reused"

    def test_it_answers_409_while_the_first_request_is_processing(self, bot_client):
        from handoff.services.idempotency import request_hash

        IdempotencyKey.objects.create(
            bot=bot_client.bot, key="k1", request_hash=request_hash(body())
        )
        r = bot_client.post(URL, body(), headers={"Idempotency-Key": "k1"})
        assert r.status_code == 409

    def test_it_keeps_keys_apart_per_bot(self, bot_client, other_bot_client):
        a = bot_client.post(URL, body(), headers={"Idempotency-Key": "same"})
        b = other_bot_client.post(URL, body(), headers={"Idempotency-Key": "same"})
        assert a.status_code == b.status_code == 202
        assert a.json()["id"] != b.json()["id"]

    def test_it_refuses_an_overlong_key(self, bot_client):
        r = bot_client.post(URL, body(), headers={"Idempotency-Key": "k" * 256})
        assert r.status_code == 400
        assert "Idempotency-Key" in r.json()["error"]["fields"]

    def test_it_forgets_keys_after_24_hours(self, bot_client):
        from datetime import timedelta

        from django.utils import timezone

        from handoff.services.idempotency import idempotency_keys_expire

        bot_client.post(URL, body(), headers={"Idempotency-Key": "old"})
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
        assert idempotency_keys_expire() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_makes_one_handoff_from_50_concurrent_requests_with_one_key(published):
    from handoff.models import Bot

    bot = Bot.objects.get(key="support-bot")
    key = make_key(bot)
    barrier = threading.Barrier(50)
    codes: list[int] = []

    def call() -> None:
        client = BotClient(bot, key)
        barrier.wait()
        try:
            codes.append(client.post(URL, body(), headers={"Idempotency-Key": "one"}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Handoff.objects.count() == 1
    assert codes.count(202) >= 1
    assert set(codes) <= {202, 409}


@pytest.mark.django_db(transaction=True)
def test_it_makes_one_handoff_from_concurrent_requests_for_one_conversation(published):
    from handoff.models import Bot

    bot = Bot.objects.get(key="support-bot")
    key = make_key(bot)
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def call() -> None:
        barrier.wait()
        try:
            codes.append(BotClient(bot, key).post(URL, body()).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Handoff.objects.count() == 1
    assert sorted(codes) == [200] * 7 + [202]


def _query_count(bot_client, django_assert_num_queries, conversation):
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(conn) as ctx:
        r = bot_client.post(URL, body(conversation_id=conversation))
    assert r.status_code == 202, r.json()
    return len(ctx.captured_queries)


def test_its_query_count_does_not_grow_with_rules_or_fields(
    bot_client, document, django_assert_num_queries
):
    bot_client.post(URL, body(conversation_id="warm-up"))
    small = _query_count(bot_client, django_assert_num_queries, "small")
    big = json.loads(json.dumps(document))
    big["rules"] = [
        {
            **document["rules"][0],
            "name": f"Rule {i}",
            "order": i,
            "conditions": {"all": [{"field": "variables.n", "op": "eq", "value": i}]},
        }
        for i in range(500)
    ] + [{**r, "order": 1000 + r["order"]} for r in document["rules"]]
    big["context_fields"] = document["context_fields"] + [
        {**document["context_fields"][0], "source": f"v{i}", "target": f"V{i}"} for i in range(198)
    ]
    publish(big)
    bot_client.post(URL, body(conversation_id="warm-up-2"))
    large = _query_count(bot_client, django_assert_num_queries, "large")
    assert small == large
    # Inside the test's transaction: the key, the queue states, and a savepoint around the
    # queue's id and the two inserts (outside one, PostgreSQL stores it in one statement).
    assert large <= 7


def test_it_stores_events_in_the_same_transaction(bot_client):
    r = bot_client.post(URL, body())
    assert HandoffEvent.objects.filter(handoff_id=r.json()["id"]).count() == 2


def test_document_fixture_is_canonical():
    assert DOCUMENT["format"] == "handoff-portal/config"


def test_it_stores_a_bounded_explanation_with_many_rules(bot_client, document):
    document["rules"] = [
        {
            **document["rules"][0],
            "name": f"Rule {i}",
            "order": i,
            "conditions": {"all": [{"field": "variables.n", "op": "eq", "value": i}]},
        }
        for i in range(100)
    ]
    publish(document)
    r = bot_client.post(URL, body())
    stored = Handoff.objects.get(pk=r.json()["id"]).decision["explanation"]
    assert sum(1 for e in stored if e["step"] == "rule") == 20
    assert [e["count"] for e in stored if e["step"] == "rules_not_stored"] == [80]


def test_it_estimates_the_wait_from_the_last_hours_pace(bot_client):
    from django.utils import timezone

    from handoff.selectors import handoffs as selectors

    now = timezone.now()
    for i in range(6):
        Handoff.objects.create(
            bot=bot_client.bot,
            conversation_id=f"old-{i}",
            channel="webchat",
            status="resolved",
            queue_key="billing",
            queued_at=now,
            assigned_at=now,
            closed_at=now,
        )
    selectors._served.clear()
    r = bot_client.post(URL, body())
    # Six served in the last hour: one every 600 s; first in line waits one of those.
    assert r.json()["estimated_wait_seconds"] == 600
    selectors._served.clear()


def test_it_places_a_higher_priority_handoff_ahead(bot_client, document):
    bot_client.post(URL, body(conversation_id="low-1", topic=None))  # general, priority 100
    bot_client.post(URL, body(conversation_id="low-2", topic=None))
    document["rules"].append(
        {
            "name": "Urgent",
            "order": 0,
            "enabled": True,
            "conditions": {"all": [{"field": "reason", "op": "eq", "value": "urgent"}]},
            "queue": "general",
            "priority": 1,
            "require_skills": {},
            "agent_message": "",
        }
    )
    publish(document)
    urgent = bot_client.post(URL, body(conversation_id="urgent", topic=None, reason="urgent"))
    assert urgent.json()["position"] == 1
    later = bot_client.post(URL, body(conversation_id="low-3", topic=None))
    assert later.json()["position"] == 4
    assert bot_client.get(urgent.json()["status_url"]).json()["position"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_new_handoff_costs_at_most_four_round_trips(published):
    from django.test.utils import CaptureQueriesContext

    from handoff.models import Bot, Queue

    bot = Bot.objects.get(key="support-bot")
    client = BotClient(bot, make_key(bot))
    # The first request of a process reads the configuration and records the key's use.
    assert client.post(URL, body(conversation_id="warm-up")).status_code == 202
    with CaptureQueriesContext(connection) as ctx:
        r = client.post(URL, body(conversation_id="counted"))
    assert r.status_code == 202, r.json()
    # The key with the published version, the queue states, the handoff with its events.
    assert len(ctx.captured_queries) <= 4, [q["sql"][:80] for q in ctx.captured_queries]
    handoff = Handoff.objects.get(pk=r.json()["id"])
    assert handoff.queue_id == Queue.objects.get(key="billing").pk
    assert handoff.context["OrderNumber"] == "A-1234"
    assert handoff.customer == {"name": "Kim", "email": "kim@example.com"}
    assert [line["from"] for line in handoff.transcript] == ["customer", "bot"]
    assert handoff.decision["explanation"][-1]["step"]
    assert [(e.type, e.detail.get("queue")) for e in handoff.events.order_by("id")] == [
        ("received", None),
        ("queued", "billing"),
    ]
    assert r.json()["position"] == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_one_statement_insert_stores_what_the_orm_stores(published):
    from django.db import transaction
    from django.forms.models import model_to_dict

    from handoff.models import Bot

    bot = Bot.objects.get(key="support-bot")
    client = BotClient(bot, make_key(bot))
    fast = client.post(URL, body()).json()  # outside a transaction
    # Resolved, so that the second is routed alike (same conversation, nobody waiting).
    Handoff.objects.update(status="resolved")
    with transaction.atomic():  # inside one: the ORM, in a savepoint
        orm = client.post(URL, body()).json()
    rows = []
    for answer in (fast, orm):
        handoff = Handoff.objects.get(pk=answer["id"])
        row = model_to_dict(handoff, exclude=["id", "status"])
        for moment in ("created_at", "updated_at", "queued_at"):
            row[moment] = getattr(handoff, moment) is not None
        events = [(e.type, e.detail) for e in handoff.events.order_by("id")]
        shown = {k: v for k, v in answer.items() if k not in ("id", "status_url")}
        rows.append((row, events, shown))
    assert rows[0] == rows[1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepare", [True, False])
def test_it_prepares_its_hot_statements_unless_told_not_to(published, settings, prepare):
    from handoff.models import Bot

    settings.HANDOFF_DB_PREPARE = prepare
    connection.close()  # a connection of its own: nothing prepared yet
    bot = Bot.objects.get(key="support-bot")
    client = BotClient(bot, make_key(bot))
    for conversation in ("p-1", "p-2"):
        assert client.post(URL, body(conversation_id=conversation)).status_code == 202
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    expected = ["SELECT k.id", "WITH h AS (INSERT"]
    assert [any(s.startswith(e) for s in prepared) for e in expected] == [prepare] * 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_queue_states_scan_the_waiting_index_and_leave_the_session_alone(bot_client):
    from django.utils import timezone

    from handoff.selectors.handoffs import queue_states

    bot_client.post(URL, body(conversation_id="w-1"))
    states = queue_states(timezone.now())
    assert states["billing"].waiting == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_bitmapscan")
        assert cursor.fetchone() == ("on",)
