"""Planning an intake (handoff/engine/intake.py): the refusals every face shares, then routing."""

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from handoff.config.snapshot import snapshot_of
from handoff.engine.intake import NotConfigured, intake_check, intake_plan
from handoff.engine.routing import QueueState
from handoff.errors import HTTP_STATUS, DomainError, Invalid, Kind, Refused
from tests.api.conftest import DOCUMENT

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SNAPSHOT = snapshot_of(copy.deepcopy(DOCUMENT), version_id=1, number=1)


def no_queues(_now: datetime) -> dict[str, QueueState]:
    return {}


def body(**extra: Any) -> dict[str, Any]:
    return {"conversation_id": "c-1", "channel": "webchat", "topic": "billing", **extra}


@pytest.mark.parametrize(
    ("change", "error", "code", "fields"),
    [
        ({"channel": "pigeon"}, Invalid, "invalid", {"channel": "Unknown channel key."}),
        ({"topic": "nothing"}, Invalid, "invalid", {"topic": "Unknown topic key."}),
        # An unknown channel is named before an unknown topic.
        (
            {"channel": "pigeon", "topic": "x"},
            Invalid,
            "invalid",
            {"channel": "Unknown channel key."},
        ),
        ({"channel": "sms"}, Refused, "channel_disabled", {}),
        ({"channel": "teams"}, Refused, "channel_not_allowed", {}),
    ],
)
def test_it_refuses_what_the_configuration_does_not_allow(
    change: dict, error: type[DomainError], code: str, fields: dict
) -> None:
    with pytest.raises(error) as caught:
        intake_plan(
            SNAPSHOT, body(**change), bot_key="support-bot", now=NOW, queue_states=no_queues
        )
    assert caught.value.code == code
    assert caught.value.fields == fields


def test_it_lets_the_portal_test_bot_use_any_enabled_channel() -> None:
    with pytest.raises(Refused):
        intake_check(SNAPSHOT, bot_key="support-bot", channel="teams")
    assert intake_check(SNAPSHOT, bot_key="support-bot", channel="teams", any_channel=True)
    with pytest.raises(Refused):
        intake_check(SNAPSHOT, bot_key="support-bot", channel="sms", any_channel=True)


def test_it_is_unavailable_before_anything_is_published() -> None:
    loaded: list[datetime] = []
    with pytest.raises(NotConfigured) as caught:
        intake_plan(None, body(), bot_key="b", now=NOW, queue_states=loaded.append)  # type: ignore[arg-type]
    assert caught.value.kind == Kind.UNAVAILABLE
    assert caught.value.code == "not_configured"
    assert HTTP_STATUS[caught.value.kind] == 503
    assert loaded == []  # refused before the queues' state is read


def test_it_explains_the_decision_even_when_required_context_is_missing() -> None:
    document = copy.deepcopy(DOCUMENT)
    document["context_fields"][0]["required"] = True
    plan = intake_plan(
        snapshot_of(document), body(), bot_key="support-bot", now=NOW, queue_states=no_queues
    )
    assert plan.decision.rule == "Billing"
    assert plan.refusal is not None
    assert (plan.refusal.kind, plan.refusal.code) == (Kind.UNPROCESSABLE, "context_invalid")
    assert list(plan.refusal.fields) == ["context.OrderNumber"]


def test_it_routes_with_the_queue_states_it_loaded() -> None:
    states = {"billing": QueueState(waiting=3)}
    plan = intake_plan(
        SNAPSHOT, body(), bot_key="support-bot", now=NOW, queue_states=lambda _now: states
    )
    assert plan.refusal is None
    assert (plan.decision.queue_key, plan.decision.status) == ("billing", "queued")
    assert plan.queue_states is states
    assert plan.config is SNAPSHOT


def test_every_kind_has_an_http_status() -> None:
    assert set(HTTP_STATUS) == set(Kind)
