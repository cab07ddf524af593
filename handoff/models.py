"""The configuration and the handoffs it routes (docs/config-format.md, docs/api.md).

The tables below are the *draft* configuration that makers and admins edit. The runtime never
reads them for routing: it routes with the latest `ConfigVersion.document`, an immutable
snapshot in the config document format (docs/config-format.md).
"""

import uuid
from enum import StrEnum

from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from handoff.crypto import EncryptedTextField
from handoff.engine import vocabulary

KEY_MAX = 100


# Check constraints list the allowed values from handoff/engine/vocabulary.py. Lists, in the
# enum's order, because that is how the migrations spelled them: the same value, no new migration.
def _all(enum: type[StrEnum]) -> list[str]:
    return list(vocabulary.values(enum))


def _some(enum: type[StrEnum], subset: frozenset[str]) -> list[str]:
    return list(vocabulary.ordered(enum, subset))


class User(AbstractUser):
    class Presence(models.TextChoices):
        AVAILABLE = vocabulary.Presence.AVAILABLE.value, _("Available")
        BUSY = vocabulary.Presence.BUSY.value, _("Busy")
        AWAY = vocabulary.Presence.AWAY.value, _("Away")
        OFFLINE = vocabulary.Presence.OFFLINE.value, _("Offline")

    presence = models.CharField(max_length=16, choices=Presence, default=Presence.OFFLINE)
    presence_changed_at = models.DateTimeField(default=timezone.now)
    # When this agent last received work: "most idle" assignment picks the oldest.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=8, blank=True, default="")
    # How the workspace tells an agent about a new offer (My settings; docs/agent-workspace.md).
    alert_title = models.BooleanField(default=True)
    alert_sound = models.BooleanField(default=True)
    alert_notification = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(presence__in=_all(vocabulary.Presence)),
                name="user_presence_valid",
            )
        ]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class Channel(models.Model):
    class Kind(models.TextChoices):
        WEBCHAT = vocabulary.ChannelKind.WEBCHAT.value, _("Web chat")
        SMS = vocabulary.ChannelKind.SMS.value, _("SMS")
        TEAMS = vocabulary.ChannelKind.TEAMS.value, _("Microsoft Teams")
        FACEBOOK = vocabulary.ChannelKind.FACEBOOK.value, _("Facebook")
        WHATSAPP = vocabulary.ChannelKind.WHATSAPP.value, _("WhatsApp")
        EMAIL = vocabulary.ChannelKind.EMAIL.value, _("Email")
        VOICE = vocabulary.ChannelKind.VOICE.value, _("Voice")
        CUSTOM = vocabulary.ChannelKind.CUSTOM.value, _("Custom")

    key = models.SlugField(max_length=KEY_MAX, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=_all(vocabulary.ChannelKind)), name="channel_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Skill(models.Model):
    # Keys such as "language:ja" contain a colon, so this is not a SlugField.
    key = models.CharField(max_length=KEY_MAX, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class AgentSkill(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="agents")
    proficiency = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "skill"], name="agentskill_unique"),
            models.CheckConstraint(
                condition=Q(proficiency__gte=1, proficiency__lte=5),
                name="agentskill_proficiency_1_5",
            ),
        ]


class OverflowAction(models.TextChoices):
    TRANSFER = vocabulary.OverflowAction.TRANSFER.value, _("Transfer to another queue")
    REJECT = vocabulary.OverflowAction.REJECT.value, _("Reject with a message")
    QUEUE_ANYWAY = vocabulary.OverflowAction.QUEUE_ANYWAY.value, _("Queue anyway")


class Queue(models.Model):
    class Distribution(models.TextChoices):
        PUSH = vocabulary.Distribution.PUSH.value, _("Push (offer to an agent)")
        PICK = vocabulary.Distribution.PICK.value, _("Pick (agents take work)")

    class Assignment(models.TextChoices):
        ROUND_ROBIN = vocabulary.AssignmentMethod.ROUND_ROBIN.value, _("Round robin")
        HIGHEST_CAPACITY = (
            vocabulary.AssignmentMethod.HIGHEST_CAPACITY.value,
            _("Highest remaining capacity"),
        )
        MOST_IDLE = vocabulary.AssignmentMethod.MOST_IDLE.value, _("Most idle")

    class DeliveryKind(models.TextChoices):
        AGENTS = vocabulary.DeliveryKind.AGENTS.value, _("Built-in agent workspace")
        WEBHOOK = vocabulary.DeliveryKind.WEBHOOK.value, _("External system (webhook)")

    class SkillMatching(models.TextChoices):
        NONE = vocabulary.SkillMatching.NONE.value, _("None")
        EXACT = vocabulary.SkillMatching.EXACT.value, _("Exact")
        CLOSEST = vocabulary.SkillMatching.CLOSEST.value, _("Closest")

    key = models.SlugField(max_length=KEY_MAX, unique=True)
    name = models.CharField(max_length=200)
    priority = models.IntegerField(default=100)
    distribution = models.CharField(max_length=8, choices=Distribution, default="push")
    assignment = models.CharField(
        max_length=20, choices=Assignment, null=True, blank=True, default="round_robin"
    )
    max_waiting = models.PositiveIntegerField(null=True, blank=True)
    offer_timeout_seconds = models.PositiveIntegerField(default=60)
    is_fallback = models.BooleanField(default=False)
    # {"timezone": "Europe/Paris", "weekly": {"mon": [["09:00", "17:00"]]},
    #  "closed_dates": ["2026-12-25"]} or null for always open.
    hours = models.JSONField(null=True, blank=True)

    when_closed_action = models.CharField(
        max_length=16, choices=OverflowAction, null=True, blank=True
    )
    when_closed_message = models.TextField(blank=True, default="")
    when_closed_queue = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    when_full_action = models.CharField(
        max_length=16, choices=OverflowAction, null=True, blank=True
    )
    when_full_message = models.TextField(blank=True, default="")
    when_full_queue = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Waiting longer than this applies the when_full action (see docs/config-format.md).
    max_wait_seconds = models.PositiveIntegerField(null=True, blank=True)

    delivery_kind = models.CharField(max_length=8, choices=DeliveryKind, default="agents")
    # The draft's webhook, as makers and admins edit it.
    webhook_url = models.URLField(max_length=2000, blank=True, default="")
    webhook_secret = EncryptedTextField(blank=True, default="")
    # The webhook as last published: the URL of the published document and the secret that was
    # the draft's at that moment, copied together by each publish so that they always match.
    # Handoffs routed with a published version are delivered with these (docs/delivery.md).
    published_webhook_url = models.URLField(max_length=2000, blank=True, default="")
    published_webhook_secret = EncryptedTextField(blank=True, default="")
    # Set when the receiver answered 410 Gone: nothing is sent until an admin enables it again
    # or a publish gives the queue another URL.
    webhook_disabled_at = models.DateTimeField(null=True, blank=True)
    webhook_disabled_error = models.TextField(blank=True, default="")

    skill_matching = models.CharField(max_length=8, choices=SkillMatching, default="none")
    skill_relax_after_seconds = models.PositiveIntegerField(null=True, blank=True)

    members = models.ManyToManyField(
        User, through="QueueMembership", related_name="agent_queues", blank=True
    )

    class Meta:
        ordering = ["priority", "key"]
        constraints = [
            # At most one fallback queue in the table; publish checks there is exactly one.
            models.UniqueConstraint(
                fields=["is_fallback"], condition=Q(is_fallback=True), name="queue_one_fallback"
            ),
            models.CheckConstraint(
                condition=Q(distribution__in=_all(vocabulary.Distribution)),
                name="queue_distribution_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(distribution=vocabulary.Distribution.PICK.value, assignment__isnull=True)
                    | Q(
                        # NULL IN (...) is NULL, which a CHECK lets through: say not null.
                        distribution=vocabulary.Distribution.PUSH.value,
                        assignment__isnull=False,
                        assignment__in=_all(vocabulary.AssignmentMethod),
                    )
                ),
                name="queue_assignment_matches_distribution",
            ),
            models.CheckConstraint(
                condition=Q(delivery_kind__in=_all(vocabulary.DeliveryKind)),
                name="queue_delivery_kind_valid",
            ),
            models.CheckConstraint(
                condition=~Q(delivery_kind=vocabulary.DeliveryKind.WEBHOOK.value)
                | ~Q(webhook_url=""),
                name="queue_webhook_has_url",
            ),
            models.CheckConstraint(
                condition=Q(skill_matching__in=_all(vocabulary.SkillMatching)),
                name="queue_skill_matching_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class QueueMembership(models.Model):
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    capacity = models.PositiveIntegerField(default=1)
    # Work items this agent holds from this queue (offered or assigned). The check constraint
    # is the last line of defence for "no agent ever holds more than their capacity".
    active_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "user"], name="membership_unique"),
            models.CheckConstraint(condition=Q(capacity__gte=0), name="membership_capacity_gte_0"),
            models.CheckConstraint(
                condition=Q(active_count__gte=0, active_count__lte=F("capacity")),
                name="membership_within_capacity",
            ),
        ]


class Bot(models.Model):
    key = models.SlugField(max_length=KEY_MAX, unique=True)
    name = models.CharField(max_length=200)
    channels = models.ManyToManyField(Channel, related_name="bots", blank=True)
    status_callback_url = models.URLField(max_length=2000, null=True, blank=True)
    # Signs status callbacks like webhooks (whsec_...); generated on the first callback.
    status_callback_secret = EncryptedTextField(blank=True, default="")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True, default="")
    # The visible start of the key ("hp_AbCd1234"), used to find the row; the rest is secret.
    prefix = models.CharField(max_length=16, unique=True)
    # SHA-256 of the whole key. Keys are 256 random bits, so a fast hash is enough.
    hashed = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Topic(models.Model):
    key = models.SlugField(max_length=KEY_MAX, unique=True)
    name = models.CharField(max_length=200)
    trigger_phrases = models.JSONField(default=list, blank=True)
    # System topics (escalate, fallback) always exist and cannot be deleted.
    is_system = models.BooleanField(default=False)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class TopicNode(models.Model):
    class Type(models.TextChoices):
        MESSAGE = vocabulary.NodeType.MESSAGE.value, _("Message")
        QUESTION = vocabulary.NodeType.QUESTION.value, _("Question")
        CONDITION = vocabulary.NodeType.CONDITION.value, _("Condition")
        TRANSFER = vocabulary.NodeType.TRANSFER.value, _("Transfer to agent")
        END = vocabulary.NodeType.END.value, _("End")

    class ValueType(models.TextChoices):
        TEXT = vocabulary.ValueType.TEXT.value, _("Text")
        NUMBER = vocabulary.ValueType.NUMBER.value, _("Number")
        BOOLEAN = vocabulary.ValueType.BOOLEAN.value, _("Yes/no")
        CHOICE = vocabulary.ValueType.CHOICE.value, _("Choice")
        EMAIL = vocabulary.ValueType.EMAIL.value, _("Email")
        PHONE = vocabulary.ValueType.PHONE.value, _("Phone")

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="nodes")
    position = models.PositiveIntegerField()
    node_id = models.SlugField(max_length=KEY_MAX)
    type = models.CharField(max_length=16, choices=Type)
    # message: text; question: prompt; transfer: agent_message.
    text = models.TextField(blank=True, default="")
    variable = models.CharField(max_length=KEY_MAX, blank=True, default="")
    value_type = models.CharField(max_length=16, choices=ValueType, blank=True, default="")
    choices = models.JSONField(default=list, blank=True)
    operator = models.CharField(max_length=16, blank=True, default="")
    value = models.JSONField(null=True, blank=True)
    goto = models.SlugField(max_length=KEY_MAX, blank=True, default="")
    reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["topic", "position"]
        constraints = [
            models.UniqueConstraint(fields=["topic", "node_id"], name="topicnode_id_unique"),
            models.UniqueConstraint(fields=["topic", "position"], name="topicnode_position_unique"),
            models.CheckConstraint(
                condition=Q(type__in=_all(vocabulary.NodeType)),
                name="topicnode_type_valid",
            ),
        ]


class ContextField(models.Model):
    class Type(models.TextChoices):
        TEXT = vocabulary.FieldType.TEXT.value, _("Text")
        NUMBER = vocabulary.FieldType.NUMBER.value, _("Number")
        BOOLEAN = vocabulary.FieldType.BOOLEAN.value, _("Yes/no")
        DATETIME = vocabulary.FieldType.DATETIME.value, _("Date and time")

    class Transform(models.TextChoices):
        TRIM = vocabulary.Transform.TRIM.value, _("Trim spaces")
        LOWER = vocabulary.Transform.LOWER.value, _("Lower case")
        UPPER = vocabulary.Transform.UPPER.value, _("Upper case")
        MASK_ALL = vocabulary.Transform.MASK_ALL.value, _("Mask everything")
        MASK_KEEP_LAST4 = vocabulary.Transform.MASK_KEEP_LAST4.value, _("Mask all but the last 4")
        REDACT_EMAIL = vocabulary.Transform.REDACT_EMAIL.value, _("Redact email")

    position = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=200)
    target = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=16, choices=Type, default="text")
    required = models.BooleanField(default=False)
    default = models.JSONField(null=True, blank=True)
    transform = models.CharField(max_length=20, choices=Transform, null=True, blank=True)
    max_length = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(4000)]
    )
    visible_to_agent = models.BooleanField(default=True)
    label = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_length__isnull=True) | Q(max_length__gte=1, max_length__lte=4000),
                name="contextfield_max_length_range",
            ),
            models.CheckConstraint(
                condition=Q(type__in=_all(vocabulary.FieldType)),
                name="contextfield_type_valid",
            ),
        ]


class EscalationRule(models.Model):
    name = models.CharField(max_length=200, unique=True)
    order = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    # {"all": [{"field": "topic", "op": "eq", "value": "billing"}, ...]} or {"any": [...]}
    conditions = models.JSONField(default=dict)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="rules")
    priority = models.IntegerField(null=True, blank=True)
    require_skills = models.JSONField(default=dict, blank=True)
    agent_message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name


class ConfigVersion(models.Model):
    number = models.PositiveIntegerField(unique=True)
    document = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=500, blank=True, default="")
    rolled_back_from = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]


class AuditEntry(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=40)  # create, update, delete, publish, import, ...
    object_type = models.CharField(max_length=40, blank=True, default="")
    object_key = models.CharField(max_length=200, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]


class Handoff(models.Model):
    class Status(models.TextChoices):
        RECEIVED = vocabulary.HandoffStatus.RECEIVED.value, _("Received")
        QUEUED = vocabulary.HandoffStatus.QUEUED.value, _("Queued")
        OFFERED = vocabulary.HandoffStatus.OFFERED.value, _("Offered")
        ASSIGNED = vocabulary.HandoffStatus.ASSIGNED.value, _("Assigned")
        RESOLVED = vocabulary.HandoffStatus.RESOLVED.value, _("Resolved")
        DELIVERED = vocabulary.HandoffStatus.DELIVERED.value, _("Delivered")
        REJECTED = vocabulary.HandoffStatus.REJECTED.value, _("Rejected")
        CANCELLED = vocabulary.HandoffStatus.CANCELLED.value, _("Cancelled")
        FAILED = vocabulary.HandoffStatus.FAILED.value, _("Failed")

    TERMINAL = vocabulary.ordered(vocabulary.HandoffStatus, vocabulary.TERMINAL)
    OPEN = vocabulary.ordered(vocabulary.HandoffStatus, vocabulary.OPEN)
    WAITING = vocabulary.ordered(vocabulary.HandoffStatus, vocabulary.WAITING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="handoffs")
    conversation_id = models.CharField(max_length=200)
    channel = models.CharField(max_length=KEY_MAX)
    topic = models.CharField(max_length=200, null=True, blank=True)
    topics = models.JSONField(default=list, blank=True)
    locale = models.CharField(max_length=35, blank=True, default="")
    reason = models.CharField(max_length=200, blank=True, default="")
    customer = models.JSONField(default=dict, blank=True)
    variables = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    transcript = models.JSONField(default=list, blank=True)
    agent_message = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status, default="received")
    # The queue is kept by key and name as routed; the FK follows the live row for delivery.
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    queue_key = models.CharField(max_length=KEY_MAX, blank=True, default="")
    queue_name = models.CharField(max_length=200, blank=True, default="")
    priority = models.IntegerField(default=100)
    rule = models.CharField(max_length=200, null=True, blank=True)
    required_skills = models.JSONField(default=dict, blank=True)
    # The last skill relaxation step recorded as an event (closest matching, docs/delivery.md).
    skill_step = models.PositiveSmallIntegerField(default=0)
    message = models.TextField(null=True, blank=True)  # shown to the customer when rejected
    config_version = models.ForeignKey(
        ConfigVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    decision = models.JSONField(default=dict, blank=True)  # the routing explanation

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    # The last time an agent declined it or let an offer of it expire in its current queue: its
    # place in the line from then on (docs/delivery.md, "Refused work").
    refused_at = models.DateTimeField(null=True, blank=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    wrap_up = models.TextField(blank=True, default="")

    # Delivery bookkeeping: the sweep republishes what was never dispatched or went quiet.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    webhook_id = models.CharField(max_length=64, blank=True, default="")
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["bot", "conversation_id"], name="handoff_bot_conversation"),
            models.Index(
                fields=["status", "queue", "priority", "created_at"], name="handoff_waiting"
            ),
            # Waiting work per queue as the API counts it (queue states, positions): only the
            # waiting rows, so its size follows the queues, not the history.
            models.Index(
                fields=["queue_key", "priority", "queued_at"],
                condition=Q(status__in=_some(vocabulary.HandoffStatus, vocabulary.WAITING)),
                name="handoff_waiting_by_key",
            ),
            models.Index(fields=["agent", "status"], name="handoff_agent_status"),
            models.Index(fields=["channel", "created_at"], name="handoff_channel_created"),
            # The analytics filters: each with the date range it is always used with.
            models.Index(fields=["queue_key", "created_at"], name="handoff_queue_created"),
            models.Index(fields=["topic", "created_at"], name="handoff_topic_created"),
            models.Index(fields=["bot", "created_at"], name="handoff_bot_created"),
            models.Index(fields=["status", "created_at"], name="handoff_status_created"),
            # Covers every column the dashboard aggregates (docs/analytics.md), so its queries
            # read this narrow index instead of the wide rows (transcripts, context).
            models.Index(
                fields=[
                    "created_at",
                    "status",
                    "queue_key",
                    "channel",
                    "topic",
                    "bot",
                    "queued_at",
                    "offered_at",
                    "assigned_at",
                    "closed_at",
                ],
                name="handoff_reporting",
            ),
            # The same for the breakdowns by rule and by reason; kept apart because these free
            # texts (up to 200 characters each) would push one index entry past PostgreSQL's
            # size limit for a B-tree row.
            models.Index(fields=["created_at", "rule", "reason"], name="handoff_reporting_text"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=_all(vocabulary.HandoffStatus)),
                name="handoff_status_valid",
            ),
            # One open handoff per conversation and bot (a second request returns it).
            models.UniqueConstraint(
                fields=["bot", "conversation_id"],
                condition=Q(status__in=_some(vocabulary.HandoffStatus, vocabulary.OPEN)),
                name="handoff_one_open_per_conversation",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=_some(vocabulary.HandoffStatus, vocabulary.HELD))
                | Q(agent__isnull=False),
                name="handoff_offered_has_agent",
            ),
        ]

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class HandoffEvent(models.Model):
    handoff = models.ForeignKey(Handoff, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=40)
    at = models.DateTimeField(default=timezone.now)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["handoff", "at"], name="event_handoff_at")]


class Offer(models.Model):
    """One offer of a handoff to an agent; declined and expired offers are not repeated."""

    class Outcome(models.TextChoices):
        PENDING = vocabulary.OfferOutcome.PENDING.value, _("Pending")
        ACCEPTED = vocabulary.OfferOutcome.ACCEPTED.value, _("Accepted")
        DECLINED = vocabulary.OfferOutcome.DECLINED.value, _("Declined")
        EXPIRED = vocabulary.OfferOutcome.EXPIRED.value, _("Expired")
        WITHDRAWN = vocabulary.OfferOutcome.WITHDRAWN.value, _("Withdrawn")

    handoff = models.ForeignKey(Handoff, on_delete=models.CASCADE, related_name="offers")
    agent = models.ForeignKey(User, on_delete=models.CASCADE, related_name="offers")
    offered_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome, default="pending")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["handoff"],
                condition=Q(outcome=vocabulary.OfferOutcome.PENDING.value),
                name="offer_one_pending",
            )
        ]


class IdempotencyKey(models.Model):
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Null while the first request is still being processed (a second one gets 409).
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "key"], name="idempotency_bot_key_unique")
        ]


class Conversation(models.Model):
    """A customer's conversation with the topics runtime (handoff/engine/conversation.py)."""

    class Source(models.TextChoices):
        API = vocabulary.ConversationSource.API.value, _("Conversation API")
        PORTAL = vocabulary.ConversationSource.PORTAL.value, _("Test your bot")
        WEBCHAT = vocabulary.ConversationSource.WEBCHAT.value, _("Demo web chat")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="conversations")
    channel = models.CharField(max_length=KEY_MAX)
    source = models.CharField(max_length=16, choices=Source, default=Source.API)
    # The interpreter's state: variables, topics, transcript... (a plain JSON dict).
    state = models.JSONField(default=dict, blank=True)
    handoff = models.ForeignKey(
        Handoff, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=_all(vocabulary.ConversationSource)),
                name="conversation_source_valid",
            )
        ]

    def __str__(self) -> str:
        return str(self.pk)


class LiveEvent(models.Model):
    """One event of the live channel, written in the transaction of the change it tells, so it
    exists exactly when the change committed (the outbox; handoff/services/live.py). Its id is
    the SSE id a browser resumes from; rows older than an hour are purged by the sweep."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    # Who may receive it: "agent:<user id>", "queue:<queue id>", "board",
    # "conversation:<bot id>:<conversation id>" (handoff/engine/live.py).
    audience = models.CharField(max_length=255)
    kind = models.CharField(max_length=32)
    data = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.pk} {self.audience} {self.kind}"
