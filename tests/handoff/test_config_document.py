import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from handoff.config.document import (
    FORMAT,
    AdminOnlyChanges,
    ConfigDocumentError,
    ConfigError,
    config_publish,
    config_rollback,
    export_document,
    has_unpublished_changes,
    import_document,
    latest_version,
    validate_document,
)
from handoff.crypto import new_api_key, webhook_secret_bytes
from handoff.models import (
    ApiKey,
    AuditEntry,
    Bot,
    Channel,
    ConfigVersion,
    Conversation,
    Handoff,
    Queue,
    QueueMembership,
    Topic,
    User,
)
from tests.conftest import make_user
from tests.handoff.config_helpers import demo_agents, demo_doc, render, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def allow_private(settings: Any) -> None:
    # The demo's webhook queue posts to 127.0.0.1, as under `make run`.
    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def demo(db: Any) -> dict:
    demo_agents()
    import_document(demo_doc())
    return demo_doc()


def queue(doc: dict, key: str) -> dict:
    return next(q for q in doc["queues"] if q["key"] == key)


def set_in(path: list, value: Any) -> Callable[[dict], None]:
    def mutate(doc: dict) -> None:
        target = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def drop_fallback(doc: dict) -> None:
    doc["queues"][0]["fallback"] = False


def loop(doc: dict) -> None:
    # general -> orders, and orders already sends to general when full.
    doc["queues"][0]["overflow"] = {"when_full": {"action": "transfer", "queue": "orders"}}


def self_loop(doc: dict) -> None:
    doc["queues"][3]["overflow"]["when_full"]["queue"] = "payments"


def duplicate_channel(doc: dict) -> None:
    doc["channels"].append(dict(doc["channels"][0]))


def duplicate_target(doc: dict) -> None:
    doc["context_fields"][1]["target"] = doc["context_fields"][0]["target"]


def duplicate_rule(doc: dict) -> None:
    doc["rules"][1]["name"] = doc["rules"][0]["name"]


def duplicate_node(doc: dict) -> None:
    doc["topics"][1]["nodes"][1]["id"] = "ask-order"


def unknown_member(doc: dict) -> None:
    doc["queues"][0]["members"].append({"username": "nobody", "capacity": 1})


def webhook_without_private(doc: dict) -> None:
    doc["queues"][4]["delivery"]["url"] = "http://hooks.example.com/in"


INVALID: list[tuple[str, Callable[[dict], None], str, str]] = [
    ("wrong format", set_in(["format"], "other/config"), "format", "must be"),
    ("unknown version", set_in(["version"], 2), "version", "unsupported version"),
    ("typo in a section", set_in(["queus"], []), "queus", "unknown key"),
    (
        "unknown nested key",
        set_in(["queues", 1, "colour"], "red"),
        "queues[1].colour",
        "unknown key",
    ),
    ("duplicate channel", duplicate_channel, "channels[4].key", 'duplicate key "webchat"'),
    ("bad slug", set_in(["queues", 0, "key"], "gen eral"), "queues[0].key", "not a valid key"),
    ("channel kind", set_in(["channels", 0, "kind"], "fax"), "channels[0].kind", "must be one of"),
    ("priority type", set_in(["queues", 1, "priority"], "high"), "queues[1].priority", "integer"),
    ("bool is not int", set_in(["queues", 1, "priority"], True), "queues[1].priority", "integer"),
    (
        "distribution",
        set_in(["queues", 1, "distribution"], "broadcast"),
        "queues[1].distribution",
        "must be one of",
    ),
    (
        "push without assignment",
        set_in(["queues", 1, "assignment"], None),
        "queues[1].assignment",
        "push queue needs",
    ),
    (
        "pick with assignment",
        set_in(["queues", 2, "assignment"], "round_robin"),
        "queues[2].assignment",
        "must be null",
    ),
    (
        "negative max_waiting",
        set_in(["queues", 1, "max_waiting"], -1),
        "queues[1].max_waiting",
        "at least 0",
    ),
    (
        "offer timeout 0",
        set_in(["queues", 1, "offer_timeout_seconds"], 0),
        "queues[1].offer_timeout_seconds",
        "at least 1",
    ),
    ("no fallback", drop_fallback, "queues", "exactly one queue"),
    (
        "two fallbacks",
        set_in(["queues", 3, "fallback"], True),
        "queues[3].fallback",
        "exactly one queue",
    ),
    (
        "time zone",
        set_in(["queues", 1, "hours", "timezone"], "Mars/Olympus"),
        "queues[1].hours.timezone",
        "unknown time zone",
    ),
    (
        "weekday",
        set_in(["queues", 1, "hours", "weekly", "monday"], []),
        "queues[1].hours.weekly.monday",
        "unknown weekday",
    ),
    (
        "window order",
        set_in(["queues", 1, "hours", "weekly", "mon"], [["18:00", "09:00"]]),
        "queues[1].hours.weekly.mon[0]",
        "must be before",
    ),
    (
        "window format",
        set_in(["queues", 1, "hours", "weekly", "tue"], [["9am", "5pm"]]),
        "queues[1].hours.weekly.tue[0]",
        "HH:MM",
    ),
    (
        "closed date",
        set_in(["queues", 1, "hours", "closed_dates"], ["2026-02-30"]),
        "queues[1].hours.closed_dates[0]",
        "not a date",
    ),
    (
        "overflow unknown queue",
        set_in(["queues", 1, "overflow", "when_full", "queue"], "x"),
        "queues[1].overflow.when_full.queue",
        'unknown queue "x"',
    ),
    (
        "transfer without queue",
        set_in(["queues", 3, "overflow", "when_full"], {"action": "transfer"}),
        "queues[3].overflow.when_full.queue",
        "needs a queue",
    ),
    (
        "reject without message",
        set_in(["queues", 3, "overflow", "when_full"], {"action": "reject"}),
        "queues[3].overflow.when_full.message",
        "needs the message",
    ),
    (
        "overflow action",
        set_in(["queues", 3, "overflow", "when_full", "action"], "drop"),
        "queues[3].overflow.when_full.action",
        "must be one of",
    ),
    (
        "overflow loop",
        loop,
        "queues[0].overflow.when_full.queue",
        "overflow loop: general -> orders -> general",
    ),
    (
        "overflow self loop",
        self_loop,
        "queues[3].overflow.when_full.queue",
        "overflow loop: payments -> payments",
    ),
    ("webhook needs https", webhook_without_private, "queues[4].delivery.url", "https://"),
    (
        "webhook secret",
        set_in(["queues", 4, "delivery", "secret"], "whsec_dG9vc2hvcnQ="),
        "queues[4].delivery.secret",
        "24 to 64",
    ),
    (
        "delivery kind",
        set_in(["queues", 4, "delivery", "kind"], "email"),
        "queues[4].delivery.kind",
        "must be one of",
    ),
    ("unknown member", unknown_member, "queues[0].members[2].username", 'unknown user "nobody"'),
    (
        "negative capacity",
        set_in(["queues", 0, "members", 0, "capacity"], -1),
        "queues[0].members[0].capacity",
        "at least 0",
    ),
    (
        "skill matching",
        set_in(["queues", 1, "skill_matching"], "fuzzy"),
        "queues[1].skill_matching",
        "must be one of",
    ),
    (
        "agent skill",
        set_in(["agents", 0, "skills", "language:de"], 3),
        "agents[0].skills.language:de",
        'unknown skill "language:de"',
    ),
    (
        "skill level",
        set_in(["agents", 0, "skills", "language:en"], 6),
        "agents[0].skills.language:en",
        "at most 5",
    ),
    (
        "bot channel",
        set_in(["bots", 0, "channels"], ["webchat", "pager"]),
        "bots[0].channels[1]",
        'unknown channel "pager"',
    ),
    (
        "callback url",
        set_in(["bots", 0, "status_callback_url"], "ftp://x.example"),
        "bots[0].status_callback_url",
        "https://",
    ),
    (
        "node type",
        set_in(["topics", 1, "nodes", 2, "type"], "jump"),
        "topics[1].nodes[2].type",
        "must be one of",
    ),
    ("duplicate node id", duplicate_node, "topics[1].nodes[1].id", 'duplicate node id "ask-order"'),
    (
        "goto",
        set_in(["topics", 2, "nodes", 2, "goto"], "nowhere"),
        "topics[2].nodes[2].goto",
        'unknown node "nowhere"',
    ),
    (
        "condition op",
        set_in(["topics", 2, "nodes", 2, "op"], "approx"),
        "topics[2].nodes[2].op",
        "must be one of",
    ),
    (
        "choice without choices",
        set_in(["topics", 3, "nodes", 0, "choices"], []),
        "topics[3].nodes[0].choices",
        "at least one choice",
    ),
    (
        "value type",
        set_in(["topics", 3, "nodes", 1, "value_type"], "date"),
        "topics[3].nodes[1].value_type",
        "must be one of",
    ),
    (
        "path never ends",
        set_in(["topics", 5, "nodes", 1], {"id": "done", "type": "message", "text": "bye"}),
        "topics[5].nodes[1]",
        "must be a transfer or an end",
    ),
    (
        "target too long",
        set_in(["context_fields", 0, "target"], "T" * 101),
        "context_fields[0].target",
        "at most 100",
    ),
    (
        "duplicate target",
        duplicate_target,
        "context_fields[1].target",
        'duplicate target "CustomerName"',
    ),
    (
        "field type",
        set_in(["context_fields", 0, "type"], "money"),
        "context_fields[0].type",
        "must be one of",
    ),
    (
        "transform",
        set_in(["context_fields", 0, "transform"], "rot13"),
        "context_fields[0].transform",
        "must be one of",
    ),
    (
        "max_length",
        set_in(["context_fields", 0, "max_length"], 5000),
        "context_fields[0].max_length",
        "at most 4000",
    ),
    (
        "default",
        set_in(["context_fields", 4, "default"], "lots"),
        "context_fields[4].default",
        "cannot be converted to number",
    ),
    ("rule queue", set_in(["rules", 0, "queue"], "vip"), "rules[0].queue", 'unknown queue "vip"'),
    ("duplicate rule", duplicate_rule, "rules[1].name", 'duplicate name "VIP concierge"'),
    (
        "rule op",
        set_in(["rules", 1, "conditions", "all", 0, "op"], "like"),
        "rules[1].conditions.all[0].op",
        "must be one of",
    ),
    (
        "rule field",
        set_in(["rules", 1, "conditions", "all", 0, "field"], "weather"),
        "rules[1].conditions.all[0].field",
        'unknown field "weather"',
    ),
    (
        "rule in needs a list",
        set_in(["rules", 0, "conditions", "all", 0, "value"], "gold"),
        "rules[0].conditions.all[0].value",
        "needs a list",
    ),
    (
        "rule regex",
        set_in(
            ["rules", 1, "conditions", "all", 0], {"field": "topic", "op": "matches", "value": "("}
        ),
        "rules[1].conditions.all[0].value",
        "regular expression",
    ),
    (
        "runaway regex",
        set_in(
            ["rules", 1, "conditions", "all", 0],
            {"field": "topic", "op": "matches", "value": "(a+)+$"},
        ),
        "rules[1].conditions.all[0].value",
        "nests repetitions",
    ),
    (
        "conditions shape",
        set_in(["rules", 1, "conditions"], {"all": [], "any": []}),
        "rules[1].conditions",
        '{"all": [...]}',
    ),
    (
        "require_skills",
        set_in(["rules", 1, "require_skills"], {"product:toys": 2}),
        "rules[1].require_skills.product:toys",
        'unknown skill "product:toys"',
    ),
    (
        "agent_message type",
        set_in(["rules", 1, "agent_message"], 42),
        "rules[1].agent_message",
        "must be a string",
    ),
    ("enabled type", set_in(["rules", 1, "enabled"], "yes"), "rules[1].enabled", "true or false"),
    (
        "missing required",
        set_in(["channels", 0], {"key": "webchat", "kind": "webchat"}),
        "channels[0].name",
        "is required",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_it_rejects_an_invalid_document_and_changes_nothing(
    demo: dict, settings: Any, mutate: Callable[[dict], None], path: str, message: str
) -> None:
    if mutate is webhook_without_private:
        settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = False
    doc = demo_doc()
    mutate(doc)
    before = snapshot()
    with pytest.raises(ConfigDocumentError) as raised:
        import_document(doc, publish=True)
    found = [e for e in raised.value.errors if e.path == path]
    assert found, f"no error at {path}: {[str(e) for e in raised.value.errors]}"
    assert any(message in e.message for e in found), [str(e) for e in found]
    assert snapshot() == before


def test_it_has_at_least_fifteen_distinct_invalid_documents() -> None:
    assert len({path for _, _, path, _ in INVALID}) >= 15


def test_it_reports_every_error_not_just_the_first(db: Any) -> None:
    doc = demo_doc()
    doc["channels"][0]["kind"] = "fax"
    doc["queues"][1]["hours"]["timezone"] = "Nowhere/Land"
    doc["rules"][0]["queue"] = "missing"
    _, errors = validate_document(doc, create_users=True)
    assert {e.path for e in errors} == {
        "channels[0].kind",
        "queues[1].hours.timezone",
        "rules[0].queue",
    }
    assert str(errors[-1]) == 'rules[0].queue: unknown queue "missing"'


def test_it_formats_errors_as_path_and_message() -> None:
    error = ConfigError("queues[2].overflow.when_full.queue", 'unknown queue "x"')
    assert str(error) == 'queues[2].overflow.when_full.queue: unknown queue "x"'
    assert 'unknown queue "x"' in str(ConfigDocumentError([error]))


def test_it_rejects_what_is_not_an_object(db: Any) -> None:
    _, errors = validate_document([1, 2])
    assert [str(e) for e in errors] == ["(document): must be an object"]


def test_it_fills_every_default(db: Any) -> None:
    doc = {
        "format": FORMAT,
        "version": 1,
        "queues": [{"key": "main", "name": "Main", "fallback": True}],
    }
    normalised, errors = validate_document(doc)
    assert errors == []
    assert normalised["queues"] == [
        {
            "key": "main",
            "name": "Main",
            "priority": 100,
            "distribution": "push",
            "assignment": "round_robin",
            "max_waiting": None,
            "offer_timeout_seconds": 60,
            "fallback": True,
            "hours": None,
            "overflow": None,
            "delivery": {"kind": "agents"},
            "skill_matching": "none",
            "skill_relax_after_seconds": None,
            "members": [],
        }
    ]
    assert [t["key"] for t in normalised["topics"]] == ["escalate", "fallback"]
    assert list(normalised) == [
        "format",
        "version",
        "channels",
        "queues",
        "skills",
        "agents",
        "bots",
        "topics",
        "context_fields",
        "rules",
    ]


def test_it_reads_the_private_webhook_setting_at_call_time(db: Any, settings: Any) -> None:
    doc = demo_doc()
    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = False
    _, errors = validate_document(doc, create_users=True)
    assert [e.path for e in errors] == ["queues[4].delivery.url"]
    with override_settings(HANDOFF_WEBHOOK_ALLOW_PRIVATE=True):
        assert validate_document(doc, create_users=True)[1] == []


def test_it_rejects_private_addresses_even_over_https(db: Any, settings: Any) -> None:
    settings.HANDOFF_WEBHOOK_ALLOW_PRIVATE = False
    doc = demo_doc()
    doc["queues"][4]["delivery"]["url"] = "https://10.1.2.3/hook"
    _, errors = validate_document(doc, create_users=True)
    assert [e.path for e in errors] == ["queues[4].delivery.url"]


def test_it_round_trips_export_import_export_byte_identical(demo: dict) -> None:
    first = render(export_document())
    import_document(json.loads(first))
    second = render(export_document())
    assert second == first
    # The normalised demo is exactly what the database gives back.
    assert validate_document(demo)[0] == json.loads(first)


def test_it_exports_every_key_with_defaults(demo: dict) -> None:
    doc = export_document()
    general = queue(doc, "general")
    assert general["hours"] is None
    assert general["overflow"] is None
    assert general["members"] == [
        {"username": "agent1", "capacity": 3},
        {"username": "agent2", "capacity": 3},
    ]
    returns = queue(doc, "returns")
    assert returns["assignment"] is None
    assert returns["overflow"]["when_full"] == {
        "action": "queue_anyway",
        "message": None,
        "queue": None,
    }
    assert returns["overflow"]["max_wait_seconds"] is None
    assert queue(doc, "vip-concierge")["delivery"] == {
        "kind": "webhook",
        "url": "http://127.0.0.1:8009/handoffs",
    }
    assert [r["order"] for r in doc["rules"]] == sorted(r["order"] for r in doc["rules"])
    assert doc["context_fields"][0]["target"] == "CustomerName"
    refund = next(t for t in doc["topics"] if t["key"] == "refund")
    assert refund["nodes"][2] == {
        "id": "check-amount",
        "type": "condition",
        "variable": "refund_amount",
        "op": "gte",
        "value": 500,
        "goto": "big-refund",
    }
    assert refund["nodes"][0]["value_type"] == "text"
    assert refund["nodes"][0]["choices"] == []


def test_it_never_exports_secrets_or_keys(demo: dict) -> None:
    secret = Queue.objects.get(key="vip-concierge").webhook_secret
    assert secret.startswith("whsec_")
    assert 24 <= len(webhook_secret_bytes(secret)) <= 64
    text = render(export_document())
    assert "whsec_" not in text
    assert "secret" not in text


def test_it_keeps_ids_and_the_stored_secret_on_reimport(demo: dict) -> None:
    ids = dict(Queue.objects.values_list("key", "id"))
    membership_ids = set(QueueMembership.objects.values_list("id", flat=True))
    bot_id = Bot.objects.get(key="retail-bot").id
    secret = Queue.objects.get(key="vip-concierge").webhook_secret
    result = import_document(export_document())
    assert not result.changed
    assert dict(Queue.objects.values_list("key", "id")) == ids
    assert set(QueueMembership.objects.values_list("id", flat=True)) == membership_ids
    assert Bot.objects.get(key="retail-bot").id == bot_id
    assert Queue.objects.get(key="vip-concierge").webhook_secret == secret


def test_it_accepts_a_given_webhook_secret(demo: dict) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    doc = demo_doc()
    doc["queues"][4]["delivery"]["secret"] = secret
    import_document(doc)
    assert Queue.objects.get(key="vip-concierge").webhook_secret == secret


def test_it_deletes_what_the_document_no_longer_holds(demo: dict) -> None:
    doc = demo_doc()
    doc["queues"] = [q for q in doc["queues"] if q["key"] != "payments"]
    doc["rules"] = [r for r in doc["rules"] if r["queue"] != "payments"]
    doc["topics"] = [t for t in doc["topics"] if t["key"] != "store-hours"]
    result = import_document(doc)
    assert not Queue.objects.filter(key="payments").exists()
    assert not Topic.objects.filter(key="store-hours").exists()
    assert "queue:payments" in result.deleted
    assert "rule:Large refund" in result.deleted
    assert AuditEntry.objects.filter(action="delete", object_key="payments").exists()


def test_it_keeps_the_system_topics(demo: dict) -> None:
    doc = demo_doc()
    doc["topics"] = [t for t in doc["topics"] if t["key"] != "escalate"]
    import_document(doc)
    system = Topic.objects.filter(is_system=True).order_by("key")
    assert [t.key for t in system] == ["escalate", "fallback"]
    assert system[0].nodes.get().type == "transfer"


def test_it_moves_the_fallback_to_another_queue(demo: dict) -> None:
    doc = demo_doc()
    doc["queues"][0]["fallback"] = False
    doc["queues"][1]["fallback"] = True
    import_document(doc)
    assert Queue.objects.get(is_fallback=True).key == "orders"


def test_it_creates_missing_users_inactive(db: Any) -> None:
    import_document(demo_doc(), create_users=True)
    agent1 = User.objects.get(username="agent1")
    assert not agent1.is_active
    assert not agent1.has_usable_password()


def test_it_refuses_a_capacity_below_the_work_an_agent_holds(demo: dict) -> None:
    QueueMembership.objects.filter(queue__key="general", user__username="agent1").update(
        active_count=2
    )
    doc = demo_doc()
    doc["queues"][0]["members"][0]["capacity"] = 1
    with pytest.raises(ConfigDocumentError) as raised:
        import_document(doc)
    assert [e.path for e in raised.value.errors] == ["queues[0].members[0].capacity"]


def test_it_refuses_to_remove_a_bot_with_handoffs(demo: dict) -> None:
    Handoff.objects.create(
        bot=Bot.objects.get(key="retail-bot"), conversation_id="c1", channel="webchat"
    )
    doc = demo_doc()
    doc["bots"] = []
    before = snapshot()
    with pytest.raises(ConfigDocumentError) as raised:
        import_document(doc)
    assert [str(e) for e in raised.value.errors] == [
        'bots: bot "retail-bot" has handoffs and cannot be removed; keep it in the document'
    ]
    assert snapshot() == before


def test_it_records_who_changed_what(demo: dict) -> None:
    admin = make_user("alice-admin", "admin")
    doc = demo_doc()
    doc["queues"][1]["priority"] = 25
    result = import_document(doc, user=admin, note="busier")
    assert result.updated == ["queue:orders"]
    entry = AuditEntry.objects.get(action="update", object_key="orders")
    assert entry.user == admin
    assert entry.object_type == "queue"
    assert AuditEntry.objects.filter(action="import", user=admin).exists()


def test_it_publishes_immutable_numbered_snapshots(demo: dict) -> None:
    first = config_publish(note="first")
    assert first.number == 1
    assert first.document == export_document()
    assert not has_unpublished_changes()
    doc = demo_doc()
    doc["queues"][1]["priority"] = 99
    import_document(doc)
    assert has_unpublished_changes()
    first.refresh_from_db()
    assert queue(first.document, "orders")["priority"] == 20
    second = config_publish()
    assert second.number == 2
    assert latest_version() == second
    assert queue(second.document, "orders")["priority"] == 99
    assert AuditEntry.objects.filter(action="publish").count() == 2


def test_it_publishes_on_import_when_asked(demo: dict) -> None:
    result = import_document(demo_doc(), publish=True, note="from a file")
    assert result.version is not None
    assert result.version.note == "from a file"
    assert ConfigVersion.objects.count() == 1


def test_it_refuses_to_publish_an_invalid_draft(demo: dict) -> None:
    Queue.objects.update(is_fallback=False)
    with pytest.raises(ConfigDocumentError) as raised:
        config_publish()
    assert [e.path for e in raised.value.errors] == ["queues"]
    assert ConfigVersion.objects.count() == 0


def test_it_rolls_back_as_a_new_version(demo: dict) -> None:
    v1 = config_publish()
    doc = demo_doc()
    doc["queues"] = [q for q in doc["queues"] if q["key"] != "returns"]
    doc["rules"] = [r for r in doc["rules"] if r["queue"] != "returns"]
    import_document(doc, publish=True)
    v3 = config_rollback(number=1)
    assert v3.number == 3
    assert v3.rolled_back_from == 1
    assert v3.document == v1.document
    assert export_document() == v1.document
    assert Queue.objects.filter(key="returns").exists()
    assert AuditEntry.objects.filter(action="rollback", object_key="3").exists()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            found += paths_of(child, (*prefix, key))
    return found


DEMO_PATHS = paths_of(demo_doc())[1:]


@hypothesis_settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(index=st.integers(0, len(DEMO_PATHS) - 1), value=JSON_VALUES)
def test_it_never_crashes_on_a_value_of_the_wrong_kind(db: Any, index: int, value: Any) -> None:
    doc = demo_doc()
    set_in(list(DEMO_PATHS[index]), value)(doc)
    normalised, errors = validate_document(doc, create_users=True)
    assert all(isinstance(e, ConfigError) and e.path and e.message for e in errors)
    assert bool(normalised) != bool(errors)


def test_it_exports_with_a_constant_number_of_queries(
    demo: dict, django_assert_num_queries: Any
) -> None:
    # The simulator and the conversation runtime export the draft on their paths.
    with django_assert_num_queries(11):
        small = export_document()
    doc = demo_doc()
    for i in range(10):
        doc["queues"].append(
            {"key": f"extra-{i}", "name": "Extra", "members": [{"username": "agent1"}]}
        )
        doc["topics"].append(
            {"key": f"extra-{i}", "name": "Extra", "nodes": [{"id": "end", "type": "end"}]}
        )
        doc["bots"].append({"key": f"extra-{i}", "name": "Extra", "channels": ["sms"]})
    import_document(doc)
    with django_assert_num_queries(11):
        assert len(export_document()["queues"]) == len(small["queues"]) + 10


# -- what only admins may change ------------------------------------------------------------------


def admin_changes_since_v1() -> None:
    """An admin, after version 1: a new bot with a key, a new webhook URL, a new member."""
    bot = Bot.objects.create(key="new-bot", name="New bot")
    _plain, prefix, hashed = new_api_key()
    ApiKey.objects.create(bot=bot, prefix=prefix, hashed=hashed, name="live")
    Queue.objects.filter(key="vip-concierge").update(webhook_url="https://vip.example.com/in")
    make_user("agent3", "agent")
    QueueMembership.objects.create(
        queue=Queue.objects.get(key="payments"), user=User.objects.get(username="agent3")
    )


def test_it_refuses_a_makers_rollback_that_changes_what_only_admins_may(demo: dict) -> None:
    config_publish()
    admin_changes_since_v1()
    maker = make_user("mia-maker", "maker")
    before = snapshot()
    with pytest.raises(AdminOnlyChanges) as raised:
        config_rollback(number=1, user=maker)
    assert raised.value.changes == [
        "Queue “payments” would change: members[agent3]",
        "Queue “vip-concierge” would change: delivery.url",
        "Bot “new-bot” would be removed, with its API keys",
    ]
    assert raised.value.message.startswith("Only an admin may")
    assert snapshot() == before
    assert ConfigVersion.objects.count() == 1


def test_it_lets_a_maker_roll_back_what_makers_author(demo: dict) -> None:
    config_publish()
    doc = demo_doc()
    doc["rules"] = doc["rules"][1:]
    maker = make_user("mia-maker", "maker")
    import_document(doc, user=maker, publish=True)
    v3 = config_rollback(number=1, user=maker)
    assert v3.document == ConfigVersion.objects.get(number=1).document


def test_it_lets_an_admin_roll_back_bots_queues_and_members(demo: dict) -> None:
    v1 = config_publish()
    admin_changes_since_v1()
    config_rollback(number=1, user=make_user("alice-admin", "admin"))
    assert export_document() == v1.document
    assert not Bot.objects.filter(key="new-bot").exists()
    assert not ApiKey.objects.filter(name="live").exists()


def test_it_refuses_a_makers_import_that_changes_what_only_admins_may(demo: dict) -> None:
    doc = demo_doc()
    doc["bots"][0]["status_callback_url"] = "https://bots.example.com/status"
    doc["channels"] = [c for c in doc["channels"] if c["key"] != "email"]
    maker = make_user("mia-maker", "maker")
    before = snapshot()
    with pytest.raises(AdminOnlyChanges) as raised:
        import_document(doc, user=maker)
    assert raised.value.changes == [
        "Channel “email” would be removed",
        "Bot “retail-bot” would change: status_callback_url",
    ]
    assert snapshot() == before
    import_document(doc, user=make_user("alice-admin", "admin"))
    assert not Channel.objects.filter(key="email").exists()


def test_it_refuses_to_remove_a_bot_with_conversations(demo: dict) -> None:
    Conversation.objects.create(bot=Bot.objects.get(key="retail-bot"), channel="webchat")
    doc = demo_doc()
    doc["bots"] = []
    admin = make_user("alice-admin", "admin")
    before = snapshot()
    with pytest.raises(ConfigDocumentError) as raised:
        import_document(doc, user=admin)
    assert [str(e) for e in raised.value.errors] == [
        'bots: bot "retail-bot" has conversations and cannot be removed; keep it in the document'
    ]
    assert snapshot() == before
