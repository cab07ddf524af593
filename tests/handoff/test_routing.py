import copy
import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handoff.engine.routing import (
    Decision,
    QueueState,
    compile_snapshot,
    decide,
    explain_text,
    render_template,
)

# Wednesday 25 November 2026, 10:00 in Paris.
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
NIGHT = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
PARIS_9_TO_17 = {
    "timezone": "Europe/Paris",
    "weekly": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "closed_dates": ["2026-12-25"],
}


def queue(key, **overrides):
    spec = {
        "key": key,
        "name": key.title(),
        "priority": 50,
        "distribution": "push",
        "assignment": "round_robin",
        "max_waiting": None,
        "offer_timeout_seconds": 60,
        "fallback": False,
        "hours": None,
        "overflow": None,
        "delivery": {"kind": "agents"},
        "skill_matching": "none",
        "skill_relax_after_seconds": None,
        "members": [],
    }
    return {**spec, **overrides}


def overflow(when_closed=None, when_full=None, max_wait_seconds=None):
    return {
        "when_closed": when_closed,
        "when_full": when_full,
        "max_wait_seconds": max_wait_seconds,
    }


def action(kind, queue=None, message=None):
    return {"action": kind, "queue": queue, "message": message}


def rule(name, order, conditions, queue_key, **overrides):
    spec = {
        "name": name,
        "order": order,
        "enabled": True,
        "conditions": conditions,
        "queue": queue_key,
        "priority": None,
        "require_skills": {},
        "agent_message": "",
    }
    return {**spec, **overrides}


def field(source, target, **overrides):
    spec = {
        "source": source,
        "target": target,
        "type": "text",
        "required": False,
        "default": None,
        "transform": None,
        "max_length": None,
        "visible_to_agent": True,
        "label": target,
    }
    return {**spec, **overrides}


def snapshot(queues=None, rules=None, fields=None):
    return {
        "format": "handoff-portal/config",
        "version": 1,
        "channels": [{"key": "webchat", "name": "Web chat", "kind": "webchat", "enabled": True}],
        "queues": queues
        or [queue("general", fallback=True, priority=100), queue("billing", priority=10)],
        "skills": [],
        "agents": [],
        "bots": [],
        "topics": [],
        "context_fields": fields or [],
        "rules": rules or [],
    }


def request(**overrides):
    body = {
        "conversation_id": "conv-1",
        "channel": "webchat",
        "topic": "billing",
        "topics": ["billing"],
        "locale": "en-US",
        "reason": "requested_by_customer",
        "customer": {"id": "c1", "name": "Alice", "email": "alice@example.com"},
        "variables": {},
        "transcript": [{"from": "customer", "text": "hello"}],
    }
    return {**body, **overrides}


def route(snap, body=None, states=None, now=NOW) -> Decision:
    return decide(
        snap, body or request(), bot_key="support-bot", queue_states=states or {}, now=now
    )


def all_of(*conditions):
    return {"all": [{"field": f, "op": op, "value": v} for f, op, v in conditions]}


def any_of(*conditions):
    return {"any": [{"field": f, "op": op, "value": v} for f, op, v in conditions]}


def steps(decision, step):
    return [e for e in decision.explanation if e["step"] == step]


# -- rules -----------------------------------------------------------------------------------


def test_it_routes_by_the_first_enabled_matching_rule_in_order():
    snap = snapshot(
        rules=[
            rule("Late", 5, all_of(("topic", "eq", "billing")), "general"),
            rule("Off", 1, all_of(("topic", "eq", "billing")), "general", enabled=False),
            rule("Early", 2, all_of(("channel", "eq", "webchat")), "billing", priority=3),
        ]
    )
    decision = route(snap)
    assert (decision.status, decision.queue_key, decision.rule) == ("queued", "billing", "Early")
    assert decision.priority == 3
    results = [(e["rule"], e["result"]) for e in steps(decision, "rule")]
    assert results == [("Off", "disabled"), ("Early", "matched")]
    assert steps(decision, "rules_skipped")[0]["count"] == 1


def test_it_goes_to_the_fallback_queue_when_no_rule_matches():
    snap = snapshot(rules=[rule("Refunds", 1, all_of(("topic", "eq", "refund")), "billing")])
    decision = route(snap)
    assert (decision.queue_key, decision.rule, decision.priority) == ("general", None, 100)
    assert decision.required_skills == {}
    assert steps(decision, "fallback")[0]["queue"] == "general"


def test_it_uses_the_queues_priority_without_an_override():
    snap = snapshot(rules=[rule("Billing", 1, all_of(("topic", "eq", "billing")), "billing")])
    assert route(snap).priority == 10


def test_it_adds_the_rules_required_skills():
    snap = snapshot(
        rules=[
            rule(
                "Japanese",
                1,
                all_of(("locale", "starts_with", "ja")),
                "billing",
                require_skills={"language:ja": 4, "product:billing": 2},
            )
        ]
    )
    decision = route(snap, request(locale="ja-JP"))
    assert decision.required_skills == {"language:ja": 4, "product:billing": 2}


def test_any_conditions_need_one_to_hold_and_all_need_every_one():
    snap = snapshot(
        rules=[
            rule(
                "All", 1, all_of(("topic", "eq", "billing"), ("locale", "eq", "fr-FR")), "billing"
            ),
            rule("Any", 2, any_of(("topic", "eq", "nope"), ("locale", "eq", "en-US")), "billing"),
        ]
    )
    decision = route(snap)
    assert decision.rule == "Any"
    first = steps(decision, "rule")[0]
    assert first["result"] == "no_match"
    assert first["text"] == ('Rule "All" (order 1): locale equals "fr-FR": locale is "en-US".')


def test_it_explains_every_failed_condition_of_an_any_rule():
    snap = snapshot(
        rules=[
            rule(
                "Either",
                1,
                any_of(("locale", "eq", "fr-FR"), ("variables.amount", "gt", 10)),
                "billing",
            )
        ]
    )
    decision = route(snap, request(variables={"amount": "lots"}))
    assert steps(decision, "rule")[0]["text"] == (
        'Rule "Either" (order 1): none held: locale equals "fr-FR": locale is "en-US"; '
        'variables.amount is greater than 10: variables.amount is "lots", which is not a number.'
    )


def test_it_explains_a_refused_pattern():
    snap = snapshot(rules=[rule("Slow", 1, all_of(("reason", "matches", "(a+)+$")), "billing")])
    decision = route(snap)
    assert decision.rule is None
    assert (
        "the pattern is refused: the pattern nests repetitions"
        in steps(decision, "rule")[0]["text"]
    )


def test_an_empty_all_matches_everything_and_an_empty_any_nothing():
    snap = snapshot(
        rules=[rule("Never", 1, {"any": []}, "general"), rule("Always", 2, {"all": []}, "billing")]
    )
    decision = route(snap)
    assert decision.rule == "Always"
    assert "any of none never matches" in steps(decision, "rule")[0]["text"]


def test_it_compares_a_number_sent_as_text_as_a_number():
    snap = snapshot(rules=[rule("Big", 1, all_of(("variables.amount", "gt", 100)), "billing")])
    assert route(snap, request(variables={"amount": "250"})).rule == "Big"
    assert route(snap, request(variables={"amount": "99.5"})).rule is None
    assert route(snap, request(variables={"amount": 250})).rule == "Big"


def test_rules_see_converted_context_before_masking():
    snap = snapshot(
        fields=[
            field("card", "Card", transform="mask_keep_last4"),
            field("total", "Total", type="number"),
            field("vip", "Vip", type="boolean"),
        ],
        rules=[
            rule(
                "Visa VIP",
                1,
                all_of(
                    ("context.Card", "starts_with", "4111"),
                    ("context.Total", "gte", 250.4),
                    ("context.Vip", "eq", True),
                ),
                "billing",
            )
        ],
    )
    body = request(variables={"card": "4111111111111111", "total": "250.40", "vip": "yes"})
    decision = route(snap, body)
    assert decision.rule == "Visa VIP"
    assert decision.context == {"Card": "************1111", "Total": 250.4, "Vip": True}


def test_it_offers_every_rule_field():
    fields_and_values = [
        ("topic", "eq", "billing"),
        ("topics", "contains", "billing"),
        ("channel", "eq", "webchat"),
        ("locale", "eq", "en-us"),
        ("reason", "eq", "requested_by_customer"),
        ("bot", "eq", "support-bot"),
        ("customer.email", "contains", "@example.com"),
        ("transcript.turns", "eq", 1),
        ("variables.plan", "eq", "gold"),
        ("context.Plan", "eq", "GOLD"),
    ]
    snap = snapshot(
        fields=[field("plan", "Plan", transform="upper")],
        rules=[rule("Every", 1, all_of(*fields_and_values), "billing")],
    )
    assert route(snap, request(variables={"plan": "gold"})).rule == "Every"


def test_it_routes_an_unknown_bot_framework_topic_as_no_topic():
    snap = snapshot(
        fields=[field("va_LastTopic", "LastTopic")],
        rules=[rule("No topic", 1, all_of(("topic", "not_exists", None)), "billing")],
    )
    decision = route(snap, request(topic=None, topic_name="Store hours"))
    assert decision.rule == "No topic"
    assert decision.context == {"LastTopic": "Store hours"}


def test_it_skips_a_rule_whose_queue_is_unknown():
    snap = snapshot(rules=[rule("Ghost", 1, {"all": []}, "nowhere")])
    decision = route(snap)
    assert decision.queue_key == "general"
    assert steps(decision, "rule")[0]["result"] == "unknown_queue"


# -- agent message ---------------------------------------------------------------------------


def test_it_joins_the_rule_template_and_the_bots_message_by_a_blank_line():
    snap = snapshot(
        fields=[field("order", "OrderNumber")],
        rules=[
            rule(
                "Billing",
                1,
                {"all": []},
                "billing",
                agent_message="Order {context.OrderNumber} for {customer.name} ({variables.plan})",
            )
        ],
    )
    body = request(variables={"order": "A-1", "plan": "gold"}, agent_message="Upset.")
    assert route(snap, body).agent_message == "Order A-1 for Alice (gold)\n\nUpset."
    assert route(snap, request(variables={"order": "A-1", "plan": "gold"})).agent_message == (
        "Order A-1 for Alice (gold)"
    )


def test_it_renders_missing_template_values_empty():
    snap = snapshot(
        rules=[rule("B", 1, {"all": []}, "billing", agent_message="VIP {context.Nope}")]
    )
    assert route(snap, request(agent_message="Hi")).agent_message == "VIP\n\nHi"


def test_it_gives_the_bots_message_alone_without_a_rule_template():
    assert route(snapshot(), request(agent_message="  Note  ")).agent_message == "Note"
    assert route(snapshot()).agent_message == ""


def test_the_template_never_formats_user_data():
    text = render_template(
        "{variables.a} {context.b} {0} {variables.a.__class__} {unknown.x}",
        {"b": "{0.__class__}"},
        {"a": "{variables.a}"},
        {},
    )
    assert text == "{variables.a} {0.__class__} {0}  {unknown.x}"


# -- queue checks and overflow ---------------------------------------------------------------


def closed_billing(when_closed):
    return snapshot(
        queues=[
            queue("general", fallback=True),
            queue("billing", hours=PARIS_9_TO_17, overflow=overflow(when_closed=when_closed)),
            queue("night"),
        ],
        rules=[rule("Billing", 1, {"all": []}, "billing")],
    )


def test_it_queues_in_an_open_queue():
    decision = route(closed_billing(action("reject", message="Closed.")), now=NOW)
    assert (decision.status, decision.queue_key, decision.message) == ("queued", "billing", None)
    hours = next(e for e in steps(decision, "queue") if e["check"] == "hours")
    assert hours["ok"] is True
    assert "within 09:00-17:00" in hours["text"]


def test_it_rejects_with_the_message_when_closed():
    decision = route(closed_billing(action("reject", message="We are closed.")), now=NIGHT)
    assert (decision.status, decision.queue_key) == ("rejected", "billing")
    assert decision.message == "We are closed."
    assert steps(decision, "overflow")[0]["action"] == "reject"


def test_it_transfers_when_closed():
    decision = route(closed_billing(action("transfer", queue="night")), now=NIGHT)
    assert (decision.status, decision.queue_key, decision.queue_name) == (
        "queued",
        "night",
        "Night",
    )
    assert decision.rule == "Billing"
    assert decision.priority == 50  # the final queue's priority
    assert steps(decision, "overflow")[0]["target"] == "night"


def test_it_queues_anyway_when_closed_without_an_action():
    for when_closed in (None, action("queue_anyway")):
        decision = route(closed_billing(when_closed), now=NIGHT)
        assert (decision.status, decision.queue_key) == ("queued", "billing")
        assert steps(decision, "overflow")[0]["action"] == "queue_anyway"


def test_it_closes_on_a_closed_date():
    christmas = datetime(2026, 12, 25, 10, tzinfo=UTC)
    decision = route(closed_billing(action("reject", message="Merry Christmas.")), now=christmas)
    assert decision.status == "rejected"
    assert any("2026-12-25 is a closed date" in line for line in explain_text(decision))


def full_billing(when_full, max_waiting=2, max_wait_seconds=None):
    return snapshot(
        queues=[
            queue("general", fallback=True),
            queue(
                "billing",
                max_waiting=max_waiting,
                overflow=overflow(when_full=when_full, max_wait_seconds=max_wait_seconds),
            ),
        ],
        rules=[rule("Billing", 1, {"all": []}, "billing")],
    )


def test_it_applies_when_full_at_max_waiting():
    snap = full_billing(action("transfer", queue="general"))
    assert route(snap, states={"billing": QueueState(waiting=1)}).queue_key == "billing"
    decision = route(snap, states={"billing": QueueState(waiting=2)})
    assert decision.queue_key == "general"
    capacity = next(e for e in steps(decision, "queue") if e["check"] == "capacity")
    assert capacity["text"] == "billing: 2 waiting of at most 2: full."


def test_it_rejects_when_full():
    snap = full_billing(action("reject", message="Too busy."))
    decision = route(snap, states={"billing": QueueState(waiting=5)})
    assert (decision.status, decision.message) == ("rejected", "Too busy.")


def test_it_never_fills_an_unlimited_queue():
    snap = full_billing(action("reject", message="Too busy."), max_waiting=None)
    assert route(snap, states={"billing": QueueState(waiting=10_000)}).status == "queued"


def test_a_queue_that_is_closed_but_queued_anyway_still_checks_capacity():
    snap = snapshot(
        queues=[
            queue("general", fallback=True),
            queue(
                "billing",
                hours=PARIS_9_TO_17,
                max_waiting=1,
                overflow=overflow(when_full=action("reject", message="Full.")),
            ),
        ],
        rules=[rule("Billing", 1, {"all": []}, "billing")],
    )
    decision = route(snap, states={"billing": QueueState(waiting=1)}, now=NIGHT)
    assert (decision.status, decision.message) == ("rejected", "Full.")


def test_it_applies_when_full_when_the_wait_is_exceeded():
    snap = full_billing(action("transfer", queue="general"), max_waiting=None, max_wait_seconds=300)
    calm = QueueState(waiting=3, longest_wait_seconds=300)
    assert route(snap, states={"billing": calm}).queue_key == "billing"
    late = QueueState(waiting=3, longest_wait_seconds=301)
    decision = route(snap, states={"billing": late})
    assert decision.queue_key == "general"
    assert steps(decision, "overflow")[0]["when"] == "when_full (wait exceeded)"
    assert route(snap, states={"billing": QueueState()}).queue_key == "billing"


def test_transfer_chains_follow_each_queues_own_checks():
    snap = snapshot(
        queues=[
            queue("general", fallback=True),
            queue("a", max_waiting=0, overflow=overflow(when_full=action("transfer", queue="b"))),
            queue("b", max_waiting=0, overflow=overflow(when_full=action("transfer", queue="c"))),
            queue("c", max_waiting=0, overflow=overflow(when_full=action("reject", message="No."))),
        ],
        rules=[rule("A", 1, {"all": []}, "a")],
    )
    decision = route(snap)
    assert (decision.status, decision.queue_key, decision.message) == ("rejected", "c", "No.")
    hops = [(e["queue"], e["action"]) for e in steps(decision, "overflow")]
    assert hops == [("a", "transfer"), ("b", "transfer"), ("c", "reject")]


def test_transfer_loops_end_by_queueing_on_the_last_queue():
    snap = snapshot(
        queues=[
            queue("general", fallback=True),
            queue("a", max_waiting=0, overflow=overflow(when_full=action("transfer", queue="b"))),
            queue(
                "b",
                hours={"timezone": "UTC", "weekly": {}, "closed_dates": []},
                overflow=overflow(when_closed=action("transfer", queue="a")),
            ),
        ],
        rules=[rule("A", 1, {"all": []}, "a")],
    )
    decision = route(snap)
    assert (decision.status, decision.queue_key) == ("queued", "b")
    last = steps(decision, "overflow")[-1]
    assert last["text"] == (
        "Overflow of b (when_closed): transfer to a would loop (a -> b -> a); queued in b anyway."
    )


def test_a_transfer_to_itself_queues_anyway():
    snap = snapshot(
        queues=[
            queue(
                "general",
                fallback=True,
                max_waiting=0,
                overflow=overflow(when_full=action("transfer", queue="general")),
            ),
        ]
    )
    decision = route(snap)
    assert (decision.status, decision.queue_key) == ("queued", "general")


def test_the_fallback_queue_gets_its_own_checks():
    snap = snapshot(
        queues=[
            queue(
                "general",
                fallback=True,
                hours=PARIS_9_TO_17,
                overflow=overflow(when_closed=action("reject", message="Closed.")),
            ),
        ]
    )
    assert route(snap, now=NIGHT).status == "rejected"


# -- explanation -----------------------------------------------------------------------------


def test_the_explanation_tells_the_whole_story():
    snap = snapshot(
        queues=[
            queue("general", fallback=True),
            queue(
                "billing",
                hours=PARIS_9_TO_17,
                overflow=overflow(when_closed=action("transfer", queue="general")),
            ),
        ],
        fields=[field("amount", "Amount", type="number")],
        rules=[
            rule("Small", 1, all_of(("context.Amount", "lt", 100)), "billing"),
            rule("Big", 2, all_of(("context.Amount", "gte", 100)), "billing"),
            rule("Later", 3, {"all": []}, "billing"),
        ],
    )
    lines = explain_text(route(snap, request(variables={"amount": "250"}), now=NIGHT))
    assert lines[0].startswith('1. System fields: va_LastTopic="billing", va_Topics=["billing"]')
    assert lines[1:] == [
        '2. Context: Amount = 250 (number; from amount: "250")',
        '3. Rule "Small" (order 1): context.Amount is less than 100: context.Amount is 250.',
        '4. Rule "Big" (order 2): matched, routing to billing.',
        "5. 1 later rule(s) not evaluated: the first match wins.",
        "6. billing: closed: Wednesday 2026-11-25 23:00 Europe/Paris is outside 09:00-17:00.",
        "7. Overflow of billing (when_closed): transfer to general.",
        "8. general: no operating hours set: always open.",
        "9. general: 0 waiting, no limit.",
        "10. Queued in General (general) with priority 50.",
    ]


def test_the_explanation_lists_warnings_and_errors():
    snap = snapshot(
        fields=[field("a", "A", type="number"), field("b", "B", required=True)],
    )
    decision = route(snap, request(variables={"a": "many"}))
    assert decision.errors == {"B": "Required context field B (from b) is missing."}
    lines = explain_text(decision)
    assert "Warning: Context field A (from a) is not a number; left out." in lines
    assert "Error: Required context field B (from b) is missing." in lines


def test_the_explanation_never_shows_a_masked_value():
    snap = snapshot(
        fields=[field("card", "Card", transform="mask_all")],
        rules=[rule("Amex", 1, all_of(("variables.card", "starts_with", "37")), "billing")],
    )
    body = request(
        variables={"card": "4111111111111111"},
        transcript=[{"from": "customer", "text": "4111111111111111"}],
    )
    decision = route(snap, body)
    assert "4111111111111111" not in json.dumps(decision.explanation)
    assert 'variables.card is "****************"' in steps(decision, "rule")[0]["text"]


# -- masking everywhere ----------------------------------------------------------------------


def test_a_masked_value_is_masked_in_the_transcript_variables_customer_and_message():
    snap = snapshot(
        fields=[
            field("card", "Card", transform="mask_keep_last4"),
            field("customer.email", "Email", transform="redact_email"),
            field("customer.phone", "Phone", transform="mask_keep_last4"),
        ],
        rules=[rule("R", 1, {"all": []}, "billing", agent_message="Card {context.Card}")],
    )
    body = request(
        customer={"name": "Alice", "email": "Alice@Example.com", "phone": "+33612345678"},
        variables={
            "card": " 4111111111111111 ",
            "note": "card 4111111111111111, ok",
            "n": 4111111111111111,
        },
        transcript=[
            {"from": "customer", "text": "My card is 4111111111111111 and mail alice@example.com"},
            {"from": "bot", "text": "Call +33612345678?", "at": "2026-11-25T09:00:00Z"},
        ],
        agent_message="Card 4111111111111111, phone +33612345678",
    )
    decision = route(snap, body)
    stored = json.dumps(decision.to_dict())
    for secret in ("4111111111111111", "Alice@Example.com", "alice@example.com", "+33612345678"):
        assert secret not in stored
    assert decision.context == {
        "Card": "************1111",
        "Email": "A***@Example.com",
        "Phone": "********5678",
    }
    assert decision.variables == {
        "card": " ************1111 ",
        "note": "card ************1111, ok",
        "n": "************1111",
    }
    assert decision.customer == {
        "name": "Alice",
        "email": "A***@Example.com",
        "phone": "********5678",
    }
    assert decision.transcript == [
        {"from": "customer", "text": "My card is ************1111 and mail A***@Example.com"},
        {"from": "bot", "text": "Call ********5678?", "at": "2026-11-25T09:00:00Z"},
    ]
    assert (
        decision.agent_message
        == "Card ************1111\n\nCard ************1111, phone ********5678"
    )


def test_it_does_not_change_the_request():
    body = request(variables={"card": "4111111111111111"})
    before = copy.deepcopy(body)
    route(snapshot(fields=[field("card", "Card", transform="mask_all")]), body)
    assert body == before


def test_the_decision_is_json_serialisable():
    snap = snapshot(fields=[field("when", "When", type="datetime")])
    decision = route(snap, request(variables={"when": "2026-11-25T10:00:00Z"}))
    assert decision.context == {"When": "2026-11-25T10:00:00+00:00"}
    json.dumps(decision.to_dict())


# -- the compiled snapshot -------------------------------------------------------------------


def test_it_accepts_a_compiled_snapshot():
    snap = snapshot(rules=[rule("Billing", 1, all_of(("topic", "eq", "billing")), "billing")])
    assert route(compile_snapshot(snap)).rule == "Billing"


def test_it_notices_rules_added_to_a_snapshot_in_place():
    snap = snapshot(rules=[rule("Refund", 1, all_of(("topic", "eq", "refund")), "billing")])
    assert route(snap).rule is None
    snap["rules"].append(rule("Billing", 2, all_of(("topic", "eq", "billing")), "billing"))
    assert route(snap).rule == "Billing"


def test_it_survives_a_minimal_snapshot():
    decision = route({"queues": [{"key": "only", "fallback": True}]}, {})
    assert (decision.status, decision.queue_key, decision.queue_name) == ("queued", "only", "only")


# -- never raises ----------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
NAMES = st.sampled_from(["card", "amount", "vip", "when", "email", "plan", "x"])

FUZZ_SNAPSHOT = snapshot(
    queues=[
        queue("general", fallback=True),
        queue(
            "billing",
            hours=PARIS_9_TO_17,
            max_waiting=3,
            overflow=overflow(
                when_closed=action("transfer", queue="general"),
                when_full=action("reject", message="Full."),
            ),
        ),
    ],
    fields=[
        field("card", "Card", transform="mask_keep_last4"),
        field("amount", "Amount", type="number", default=0),
        field("vip", "Vip", type="boolean", transform="mask_all"),
        field("when", "When", type="datetime"),
        field("customer.email", "Email", transform="redact_email", max_length=50),
        field("plan", "Plan", transform="trim", required=True),
        field("va_Topics", "Topics"),
        field("x", "X", type="number", transform="mask_all"),
    ],
    rules=[
        rule(
            f"R{op}",
            i,
            all_of((f"{src}.{name}", op, value)),
            "billing",
            agent_message="{context.Card} {variables.x}",
        )
        for i, (op, value) in enumerate(
            [
                ("eq", "gold"),
                ("ne", 1),
                ("in", ["a", 1, True, None]),
                ("not_in", ["b"]),
                ("contains", "1"),
                ("starts_with", "4"),
                ("gt", 10),
                ("gte", 0.5),
                ("lt", -1),
                ("lte", 3),
                ("exists", None),
                ("not_exists", None),
                ("matches", r"^\d+$"),
            ]
        )
        for src, name in (("variables", "x"), ("context", "Amount"), ("customer", "email"))
    ],
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    variables=st.dictionaries(NAMES, JSON, max_size=7),
    customer=st.dictionaries(
        st.sampled_from(["id", "name", "email", "phone", "z"]), JSON, max_size=5
    ),
    transcript=st.lists(
        st.fixed_dictionaries(
            {"from": st.sampled_from(["customer", "bot", "system"]), "text": JSON}
        )
        | JSON,
        max_size=5,
    ),
    topic=st.none() | st.text(max_size=10),
    waiting=st.integers(min_value=0, max_value=5),
)
def test_it_never_raises_on_arbitrary_json_values(variables, customer, transcript, topic, waiting):
    body = request(variables=variables, customer=customer, transcript=transcript, topic=topic)
    decision = route(FUZZ_SNAPSHOT, body, states={"billing": QueueState(waiting=waiting)})
    assert decision.status in ("queued", "rejected")
    json.dumps(decision.to_dict())
    assert explain_text(decision)


@settings(max_examples=100, deadline=None)
@given(body=st.dictionaries(st.text(max_size=15), JSON, max_size=8))
def test_it_never_raises_on_an_arbitrary_request(body):
    decision = route(FUZZ_SNAPSHOT, body)
    json.dumps(decision.to_dict())


@settings(max_examples=200, deadline=None)
@given(secret=st.text(min_size=4, max_size=20).filter(lambda s: s.strip() == s and s.strip()))
@example(secret="text")  # also a key of every transcript turn
def test_a_masked_variable_never_survives_verbatim(secret):
    snap = snapshot(fields=[field("s", "S", transform="mask_all")])
    body = request(
        variables={"s": secret, "copy": f"x {secret} y"},
        transcript=[{"from": "customer", "text": f"it is {secret}!"}],
        customer={"name": secret},
    )
    decision = route(snap, body)
    # Every stored value, not the JSON around them: a secret such as "text" or "name" is also
    # a key of the transcript and the customer, and keys are ours, not the customer's data.
    stored = "\x00".join(
        string_values([decision.variables, decision.transcript, decision.customer])
    )
    assert secret not in stored or secret in "*" * 20


def string_values(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in string_values(v)]
    if isinstance(value, list):
        return [s for v in value for s in string_values(v)]
    return [value] if isinstance(value, str) else []
