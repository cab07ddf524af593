"""One vocabulary: the config validator, the portal's forms, the models and their database
checks accept the same values, those of handoff/engine/vocabulary.py."""

from typing import Any

import pytest
from django.db import models

from handoff.config import validation as cv
from handoff.engine import vocabulary as v
from handoff.engine.conditions import OP_WORDS
from handoff.models import (
    Channel,
    ContextField,
    Conversation,
    Handoff,
    Queue,
    Topic,
    TopicNode,
    User,
)
from portal.forms import ChannelForm, QueueForm
from portal.maker_forms import (
    OP_LABELS,
    OPS_BY_TYPE,
    REASONS,
    ConditionForm,
    ContextFieldForm,
    NodeForm,
)


def form_choices(form: Any, name: str) -> set[str]:
    return {str(value) for value, _label in form.fields[name].choices if value != ""}


def model_choices(model: type[models.Model], name: str) -> set[str]:
    field: Any = model._meta.get_field(name)
    return {str(value) for value, _label in field.choices or []}


def checked(model: type[models.Model], constraint: str, lookup: str) -> set[str]:
    """The values a check constraint's `lookup` (such as "kind__in") lists."""
    found = next(c for c in model._meta.constraints if c.name == constraint)
    condition = found.condition  # type: ignore[attr-defined]
    stack = [condition]
    while stack:
        node = stack.pop()
        for child in node.children:
            if isinstance(child, tuple) and child[0] == lookup:
                return set(child[1])
            if not isinstance(child, tuple):
                stack.append(child)
    raise AssertionError(f"{constraint} has no {lookup}")


def every(enum: type[v.StrEnum]) -> set[str]:
    return set(v.values(enum))


@pytest.fixture
def queue_form(db: Any) -> QueueForm:
    return QueueForm()


def test_the_queue_settings_agree(queue_form: QueueForm) -> None:
    for enum, document, field, constraint in [
        (v.Distribution, cv.DISTRIBUTIONS, "distribution", "queue_distribution_valid"),
        (v.AssignmentMethod, cv.ASSIGNMENTS, "assignment", "queue_assignment_matches_distribution"),
        (v.DeliveryKind, cv.DELIVERY_KINDS, "delivery_kind", "queue_delivery_kind_valid"),
        (v.SkillMatching, cv.SKILL_MATCHING, "skill_matching", "queue_skill_matching_valid"),
    ]:
        expected = every(enum)
        assert set(document) == expected, field
        assert model_choices(Queue, field) == expected, field
        assert form_choices(queue_form, field) == expected, field
        assert checked(Queue, constraint, f"{field}__in") == expected, field


def test_the_overflow_actions_agree(queue_form: QueueForm) -> None:
    expected = every(v.OverflowAction)
    assert set(cv.OVERFLOW_ACTIONS) == expected
    for when in ("when_closed_action", "when_full_action"):
        assert model_choices(Queue, when) == expected
        assert form_choices(queue_form, when) == expected


def test_the_channel_kinds_agree(db: Any) -> None:
    expected = every(v.ChannelKind)
    assert set(cv.CHANNEL_KINDS) == expected
    assert model_choices(Channel, "kind") == expected
    assert form_choices(ChannelForm(), "kind") == expected
    assert checked(Channel, "channel_kind_valid", "kind__in") == expected


def test_the_node_types_and_answer_types_agree(db: Any) -> None:
    form = NodeForm(topic=Topic.objects.create(key="t", name="T"))
    assert set(cv.NODE_TYPES) == every(v.NodeType)
    assert model_choices(TopicNode, "type") == every(v.NodeType)
    assert form_choices(form, "type") == every(v.NodeType)
    assert checked(TopicNode, "topicnode_type_valid", "type__in") == every(v.NodeType)
    assert set(cv.VALUE_TYPES) == every(v.ValueType)
    assert model_choices(TopicNode, "value_type") == every(v.ValueType)
    assert form_choices(form, "value_type") == every(v.ValueType)


def test_the_context_field_types_and_transforms_agree(db: Any) -> None:
    form = ContextFieldForm()
    assert set(cv.FIELD_TYPES) == every(v.FieldType)
    assert model_choices(ContextField, "type") == every(v.FieldType)
    assert form_choices(form, "type") == every(v.FieldType)
    assert checked(ContextField, "contextfield_type_valid", "type__in") == every(v.FieldType)
    assert set(cv.TRANSFORMS) == every(v.Transform)
    assert model_choices(ContextField, "transform") == every(v.Transform)
    assert form_choices(form, "transform") == every(v.Transform)


def test_the_operators_agree(db: Any) -> None:
    expected = every(v.Operator)
    assert set(cv.OPS) == expected
    assert set(OP_WORDS) == expected
    assert set(OP_LABELS) == expected
    node_form = NodeForm(topic=Topic.objects.create(key="t", name="T"))
    assert form_choices(node_form, "operator") == expected
    for ops in OPS_BY_TYPE.values():
        assert set(ops) <= expected
    # Every type a rule field can have offers its operators.
    assert set(OPS_BY_TYPE) == every(v.FieldType) | {"list"}
    condition = ConditionForm(fields={"topic": "text"}, initial={"field": "topic"})
    assert form_choices(condition, "op") == set(OPS_BY_TYPE["text"])


def test_the_statuses_agree() -> None:
    assert model_choices(Handoff, "status") == every(v.HandoffStatus)
    assert checked(Handoff, "handoff_status_valid", "status__in") == every(v.HandoffStatus)
    assert checked(Handoff, "handoff_one_open_per_conversation", "status__in") == set(v.OPEN)
    assert checked(Handoff, "handoff_offered_has_agent", "status__in") == set(v.HELD)
    assert set(Handoff.OPEN) == set(v.OPEN)
    assert model_choices(User, "presence") == every(v.Presence)
    assert checked(User, "user_presence_valid", "presence__in") == every(v.Presence)
    assert model_choices(Conversation, "source") == every(v.ConversationSource)
    assert checked(Conversation, "conversation_source_valid", "source__in") == every(
        v.ConversationSource
    )


def test_the_makers_reasons_are_standard_reasons() -> None:
    assert set(REASONS) < every(v.EscalationReason)
    assert v.EscalationReason.BOT_FRAMEWORK not in REASONS
