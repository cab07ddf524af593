"""The product's words, spelled once: statuses, queue settings, channel kinds, operators.

Pure Python, so the engine can use it; the models' `TextChoices` take their values from here
(and add the translated labels), the config validator and the forms derive their lists from it,
and database constraints are built from the same sets. A new status or operator is added here
and nowhere else.
"""

from enum import StrEnum


class HandoffStatus(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"


# A handoff is open until it reaches a terminal status; it waits while queued or offered.
OPEN = frozenset(
    {
        HandoffStatus.RECEIVED,
        HandoffStatus.QUEUED,
        HandoffStatus.OFFERED,
        HandoffStatus.ASSIGNED,
    }
)
TERMINAL = frozenset(set(HandoffStatus) - OPEN)
WAITING = frozenset({HandoffStatus.QUEUED, HandoffStatus.OFFERED})
# Statuses in which an agent holds the handoff (and one unit of their capacity).
HELD = frozenset({HandoffStatus.OFFERED, HandoffStatus.ASSIGNED})


class OfferOutcome(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


# An agent who declined or let an offer expire "refused" the handoff (docs/delivery.md).
REFUSED = frozenset({OfferOutcome.DECLINED, OfferOutcome.EXPIRED})


class Presence(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


class ChannelKind(StrEnum):
    WEBCHAT = "webchat"
    SMS = "sms"
    TEAMS = "teams"
    FACEBOOK = "facebook"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    VOICE = "voice"
    CUSTOM = "custom"


class Distribution(StrEnum):
    PUSH = "push"
    PICK = "pick"


class AssignmentMethod(StrEnum):
    ROUND_ROBIN = "round_robin"
    HIGHEST_CAPACITY = "highest_capacity"
    MOST_IDLE = "most_idle"


class DeliveryKind(StrEnum):
    AGENTS = "agents"
    WEBHOOK = "webhook"


class SkillMatching(StrEnum):
    NONE = "none"
    EXACT = "exact"
    CLOSEST = "closest"


class OverflowAction(StrEnum):
    TRANSFER = "transfer"
    REJECT = "reject"
    QUEUE_ANYWAY = "queue_anyway"


class NodeType(StrEnum):
    MESSAGE = "message"
    QUESTION = "question"
    CONDITION = "condition"
    TRANSFER = "transfer"
    END = "end"


class ValueType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    EMAIL = "email"
    PHONE = "phone"


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "datetime"


class Transform(StrEnum):
    TRIM = "trim"
    LOWER = "lower"
    UPPER = "upper"
    MASK_ALL = "mask_all"
    MASK_KEEP_LAST4 = "mask_keep_last4"
    REDACT_EMAIL = "redact_email"


class ConversationSource(StrEnum):
    API = "api"
    PORTAL = "portal"
    WEBCHAT = "webchat"


class Operator(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"
    MATCHES = "matches"


class EscalationReason(StrEnum):
    """The standard reasons a bot gives for escalating; bots may send others."""

    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    TOPIC_TRANSFER = "topic_transfer"
    NOT_UNDERSTOOD = "not_understood"
    BOT_ERROR = "bot_error"
    BOT_FRAMEWORK = "bot_framework"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The values of an enum in their declared order, as plain strings."""
    return tuple(str(member) for member in enum)


def ordered(enum: type[StrEnum], subset: frozenset[str]) -> tuple[str, ...]:
    """The members of `subset` as plain strings, in the enum's declared order."""
    return tuple(str(member) for member in enum if member in subset)
