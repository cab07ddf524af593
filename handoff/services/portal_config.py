"""Writes behind the admin pages of the portal: channels, queues, bots and keys, users.

Every function records an audit entry. Inputs are validated by the portal's forms (the edge);
these functions trust them, except for "is it still used?" checks that depend on other rows.
"""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from handoff.config.document import audit
from handoff.crypto import new_api_key, new_webhook_secret
from handoff.models import (
    AgentSkill,
    ApiKey,
    Bot,
    Channel,
    EscalationRule,
    Queue,
    QueueMembership,
    Skill,
    User,
)
from handoff.services.live import live_capacity_changed
from portal.roles import ROLES


class InUseError(Exception):
    """The object is still used; `references` says by what, in words a user understands."""

    def __init__(self, references: list[str]) -> None:
        super().__init__("; ".join(references))
        self.references = references


# -- who uses what --------------------------------------------------------------------------------


def _conditions_mention(conditions: Any, field: str, value: str) -> bool:
    """Whether a rule's {"all"|"any": [{field, op, value}]} tests `field` against `value`."""
    if not isinstance(conditions, dict):
        return False
    for items in conditions.values():
        for cond in items if isinstance(items, list) else []:
            if not isinstance(cond, dict) or cond.get("field") != field:
                continue
            tested = cond.get("value")
            if tested == value or (isinstance(tested, list) and value in tested):
                return True
    return False


def channel_references(channel: Channel, *, key: str | None = None) -> list[str]:
    """What uses the channel; `key` is the stored key when `channel` holds an unsaved edit."""
    key = key or channel.key
    bots = channel.bots.order_by("key").values_list("name", flat=True)
    refs = [_("bot “%(name)s”") % {"name": name} for name in bots]
    # Rules name channels by key inside their JSON conditions, so no foreign key protects them.
    for rule in EscalationRule.objects.only("name", "conditions"):
        if _conditions_mention(rule.conditions, "channel", key):
            refs.append(_("rule “%(name)s”") % {"name": rule.name})
    return refs


def queue_references(queue: Queue, *, fallback: bool = True) -> list[str]:
    """What uses the queue; `fallback=False` leaves out "it is the fallback queue"."""
    refs = []
    if fallback and queue.is_fallback:
        refs.append(_("it is the fallback queue (make another queue the fallback first)"))
    rules = queue.rules.values_list("name", flat=True)
    refs += [_("rule “%(name)s”") % {"name": name} for name in rules]
    overflowing = Queue.objects.filter(Q(when_closed_queue=queue) | Q(when_full_queue=queue))
    refs += [
        _("queue “%(name)s” (overflow)") % {"name": name}
        for name in overflowing.exclude(pk=queue.pk).values_list("name", flat=True)
    ]
    return refs


def bot_references(bot: Bot) -> list[str]:
    count = bot.handoffs.count()
    if count:
        return [
            ngettext(
                "%(count)d handoff made by this bot (revoke its keys instead)",
                "%(count)d handoffs made by this bot (revoke its keys instead)",
                count,
            )
            % {"count": count}
        ]
    return []


def skill_references(skill: Skill, *, key: str | None = None) -> list[str]:
    """Rules requiring the skill (by key, inside JSON); `key` is the stored key when editing."""
    key = key or skill.key
    return [
        _("rule “%(name)s”") % {"name": rule.name}
        for rule in EscalationRule.objects.only("name", "require_skills")
        if isinstance(rule.require_skills, dict) and key in rule.require_skills
    ]


def _protected_references(error: ProtectedError) -> list[str]:
    return [f"{type(obj)._meta.verbose_name} “{obj}”" for obj in error.protected_objects]


# -- channels -------------------------------------------------------------------------------------


def channel_create(*, user: User, key: str, name: str, kind: str, enabled: bool) -> Channel:
    with transaction.atomic():
        channel = Channel.objects.create(key=key, name=name, kind=kind, enabled=enabled)
        audit(user=user, action="create", object_type="channel", object_key=key)
    return channel


def channel_update(*, user: User, channel: Channel, changes: dict[str, Any]) -> Channel:
    """`changes` maps field names (key, name, kind, enabled) to their new values."""
    old_key = Channel.objects.filter(pk=channel.pk).values_list("key", flat=True).get()
    if changes.get("key", old_key) != old_key:
        refs = channel_references(channel, key=old_key)
        if refs:
            raise InUseError(refs)
    with transaction.atomic():
        for field, value in changes.items():
            setattr(channel, field, value)
        channel.save(update_fields=list(changes) or None)
        audit(
            user=user,
            action="update",
            object_type="channel",
            object_key=channel.key,
            detail={"fields": sorted(changes), "old_key": old_key},
        )
    return channel


def channel_delete(*, user: User, channel: Channel) -> None:
    refs = channel_references(channel)
    if refs:
        raise InUseError(refs)
    with transaction.atomic():
        key = channel.key
        channel.delete()
        audit(user=user, action="delete", object_type="channel", object_key=key)


# -- queues ---------------------------------------------------------------------------------------


@dataclass
class QueueSaved:
    queue: Queue
    # The webhook secret generated by this save, to show once; None when none was made.
    new_secret: str | None = None


def queue_overflow_cycle(*, queue: Queue, targets: list[Queue | None]) -> list[str] | None:
    """A transfer chain from `queue` that returns to it, as queue names, or None."""
    edges: dict[int, set[int]] = {}
    names: dict[int, str] = {queue.pk: queue.name} if queue.pk else {}
    for pk, name, closed, full in Queue.objects.values_list(
        "pk", "name", "when_closed_queue", "when_full_queue"
    ):
        names[pk] = name
        edges[pk] = {t for t in (closed, full) if t}
    if queue.pk is None:
        return None  # a new queue cannot be the target of anything yet
    edges[queue.pk] = {t.pk for t in targets if t is not None}
    stack = [(t, [queue.pk, t]) for t in edges[queue.pk]]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node == queue.pk:
            return [names[p] for p in path]
        if node in seen:
            continue
        seen.add(node)
        stack += [(nxt, [*path, nxt]) for nxt in edges.get(node, ())]
    return None


def _save_queue(
    *, user: User, queue: Queue, fields: dict[str, Any], members: list[tuple[User, int]]
) -> QueueSaved:
    creating = queue.pk is None
    # Read the stored row: a ModelForm has already copied the new values onto `queue`.
    stored = None if creating else Queue.objects.only("key", "delivery_kind").get(pk=queue.pk)
    was_webhook = stored is not None and stored.delivery_kind == Queue.DeliveryKind.WEBHOOK
    old_key = stored.key if stored is not None else queue.key
    for field, value in fields.items():
        setattr(queue, field, value)
    new_secret = None
    if queue.delivery_kind == Queue.DeliveryKind.WEBHOOK:
        if not was_webhook or not queue.webhook_secret:
            new_secret = new_webhook_secret()
            queue.webhook_secret = new_secret
    else:
        # Leaving webhook delivery drops the secret: switching back makes (and shows) a new one.
        queue.webhook_url = ""
        queue.webhook_secret = ""
    if queue.distribution == Queue.Distribution.PICK:
        queue.assignment = None
    with transaction.atomic():
        if queue.is_fallback:
            # One fallback queue: choosing this one moves the flag (the DB allows only one).
            Queue.objects.filter(is_fallback=True).exclude(pk=queue.pk).update(is_fallback=False)
        queue.save()
        _set_members(queue, members)
        audit(
            user=user,
            action="create" if creating else "update",
            object_type="queue",
            object_key=queue.key,
            detail={
                "fields": sorted(fields),
                "members": {u.username: c for u, c in members},
                **({} if creating else {"old_key": old_key}),
                **({"webhook_secret": "generated"} if new_secret else {}),
            },
        )
    return QueueSaved(queue=queue, new_secret=new_secret)


def _set_members(queue: Queue, members: list[tuple[User, int]]) -> None:
    wanted = {user.pk: capacity for user, capacity in members}
    current = {m.user_id: m for m in queue.memberships.all()}
    queue.memberships.exclude(user_id__in=wanted).delete()
    changed = [user_pk for user_pk in current if user_pk not in wanted]
    for user_pk, capacity in wanted.items():
        membership = current.get(user_pk)
        if membership is None:
            QueueMembership.objects.create(queue=queue, user_id=user_pk, capacity=capacity)
            changed.append(user_pk)
        elif membership.capacity != capacity:
            # Lowering capacity below what an agent already holds keeps what they hold: the
            # DB check (active_count <= capacity) would refuse it, so hold at active_count.
            membership.capacity = max(capacity, membership.active_count)
            membership.save(update_fields=["capacity"])
            changed.append(user_pk)
    live_capacity_changed(user_ids=changed)


def queue_create(
    *, user: User, fields: dict[str, Any], members: list[tuple[User, int]]
) -> QueueSaved:
    return _save_queue(user=user, queue=Queue(), fields=fields, members=members)


def queue_update(
    *, user: User, queue: Queue, fields: dict[str, Any], members: list[tuple[User, int]]
) -> QueueSaved:
    stored_key = Queue.objects.filter(pk=queue.pk).values_list("key", flat=True).get()
    if fields.get("key", stored_key) != stored_key:
        refs = queue_references(queue, fallback=False)
        if refs:
            raise InUseError(refs)
    return _save_queue(user=user, queue=queue, fields=fields, members=members)


def queue_rotate_webhook_secret(*, user: User, queue: Queue) -> str:
    secret = new_webhook_secret()
    with transaction.atomic():
        queue.webhook_secret = secret
        queue.save(update_fields=["webhook_secret"])
        audit(
            user=user,
            action="rotate_secret",
            object_type="queue",
            object_key=queue.key,
        )
    return secret


def queue_delete(*, user: User, queue: Queue) -> None:
    refs = queue_references(queue)
    if refs:
        raise InUseError(refs)
    key = queue.key
    try:
        with transaction.atomic():
            queue.delete()
            audit(user=user, action="delete", object_type="queue", object_key=key)
    except ProtectedError as error:
        raise InUseError(_protected_references(error)) from None


# -- bots and keys --------------------------------------------------------------------------------


def bot_create(
    *,
    user: User,
    key: str,
    name: str,
    channels: list[Channel],
    status_callback_url: str | None,
) -> Bot:
    with transaction.atomic():
        bot = Bot.objects.create(key=key, name=name, status_callback_url=status_callback_url)
        bot.channels.set(channels)
        audit(
            user=user,
            action="create",
            object_type="bot",
            object_key=key,
            detail={"channels": sorted(c.key for c in channels)},
        )
    return bot


def bot_update(
    *,
    user: User,
    bot: Bot,
    key: str,
    name: str,
    channels: list[Channel],
    status_callback_url: str | None,
) -> Bot:
    old_key = bot.key
    with transaction.atomic():
        bot.key, bot.name, bot.status_callback_url = key, name, status_callback_url
        bot.save(update_fields=["key", "name", "status_callback_url"])
        bot.channels.set(channels)
        audit(
            user=user,
            action="update",
            object_type="bot",
            object_key=key,
            detail={"old_key": old_key, "channels": sorted(c.key for c in channels)},
        )
    return bot


def bot_delete(*, user: User, bot: Bot) -> None:
    refs = bot_references(bot)
    if refs:
        raise InUseError(refs)
    key = bot.key
    try:
        with transaction.atomic():
            bot.delete()
            audit(user=user, action="delete", object_type="bot", object_key=key)
    except ProtectedError as error:
        raise InUseError(_protected_references(error)) from None


def api_key_create(*, user: User, bot: Bot, name: str = "") -> tuple[ApiKey, str]:
    """A new key for `bot`: the row (holding only the hash) and the plain key, shown once."""
    plain, prefix, hashed = new_api_key()
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            bot=bot, name=name, prefix=prefix, hashed=hashed, created_by=user
        )
        audit(
            user=user,
            action="create",
            object_type="api_key",
            object_key=bot.key,
            detail={"prefix": prefix, "name": name},
        )
    return api_key, plain


def api_key_revoke(*, user: User, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is not None:
        return api_key
    with transaction.atomic():
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit(
            user=user,
            action="revoke",
            object_type="api_key",
            object_key=api_key.bot.key,
            detail={"prefix": api_key.prefix},
        )
    return api_key


# -- users ----------------------------------------------------------------------------------------


def _set_roles(target: User, roles: list[str]) -> None:
    keep = target.groups.exclude(name__in=ROLES)
    target.groups.set([*keep, *Group.objects.filter(name__in=roles)])
    target.__dict__.pop("_role_cache", None)


def user_create(
    *,
    by: User,
    username: str,
    password: str,
    roles: list[str],
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    is_active: bool = True,
) -> User:
    with transaction.atomic():
        target = User.objects.create_user(
            username=username,
            password=password,
            first_name=first_name,
            last_name=last_name,
            email=email,
            is_active=is_active,
        )
        _set_roles(target, roles)
        audit(
            user=by,
            action="create",
            object_type="user",
            object_key=username,
            detail={"roles": sorted(roles), "is_active": is_active},
        )
    return target


def user_update(
    *,
    by: User,
    target: User,
    first_name: str,
    last_name: str,
    email: str,
    is_active: bool,
    roles: list[str],
    password: str = "",
) -> User:
    with transaction.atomic():
        target.first_name, target.last_name, target.email = first_name, last_name, email
        target.is_active = is_active
        fields = ["first_name", "last_name", "email", "is_active"]
        if password:
            target.set_password(password)
            fields.append("password")
        target.save(update_fields=fields)
        _set_roles(target, roles)
        audit(
            user=by,
            action="update",
            object_type="user",
            object_key=target.username,
            detail={
                "roles": sorted(roles),
                "is_active": is_active,
                "password_changed": bool(password),
            },
        )
    return target


def user_update_roles(*, by: User, target: User, roles: list[str]) -> User:
    with transaction.atomic():
        _set_roles(target, roles)
        audit(
            user=by,
            action="update_roles",
            object_type="user",
            object_key=target.username,
            detail={"roles": sorted(roles)},
        )
    return target


# -- skills ---------------------------------------------------------------------------------------


def skill_create(*, user: User, key: str, name: str) -> Skill:
    with transaction.atomic():
        skill = Skill.objects.create(key=key, name=name)
        audit(user=user, action="create", object_type="skill", object_key=key)
    return skill


def skill_update(*, user: User, skill: Skill, key: str, name: str) -> Skill:
    old_key = Skill.objects.filter(pk=skill.pk).values_list("key", flat=True).get()
    if key != old_key:
        refs = skill_references(skill, key=old_key)
        if refs:
            raise InUseError(refs)
    with transaction.atomic():
        skill.key, skill.name = key, name
        skill.save(update_fields=["key", "name"])
        audit(
            user=user,
            action="update",
            object_type="skill",
            object_key=key,
            detail={"old_key": old_key},
        )
    return skill


def skill_delete(*, user: User, skill: Skill) -> None:
    refs = skill_references(skill)
    if refs:
        raise InUseError(refs)
    with transaction.atomic():
        key = skill.key
        # Agents' proficiencies in it go with it (cascade): nothing routes by it any more.
        skill.delete()
        audit(user=user, action="delete", object_type="skill", object_key=key)


def agent_skills_set(*, by: User, target: User, levels: dict[int, int]) -> None:
    """Replace the agent's skills: skill id -> proficiency (1-5)."""
    with transaction.atomic():
        current = {s.skill_id: s for s in target.skills.all()}
        if set(current) == set(levels) and all(
            current[pk].proficiency == level for pk, level in levels.items()
        ):
            return
        target.skills.exclude(skill_id__in=levels).delete()
        for skill_id, level in levels.items():
            row = current.get(skill_id)
            if row is None:
                AgentSkill.objects.create(user=target, skill_id=skill_id, proficiency=level)
            elif row.proficiency != level:
                row.proficiency = level
                row.save(update_fields=["proficiency"])
        keys = dict(Skill.objects.filter(pk__in=levels).values_list("pk", "key"))
        audit(
            user=by,
            action="update_skills",
            object_type="agent",
            object_key=target.username,
            detail={"skills": {keys[pk]: level for pk, level in sorted(levels.items())}},
        )
