"""Writes behind the makers' authoring pages: topics and their nodes, context fields, rules.

Every function records an audit entry. Inputs are validated by portal/maker_forms.py (the
edge) and arrive as plain values and row ids; these functions trust them, except for "is it
still used?" checks that depend on other rows, made inside the transaction that changes the row
while it is locked: renaming or deleting something a rule, mapping or topic uses raises
InUseError, whose `references` list what uses it.
"""

from typing import Any

from django.db import transaction
from django.db.models import Max

from handoff.config.document import audit
from handoff.config.validation import SYSTEM_TOPICS
from handoff.engine.routing import TEMPLATE_RE
from handoff.models import ContextField, EscalationRule, Topic, TopicNode, User
from handoff.services.editing import (
    InUseError,
    condition_items,
    conditions_test,
    fields_save,
    locked,
    refuse_if_used,
    renumber,
    row_delete,
    row_update,
    rows_reorder,
)

__all__ = [
    "InUseError",
    "context_field_create",
    "context_field_delete",
    "context_field_move",
    "context_field_references",
    "context_field_update",
    "rule_create",
    "rule_delete",
    "rule_move",
    "rule_set_enabled",
    "rule_update",
    "topic_create",
    "topic_delete",
    "topic_node_add",
    "topic_node_delete",
    "topic_node_move",
    "topic_node_update",
    "topic_references",
    "topic_update",
    "variable_references",
]


# -- who uses what --------------------------------------------------------------------------------


def _template_names(template: str, source: str) -> set[str]:
    return {m.group(2) for m in TEMPLATE_RE.finditer(template or "") if m.group(1) == source}


def topic_references(key: str) -> list[str]:
    """Rules whose conditions test the topic key (`topic` or `topics`)."""
    rules = EscalationRule.objects.only("name", "conditions").order_by("order", "id")
    return [
        f"rule “{rule.name}”"
        for rule in rules
        if conditions_test(rule.conditions, ("topic", "topics"), key)
    ]


def context_field_references(target: str) -> list[str]:
    """What reads the context variable `target`: rule conditions and agent message templates."""
    refs = []
    for rule in EscalationRule.objects.only("name", "conditions", "agent_message").order_by(
        "order", "id"
    ):
        if any(c.get("field") == f"context.{target}" for c in condition_items(rule.conditions)):
            refs.append(f"rule “{rule.name}” (condition on context.{target})")
        elif target in _template_names(rule.agent_message, "context"):
            refs.append(f"rule “{rule.name}” (agent message)")
    nodes = TopicNode.objects.filter(type=TopicNode.Type.TRANSFER, text__contains="{context.")
    for node in nodes.select_related("topic").order_by("topic__key", "position"):
        if target in _template_names(node.text, "context"):
            refs.append(f"topic “{node.topic.name}” node “{node.node_id}” (agent message)")
    return refs


def variable_references(variable: str, *, exclude_node: int | None = None) -> list[str]:
    """What reads the bot variable `variable`, unless another question still sets it."""
    setters = TopicNode.objects.filter(type=TopicNode.Type.QUESTION, variable=variable)
    if exclude_node is not None:
        setters = setters.exclude(pk=exclude_node)
    if setters.exists():
        return []
    refs = [
        f"context field “{f.target}” (source {f.source})"
        for f in ContextField.objects.filter(source__in=[variable, f"variables.{variable}"])
    ]
    for rule in EscalationRule.objects.only("name", "conditions", "agent_message").order_by(
        "order", "id"
    ):
        tested = any(
            c.get("field") == f"variables.{variable}" for c in condition_items(rule.conditions)
        )
        if tested or variable in _template_names(rule.agent_message, "variables"):
            refs.append(f"rule “{rule.name}”")
    conditions = TopicNode.objects.filter(type=TopicNode.Type.CONDITION, variable=variable)
    for node in conditions.select_related("topic").order_by("topic__key", "position"):
        refs.append(f"topic “{node.topic.name}” node “{node.node_id}”")
    return refs


def _goto_references(topic: Topic, node_id: str, *, exclude_node: int | None = None) -> list[str]:
    jumps = topic.nodes.filter(type=TopicNode.Type.CONDITION, goto=node_id)
    if exclude_node is not None:
        jumps = jumps.exclude(pk=exclude_node)
    return [f"node “{n}” (go to)" for n in jumps.values_list("node_id", flat=True)]


# -- topics ---------------------------------------------------------------------------------------


def topic_create(*, user: User, key: str, name: str, trigger_phrases: list[str]) -> Topic:
    with transaction.atomic():
        # A system topic missing from the draft (it was never imported) may be recreated.
        topic = Topic.objects.create(
            key=key, name=name, trigger_phrases=trigger_phrases, is_system=key in SYSTEM_TOPICS
        )
        audit(user=user, action="create", object_type="topic", object_key=key)
    return topic


def topic_update(
    *, user: User, topic_id: int, key: str, name: str, trigger_phrases: list[str]
) -> Topic:
    """Holds the topic's row lock while it checks that a new key leaves nothing behind."""
    values = {"key": key, "name": name, "trigger_phrases": trigger_phrases}
    return row_update(
        Topic, topic_id, values, user=user, audit_as="topic", refs=_topic_renamed, list_fields=False
    )


def _topic_renamed(topic: Topic) -> list[str]:
    """What a new key would leave behind."""
    return (["it is a system topic"] if topic.is_system else []) + topic_references(topic.key)


def topic_delete(*, user: User, topic_id: int) -> None:
    """Holds the topic's row lock while it checks that nothing uses it."""
    row_delete(Topic, topic_id, user=user, audit_as="topic", refs=_topic_deleted)


def _topic_deleted(topic: Topic) -> list[str]:
    """What deleting the topic would leave behind."""
    refs = topic_references(topic.key)
    if topic.is_system or topic.key in SYSTEM_TOPICS:
        refs.insert(0, "it is a system topic, which always exists")
    return refs


def _node_detail(node: TopicNode) -> dict[str, Any]:
    return {"node": node.node_id, "type": node.type}


def _locked_node(node_pk: int) -> TopicNode:
    """The node with its topic, both rows locked (FOR UPDATE covers every joined table)."""
    return TopicNode.objects.select_for_update().select_related("topic").get(pk=node_pk)


def topic_node_add(*, user: User, topic_id: int, values: dict[str, Any]) -> TopicNode:
    """Append a node; `values` maps TopicNode fields (node_id, type, text, ...) to values."""
    with transaction.atomic():
        # Lock the topic: two makers adding at once must not take the same position.
        topic = locked(Topic, topic_id)
        last = topic.nodes.aggregate(last=Max("position"))["last"]
        node = TopicNode.objects.create(
            topic=topic, position=0 if last is None else last + 1, **values
        )
        audit(
            user=user,
            action="create",
            object_type="topic_node",
            object_key=topic.key,
            detail=_node_detail(node),
        )
    return node


def topic_node_update(*, user: User, node_pk: int, values: dict[str, Any]) -> TopicNode:
    """Holds the topic's and the node's row locks while it checks what reads the node."""
    with transaction.atomic():
        node = _locked_node(node_pk)
        old_node = node.node_id
        refs = []
        if values.get("node_id", old_node) != old_node:
            refs += _goto_references(node.topic, old_node, exclude_node=node.pk)
        # A question that stops setting its variable leaves whatever reads it with nothing.
        still_sets = (
            values.get("type", node.type) == TopicNode.Type.QUESTION
            and values.get("variable", node.variable) == node.variable
        )
        if node.type == TopicNode.Type.QUESTION and node.variable and not still_sets:
            refs += variable_references(node.variable, exclude_node=node.pk)
        refuse_if_used(refs)
        fields_save(node, values)
        audit(
            user=user,
            action="update",
            object_type="topic_node",
            object_key=node.topic.key,
            detail={**_node_detail(node), "old_node": old_node},
        )
    return node


def topic_node_delete(*, user: User, node_pk: int) -> None:
    """Holds the topic's and the node's row locks while it checks what reads the node."""
    with transaction.atomic():
        node = _locked_node(node_pk)
        refs = _goto_references(node.topic, node.node_id, exclude_node=node.pk)
        if node.type == TopicNode.Type.QUESTION and node.variable:
            refs += variable_references(node.variable, exclude_node=node.pk)
        refuse_if_used(refs)
        topic = node.topic
        detail = _node_detail(node)
        node.delete()
        renumber(list(topic.nodes.order_by("position", "id")), "position", start=0)
        audit(
            user=user,
            action="delete",
            object_type="topic_node",
            object_key=topic.key,
            detail=detail,
        )


def topic_node_move(*, user: User, node_pk: int, offset: int) -> None:
    """Move a node `offset` places (-1 up, 1 down); moving past either end does nothing."""
    with transaction.atomic():
        topic = _locked_node(node_pk).topic
        rows = list(topic.nodes.order_by("position", "id"))
        rows_reorder(
            rows,
            node_pk,
            offset,
            user=user,
            field="position",
            start=0,
            audit_as="topic_node",
            name="node_id",
            object_key=topic.key,
        )


# -- context fields -------------------------------------------------------------------------------


def context_field_create(*, user: User, values: dict[str, Any]) -> ContextField:
    """`values` maps ContextField fields (source, target, type, ...) to their values."""
    with transaction.atomic():
        last = ContextField.objects.aggregate(last=Max("position"))["last"]
        field = ContextField.objects.create(position=0 if last is None else last + 1, **values)
        audit(user=user, action="create", object_type="context_field", object_key=field.target)
    return field


def context_field_update(*, user: User, field_id: int, values: dict[str, Any]) -> ContextField:
    """Holds the field's row lock while it checks that a new target leaves nothing behind."""
    return row_update(
        ContextField,
        field_id,
        values,
        user=user,
        audit_as="context_field",
        refs=_field_readers,
        key="target",
    )


def _field_readers(field: ContextField) -> list[str]:
    return context_field_references(field.target)


def context_field_delete(*, user: User, field_id: int) -> None:
    """Holds the field's row lock while it checks that nothing reads it."""
    row_delete(
        ContextField,
        field_id,
        user=user,
        audit_as="context_field",
        refs=_field_readers,
        key="target",
    )


def context_field_move(*, user: User, field_id: int, offset: int) -> None:
    with transaction.atomic():
        rows = list(ContextField.objects.select_for_update().order_by("position", "id"))
        rows_reorder(
            rows,
            field_id,
            offset,
            user=user,
            field="position",
            start=0,
            audit_as="context_field",
            name="target",
        )


# -- escalation rules -----------------------------------------------------------------------------


def rule_create(*, user: User, values: dict[str, Any]) -> EscalationRule:
    """A new rule, evaluated after the existing ones; `values` excludes `order`."""
    with transaction.atomic():
        # Lock the rules (PostgreSQL refuses FOR UPDATE with an aggregate, so read the orders).
        orders = list(EscalationRule.objects.select_for_update().values_list("order", flat=True))
        rule = EscalationRule.objects.create(order=max(orders, default=0) + 1, **values)
        audit(
            user=user,
            action="create",
            object_type="rule",
            object_key=rule.name,
            detail={"queue": rule.queue.key},
        )
    return rule


def rule_update(*, user: User, rule_id: int, values: dict[str, Any]) -> EscalationRule:
    return row_update(EscalationRule, rule_id, values, user=user, audit_as="rule", key="name")


def rule_set_enabled(*, user: User, rule_id: int, enabled: bool) -> EscalationRule:
    with transaction.atomic():
        rule = locked(EscalationRule, rule_id)
        fields_save(rule, {"enabled": enabled})
        audit(
            user=user,
            action="enable" if enabled else "disable",
            object_type="rule",
            object_key=rule.name,
        )
    return rule


def rule_delete(*, user: User, rule_id: int) -> None:
    # Nothing refers to a rule: nothing can stop its deletion.
    row_delete(EscalationRule, rule_id, user=user, audit_as="rule", key="name")


def rule_move(*, user: User, rule_id: int, offset: int) -> None:
    """Move a rule `offset` places in the evaluation order; the orders become 1..n."""
    with transaction.atomic():
        rows = list(EscalationRule.objects.select_for_update().order_by("order", "id"))
        rows_reorder(
            rows, rule_id, offset, user=user, field="order", start=1, audit_as="rule", name="name"
        )
