"""The config document (docs/config-format.md): export, import, publish, roll back, audit.

The draft tables are the configuration makers and admins edit; `export_document` turns them
into the canonical document and `import_document` replaces them with a document, all or
nothing. Publishing stores the canonical document as an immutable `ConfigVersion`, which is
what the runtime routes with. Validation lives in handoff/config/validation.py.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from handoff.config.diff import config_diff
from handoff.config.validation import (
    FORMAT,
    SECTION_IDS,
    SYSTEM_TOPICS,
    VERSION,
    ConfigDocumentError,
    ConfigError,
    validate_document,
)
from handoff.crypto import new_webhook_secret
from handoff.errors import Refused
from handoff.models import (
    AgentSkill,
    AuditEntry,
    Bot,
    Channel,
    ConfigVersion,
    ContextField,
    EscalationRule,
    Queue,
    QueueMembership,
    Skill,
    Topic,
    TopicNode,
    User,
)
from handoff.roles import ADMIN, has_role

__all__ = [
    "ADMIN_SECTIONS",
    "FORMAT",
    "AdminOnlyChanges",
    "ConfigDocumentError",
    "ConfigError",
    "ImportResult",
    "admin_only_changes",
    "audit",
    "config_publish",
    "config_rollback",
    "export_document",
    "has_unpublished_changes",
    "import_document",
    "latest_version",
    "validate_document",
]

# What only admins edit in the portal; makers author the other sections (topics, context
# fields, rules). A maker's import or rollback may not change these (docs/publishing.md).
ADMIN_SECTIONS = ("channels", "queues", "skills", "agents", "bots")
ADMIN_OBJECTS = {
    "channel": gettext_lazy("Channel"),
    "queue": gettext_lazy("Queue"),
    "skill": gettext_lazy("Skill"),
    "agent": gettext_lazy("Skills of agent"),
    "bot": gettext_lazy("Bot"),
}


class AdminOnlyChanges(Refused):
    """A maker's import or rollback would change what only admins edit (ADMIN_SECTIONS)."""

    def __init__(self, changes: list[str]) -> None:
        super().__init__(
            _(
                "Only an admin may make this change: it would change channels, queues, "
                "skills or bots, which only admins edit."
            ),
            code="admin_only",
            fields={"changes": changes},
        )
        self.changes = changes


@dataclass
class ImportResult:
    document: dict
    created: list[str] = field(default_factory=list)  # "queue:billing", ...
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    created_users: list[str] = field(default_factory=list)
    version: ConfigVersion | None = None

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def audit(
    *,
    user: Any,
    action: str,
    object_type: str = "",
    object_key: str = "",
    detail: dict | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        action=action,
        object_type=object_type,
        object_key=object_key[:200],
        detail=detail or {},
    )


# -- export ---------------------------------------------------------------------------------------


def export_document() -> dict:
    """The draft configuration as the canonical document, without secrets or API keys."""
    # Sorted in Python: database collations order strings differently (and differently
    # between SQLite and PostgreSQL), and the export must be byte-identical everywhere.
    members: dict[int, list[dict]] = {}
    for m in QueueMembership.objects.select_related("user"):
        members.setdefault(m.queue_id, []).append(
            {"username": m.user.username, "capacity": m.capacity}
        )
    for rows in members.values():
        rows.sort(key=lambda m: m["username"])
    agents: dict[str, dict[str, int]] = {}
    for s in sorted(
        AgentSkill.objects.select_related("user", "skill"),
        key=lambda s: (s.user.username, s.skill.key),
    ):
        agents.setdefault(s.user.username, {})[s.skill.key] = s.proficiency
    queues = _by_key(Queue.objects.select_related("when_closed_queue", "when_full_queue"))
    bots = _by_key(Bot.objects.prefetch_related("channels"))
    topics = _by_key(Topic.objects.prefetch_related("nodes"))
    return {
        "format": FORMAT,
        "version": VERSION,
        "channels": [
            {"key": ch.key, "name": ch.name, "kind": ch.kind, "enabled": ch.enabled}
            for ch in _by_key(Channel.objects.all())
        ],
        "queues": [_export_queue(q, members.get(q.pk, [])) for q in queues],
        "skills": [{"key": s.key, "name": s.name} for s in _by_key(Skill.objects.all())],
        "agents": [{"username": name, "skills": skills} for name, skills in sorted(agents.items())],
        "bots": [
            {
                "key": b.key,
                "name": b.name,
                "channels": sorted(ch.key for ch in b.channels.all()),
                "status_callback_url": b.status_callback_url or None,
            }
            for b in bots
        ],
        "topics": [
            {
                "key": t.key,
                "name": t.name,
                "trigger_phrases": list(t.trigger_phrases),
                "nodes": [_export_node(n) for n in sorted(t.nodes.all(), key=lambda n: n.position)],
            }
            for t in topics
        ],
        "context_fields": [
            {
                "source": f.source,
                "target": f.target,
                "type": f.type,
                "required": f.required,
                "default": f.default,
                "transform": f.transform or None,
                "max_length": f.max_length,
                "visible_to_agent": f.visible_to_agent,
                "label": f.label,
            }
            for f in ContextField.objects.order_by("position", "id")
        ],
        "rules": [
            {
                "name": r.name,
                "order": r.order,
                "enabled": r.enabled,
                "conditions": r.conditions,
                "queue": r.queue.key,
                "priority": r.priority,
                "require_skills": dict(sorted(r.require_skills.items())),
                "agent_message": r.agent_message,
            }
            for r in sorted(
                EscalationRule.objects.select_related("queue"), key=lambda r: (r.order, r.name)
            )
        ],
    }


def _by_key(rows: Any) -> list:
    return sorted(rows, key=lambda row: row.key)


def _export_action(action: str | None, message: str, queue: Queue | None) -> dict | None:
    if not action:
        return None
    return {"action": action, "message": message or None, "queue": queue.key if queue else None}


def _export_queue(q: Queue, members: list[dict]) -> dict:
    overflow: dict | None = {
        "when_closed": _export_action(
            q.when_closed_action, q.when_closed_message, q.when_closed_queue
        ),
        "when_full": _export_action(q.when_full_action, q.when_full_message, q.when_full_queue),
        "max_wait_seconds": q.max_wait_seconds,
    }
    if overflow and all(v is None for v in overflow.values()):
        overflow = None
    delivery: dict = {"kind": q.delivery_kind}
    if q.delivery_kind == Queue.DeliveryKind.WEBHOOK:
        delivery["url"] = q.webhook_url  # never the secret (docs/config-format.md)
    return {
        "key": q.key,
        "name": q.name,
        "priority": q.priority,
        "distribution": q.distribution,
        "assignment": q.assignment or None,
        "max_waiting": q.max_waiting,
        "offer_timeout_seconds": q.offer_timeout_seconds,
        "fallback": q.is_fallback,
        "hours": q.hours,
        "overflow": overflow,
        "delivery": delivery,
        "skill_matching": q.skill_matching,
        "skill_relax_after_seconds": q.skill_relax_after_seconds,
        "members": members,
    }


def _export_node(n: TopicNode) -> dict:
    out: dict[str, Any] = {"id": n.node_id, "type": n.type}
    if n.type == "message":
        out["text"] = n.text
    elif n.type == "question":
        out.update(
            prompt=n.text, variable=n.variable, value_type=n.value_type, choices=list(n.choices)
        )
    elif n.type == "condition":
        out.update(variable=n.variable, op=n.operator, value=n.value, goto=n.goto)
    elif n.type == "transfer":
        out.update(agent_message=n.text, reason=n.reason)
    return out


# -- import ---------------------------------------------------------------------------------------


def import_document(
    doc: Any,
    *,
    user: Any = None,
    create_users: bool = False,
    publish: bool = False,
    note: str = "",
) -> ImportResult:
    """Replace the draft with `doc`, all or nothing; raises ConfigDocumentError, or
    AdminOnlyChanges when `user` is not an admin and `doc` changes an admin's section."""
    normalised, errors = validate_document(doc, create_users=create_users)
    if errors:
        raise ConfigDocumentError(errors)
    with transaction.atomic():
        before = export_document()
        # No user is the operator (manage.py); in the portal only admins change their sections.
        if user is not None and not has_role(user, ADMIN):
            changes = admin_only_changes(before, normalised)
            if changes:
                raise AdminOnlyChanges(changes)
        result = ImportResult(document=normalised)
        result.created_users = _create_missing_users(normalised)
        _apply(normalised)
        _audit_changes(result, before, normalised, user)
        audit(
            user=user,
            action="import",
            object_type="config",
            detail={
                "note": note,
                "created": result.created,
                "updated": result.updated,
                "deleted": result.deleted,
                "created_users": result.created_users,
            },
        )
        if publish:
            result.version = config_publish(user=user, note=note)
    return result


def admin_only_changes(before: dict, after: dict) -> list[str]:
    """What going from `before` to `after` changes in ADMIN_SECTIONS, one sentence an item."""
    lines = []
    for section in config_diff(before, after):
        if section.section not in ADMIN_SECTIONS:
            continue
        label = str(ADMIN_OBJECTS[section.object_type])
        for item in section.items:
            values = {"object": label, "key": item.key}
            if item.kind == "added":
                lines.append(_("%(object)s “%(key)s” would be added") % values)
            elif item.kind == "removed" and section.section == "bots":
                lines.append(_("Bot “%(key)s” would be removed, with its API keys") % values)
            elif item.kind == "removed":
                lines.append(_("%(object)s “%(key)s” would be removed") % values)
            else:
                fields = ", ".join(_changed_fields([f.path for f in item.fields]))
                lines.append(
                    _("%(object)s “%(key)s” would change: %(fields)s")
                    % {**values, "fields": fields}
                )
    return lines


def _changed_fields(paths: list[str]) -> list[str]:
    """members[ann].capacity -> members[ann]; an emptied list ("members") goes with its items."""
    short = list(dict.fromkeys(re.sub(r"\].*", "]", path) for path in paths))
    return [p for p in short if not any(other.startswith(p + "[") for other in short)]


def _create_missing_users(doc: dict) -> list[str]:
    names = {m["username"] for q in doc["queues"] for m in q["members"]}
    names |= {a["username"] for a in doc["agents"]}
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    created = sorted(names - existing)
    for name in created:
        # Inactive and without a password: an admin activates them and sets one.
        new = User(username=name, is_active=False)
        new.set_unusable_password()
        new.save()
    return created


def _apply(doc: dict) -> None:
    channels = _upsert(
        Channel,
        "key",
        doc["channels"],
        lambda c: {"name": c["name"], "kind": c["kind"], "enabled": c["enabled"]},
    )
    skills = _upsert(Skill, "key", doc["skills"], lambda s: {"name": s["name"]})
    users = {u.username: u for u in User.objects.filter(username__in=_usernames(doc))}
    queues = _apply_queues(doc["queues"], users)
    _apply_agent_skills(doc["agents"], users, skills)
    bots = _upsert(
        Bot,
        "key",
        doc["bots"],
        lambda b: {"name": b["name"], "status_callback_url": b["status_callback_url"]},
    )
    for b in doc["bots"]:
        bots[b["key"]].channels.set([channels[key] for key in b["channels"]])
    # Validation made sure no bot with handoffs is among these (Handoff.bot protects it).
    Bot.objects.exclude(key__in=bots).delete()
    _apply_topics(doc["topics"])
    fields = {f["target"]: f for f in doc["context_fields"]}
    position = {f["target"]: i for i, f in enumerate(doc["context_fields"])}
    ContextField.objects.exclude(target__in=fields).delete()
    for target, f in fields.items():
        values = {k: v for k, v in f.items() if k != "target"}
        ContextField.objects.update_or_create(
            target=target, defaults={**values, "position": position[target]}
        )
    rules = {r["name"]: r for r in doc["rules"]}
    EscalationRule.objects.exclude(name__in=rules).delete()
    for name, r in rules.items():
        values = {k: v for k, v in r.items() if k not in ("name", "queue")}
        EscalationRule.objects.update_or_create(
            name=name, defaults={**values, "queue": queues[r["queue"]]}
        )
    # Last: nothing kept refers to these any more (rules and overflow were rewritten above).
    gone = Queue.objects.exclude(key__in=queues)
    gone.update(when_closed_queue=None, when_full_queue=None)
    gone.delete()
    Channel.objects.exclude(key__in=channels).delete()
    Skill.objects.exclude(key__in=skills).delete()


def _usernames(doc: dict) -> set[str]:
    names = {m["username"] for q in doc["queues"] for m in q["members"]}
    return names | {a["username"] for a in doc["agents"]}


def _upsert(model: Any, key: str, items: list[dict], values: Any) -> dict[str, Any]:
    """Update rows whose key persists (their ids survive), create the rest."""
    rows = {}
    for item in items:
        row, _ = model.objects.update_or_create(**{key: item[key]}, defaults=values(item))
        rows[item[key]] = row
    return rows


def _apply_queues(items: list[dict], users: dict[str, User]) -> dict[str, Queue]:
    fallback = next(q["key"] for q in items if q["fallback"])
    # Only one fallback row may exist at any moment (a partial unique index).
    Queue.objects.exclude(key=fallback).filter(is_fallback=True).update(is_fallback=False)
    existing = {q.key: q for q in Queue.objects.all()}
    queues: dict[str, Queue] = {}
    for item in items:
        q = existing.get(item["key"]) or Queue(key=item["key"])
        delivery = item["delivery"]
        if delivery["kind"] == "webhook":
            # Keep the stored secret when the document has none (exports never carry it).
            secret = delivery.get("secret") or q.webhook_secret or new_webhook_secret()
            url = delivery["url"]
        else:
            secret, url = "", ""
        q.name = item["name"]
        q.priority = item["priority"]
        q.distribution = item["distribution"]
        q.assignment = item["assignment"]
        q.max_waiting = item["max_waiting"]
        q.offer_timeout_seconds = item["offer_timeout_seconds"]
        q.is_fallback = item["fallback"]
        q.hours = item["hours"]
        q.delivery_kind = delivery["kind"]
        q.webhook_url = url
        q.webhook_secret = secret
        q.skill_matching = item["skill_matching"]
        q.skill_relax_after_seconds = item["skill_relax_after_seconds"]
        # Overflow targets may be queues created later in this loop: set them below.
        q.when_closed_queue = None
        q.when_full_queue = None
        q.save()
        queues[item["key"]] = q
    for item in items:
        q = queues[item["key"]]
        overflow = item["overflow"] or {}
        for part in ("when_closed", "when_full"):
            action = overflow.get(part)
            setattr(q, f"{part}_action", action["action"] if action else None)
            setattr(q, f"{part}_message", (action["message"] or "") if action else "")
            target = action["queue"] if action else None
            setattr(q, f"{part}_queue", queues[target] if target else None)
        q.max_wait_seconds = overflow.get("max_wait_seconds")
        q.save()
        _apply_members(q, item["members"], users)
    return queues


def _apply_members(queue: Queue, members: list[dict], users: dict[str, User]) -> None:
    wanted = {m["username"]: m["capacity"] for m in members}
    # Memberships keep their ids and active_count: open work stays accounted for.
    queue.memberships.exclude(user__username__in=wanted).delete()
    current = {m.user.username: m for m in queue.memberships.select_related("user")}
    for name, capacity in wanted.items():
        membership = current.get(name)
        if membership is None:
            QueueMembership.objects.create(queue=queue, user=users[name], capacity=capacity)
        elif membership.capacity != capacity:
            membership.capacity = capacity
            membership.save(update_fields=["capacity"])


def _apply_agent_skills(
    agents: list[dict], users: dict[str, User], skills: dict[str, Skill]
) -> None:
    wanted = {(a["username"], key): level for a in agents for key, level in a["skills"].items()}
    current = {(s.user.username, s.skill.key): s for s in AgentSkill.objects.select_related()}
    for pair, row in current.items():
        if pair not in wanted:
            row.delete()
        elif row.proficiency != wanted[pair]:
            row.proficiency = wanted[pair]
            row.save(update_fields=["proficiency"])
    for (name, key), level in wanted.items():
        if (name, key) not in current:
            AgentSkill.objects.create(user=users[name], skill=skills[key], proficiency=level)


def _apply_topics(items: list[dict]) -> None:
    keys = [t["key"] for t in items]
    Topic.objects.exclude(key__in=keys).exclude(key__in=SYSTEM_TOPICS).delete()
    for item in items:
        topic, _ = Topic.objects.update_or_create(
            key=item["key"],
            defaults={
                "name": item["name"],
                "trigger_phrases": item["trigger_phrases"],
                "is_system": item["key"] in SYSTEM_TOPICS,
            },
        )
        # Nodes have no identity outside their topic: replace them wholesale.
        topic.nodes.all().delete()
        TopicNode.objects.bulk_create(
            [_node_row(topic, i, node) for i, node in enumerate(item["nodes"])]
        )


def _node_row(topic: Topic, position: int, node: dict) -> TopicNode:
    row = TopicNode(topic=topic, position=position, node_id=node["id"], type=node["type"])
    if node["type"] == "message":
        row.text = node["text"]
    elif node["type"] == "question":
        row.text = node["prompt"]
        row.variable = node["variable"]
        row.value_type = node["value_type"]
        row.choices = node["choices"]
    elif node["type"] == "condition":
        row.variable = node["variable"]
        row.operator = node["op"]
        row.value = node["value"]
        row.goto = node["goto"]
    elif node["type"] == "transfer":
        row.text = node["agent_message"]
        row.reason = node["reason"]
    return row


def _audit_changes(result: ImportResult, before: dict, after: dict, user: Any) -> None:
    for section, (object_type, id_key) in SECTION_IDS.items():
        old = {item[id_key]: item for item in before[section]}
        new = {item[id_key]: _without_secret(item) for item in after[section]}
        for key in new.keys() - old.keys():
            result.created.append(f"{object_type}:{key}")
        for key in old.keys() - new.keys():
            result.deleted.append(f"{object_type}:{key}")
        for key in new.keys() & old.keys():
            if new[key] != old[key]:
                result.updated.append(f"{object_type}:{key}")
    for action, entries in (
        ("create", result.created),
        ("update", result.updated),
        ("delete", result.deleted),
    ):
        entries.sort()
        for entry in entries:
            object_type, _, object_key = entry.partition(":")
            audit(
                user=user,
                action=action,
                object_type=object_type,
                object_key=object_key,
                detail={"via": "import"},
            )


def _without_secret(item: dict) -> dict:
    delivery = item.get("delivery")
    if isinstance(delivery, dict) and "secret" in delivery:
        return {**item, "delivery": {k: v for k, v in delivery.items() if k != "secret"}}
    return item


# -- versions -------------------------------------------------------------------------------------


def latest_version() -> ConfigVersion | None:
    return ConfigVersion.objects.order_by("-number").first()


def has_unpublished_changes() -> bool:
    latest = latest_version()
    return latest is None or export_document() != latest.document


def config_publish(*, user: Any = None, note: str = "") -> ConfigVersion:
    return _publish(user=user, note=note, rolled_back_from=None)


def config_rollback(*, number: int, user: Any = None) -> ConfigVersion:
    """Make version `number` the draft again and publish it as a new version."""
    old = ConfigVersion.objects.get(number=number)
    with transaction.atomic():
        import_document(old.document, user=user, note=f"rollback to version {number}")
        version = _publish(user=user, note=f"Rollback to version {number}", rolled_back_from=number)
        audit(
            user=user,
            action="rollback",
            object_type="config",
            object_key=str(version.number),
            detail={"from": number},
        )
    return version


def _publish(*, user: Any, note: str, rolled_back_from: int | None) -> ConfigVersion:
    with transaction.atomic():
        document, errors = validate_document(export_document())
        if errors:
            raise ConfigDocumentError(errors)
        # Lock the newest version so that two publishes cannot take the same number.
        last = ConfigVersion.objects.select_for_update().order_by("-number").first()
        version = ConfigVersion.objects.create(
            number=(last.number if last else 0) + 1,
            document=document,
            created_by=user if user is not None and user.is_authenticated else None,
            note=note[:500],
            rolled_back_from=rolled_back_from,
        )
        _publish_webhooks(document)
        audit(
            user=user,
            action="publish",
            object_type="config",
            object_key=str(version.number),
            detail={"note": note, "rolled_back_from": rolled_back_from},
        )
    return version


def render_document(doc: dict[str, Any]) -> str:
    """The document as JSON text. One fixed rendering, so that export -> import -> export is
    byte-identical (the command line and the portal both write it)."""
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _publish_webhooks(document: dict) -> None:
    """Make each queue's webhook as published: the document's URL and the secret the draft
    holds now, copied together (docs/delivery.md). A queue that is not a webhook in the
    document has none. A new URL clears a disabled endpoint (410 Gone): it is another receiver.
    """
    urls = {
        q["key"]: q["delivery"].get("url") or ""
        for q in document["queues"]
        if q["delivery"]["kind"] == Queue.DeliveryKind.WEBHOOK
    }
    for queue in Queue.objects.select_for_update():
        url = urls.get(queue.key, "")
        secret = queue.webhook_secret if url else ""
        fields = {"published_webhook_url": url, "published_webhook_secret": secret}
        if url != queue.published_webhook_url:
            fields |= {"webhook_disabled_at": None, "webhook_disabled_error": ""}
        changed = [name for name, value in fields.items() if getattr(queue, name) != value]
        for name in changed:
            setattr(queue, name, fields[name])
        if changed:
            queue.save(update_fields=changed)
