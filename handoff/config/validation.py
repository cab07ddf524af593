"""Validating and normalising the config document (docs/config-format.md).

`validate_document` checks everything a user can get wrong and returns the canonical form:
every key present, defaults filled, lists in a deterministic order. It reports every error
it finds, each naming its JSON path, so that one import run shows the user all problems.
It reads the database only for facts outside the document (users, agents' open work, bots
with handoffs or conversations); it never writes.
"""

import base64
import binascii
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handoff.delivery.addresses import Refusal, private_allowed, url_refusal
from handoff.engine.conditions import compile_pattern, to_bool
from handoff.engine.hours import WEEKDAYS
from handoff.engine.routing import TEMPLATE_RE
from handoff.engine.vocabulary import (
    AssignmentMethod,
    ChannelKind,
    DeliveryKind,
    Distribution,
    EscalationReason,
    FieldType,
    NodeType,
    Operator,
    OverflowAction,
    SkillMatching,
    Transform,
    ValueType,
    values,
)
from handoff.models import Bot, Conversation, Handoff, QueueMembership, User

FORMAT = "handoff-portal/config"
VERSION = 1

SECTIONS = (
    "channels",
    "queues",
    "skills",
    "agents",
    "bots",
    "topics",
    "context_fields",
    "rules",
)
# Document section -> (audit object type, identifying key of an item).
SECTION_IDS = {
    "channels": ("channel", "key"),
    "queues": ("queue", "key"),
    "skills": ("skill", "key"),
    "agents": ("agent", "username"),
    "bots": ("bot", "key"),
    "topics": ("topic", "key"),
    "context_fields": ("context_field", "target"),
    "rules": ("rule", "name"),
}
KEY_MAX = 100
NAME_MAX = 200
SLUG_RE = re.compile(r"[-a-zA-Z0-9_]+")
# Skill keys such as "language:ja" or "product:billing".
SKILL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")
VARIABLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
TIME_RE = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d|24:00")
CHANNEL_KINDS = values(ChannelKind)
DISTRIBUTIONS = values(Distribution)
ASSIGNMENTS = values(AssignmentMethod)
SKILL_MATCHING = values(SkillMatching)
OVERFLOW_ACTIONS = values(OverflowAction)
DELIVERY_KINDS = values(DeliveryKind)
NODE_TYPES = values(NodeType)
VALUE_TYPES = values(ValueType)
FIELD_TYPES = values(FieldType)
TRANSFORMS = values(Transform)
OPS = values(Operator)
RULE_FIELDS = ("topic", "topics", "channel", "locale", "reason", "bot", "transcript.turns")
RULE_FIELD_PREFIXES = ("variables.", "context.")
CUSTOMER_FIELDS = ("customer.id", "customer.name", "customer.email", "customer.phone")

# The system topics always exist; a document that leaves them out gets these.
SYSTEM_TOPICS: dict[str, dict[str, Any]] = {
    "escalate": {
        "key": "escalate",
        "name": "Escalate to a person",
        "trigger_phrases": ["talk to a person", "speak to an agent", "human"],
        "nodes": [
            {
                "id": "transfer",
                "type": "transfer",
                "agent_message": "",
                "reason": EscalationReason.REQUESTED_BY_CUSTOMER.value,
            },
        ],
    },
    "fallback": {
        "key": "fallback",
        "name": "Not understood",
        "trigger_phrases": [],
        "nodes": [
            {
                "id": "transfer",
                "type": "transfer",
                "agent_message": "",
                "reason": EscalationReason.NOT_UNDERSTOOD.value,
            },
        ],
    },
}

# Marks a required key that is missing (already reported); checks pass it through silently.
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
REQUIRED: Any = object()


@dataclass
class ConfigError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigDocumentError(Exception):
    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _q(value: Any) -> str:
    return '"' + str(value) + '"'


class _Checker:
    def __init__(self, *, create_users: bool) -> None:
        self.errors: list[ConfigError] = []
        self.create_users = create_users

    def err(self, path: str, message: str) -> None:
        self.errors.append(ConfigError(path or "(document)", message))

    # -- shapes ------------------------------------------------------------------------------

    def obj(
        self, value: Any, path: str, spec: dict[str, Any], *, nullable: bool = False
    ) -> dict[str, Any] | None:
        """The object with defaults filled from `spec` (REQUIRED marks a required key); None
        when it is missing, wrong, or (with `nullable`) null."""
        if value is MISSING or (value is None and nullable):
            return None
        if not isinstance(value, dict):
            self.err(path, "must be an object")
            return None
        for key in value:
            if key not in spec:
                self.err(_join(path, str(key)), "unknown key")
        out = {}
        for key, default in spec.items():
            if key in value:
                out[key] = value[key]
            elif default is REQUIRED:
                self.err(_join(path, key), "is required")
                out[key] = MISSING
            else:
                # Copy mutable defaults so normalised documents never share them.
                out[key] = list(default) if isinstance(default, list) else default
        return out

    def kind(self, value: Any, path: str, key: str, kinds: tuple[str, ...]) -> str | None:
        """The `key` of an object whose other keys depend on it (a node's type, a delivery's
        kind): one of `kinds`, or None when it is not (reported)."""
        if not isinstance(value, dict):
            self.err(path, "must be an object")
            return None
        kind = value.get(key, MISSING)
        if kind is MISSING:
            self.err(_join(path, key), "is required")
            return None
        if not isinstance(kind, str) or kind not in kinds:
            self.err(_join(path, key), f"must be one of {', '.join(kinds)}, not {_q(kind)}")
            return None
        return kind

    def items(self, value: Any, path: str) -> list[Any]:
        if value is MISSING:
            return []
        if not isinstance(value, list):
            self.err(path, "must be a list")
            return []
        return value

    # -- scalars -----------------------------------------------------------------------------

    def text(
        self,
        value: Any,
        path: str,
        *,
        max_len: int = NAME_MAX,
        nullable: bool = False,
        blank: bool = False,
    ) -> Any:
        if value is MISSING or (value is None and nullable):
            return value
        if not isinstance(value, str):
            self.err(path, "must be a string")
        elif not blank and not value.strip():
            self.err(path, "must not be empty")
        elif len(value) > max_len:
            self.err(path, f"must be at most {max_len} characters")
        return value

    def slug(self, value: Any, path: str) -> Any:
        if value is MISSING:
            return value
        if not isinstance(value, str):
            self.err(path, "must be a string")
        elif not SLUG_RE.fullmatch(value) or len(value) > KEY_MAX:
            self.err(
                path,
                f"{_q(value)} is not a valid key (letters, digits, - and _, "
                f"at most {KEY_MAX} characters)",
            )
        return value

    def integer(
        self,
        value: Any,
        path: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        nullable: bool = False,
    ) -> Any:
        if value is MISSING or (value is None and nullable):
            return value
        if not _is_int(value):
            self.err(path, "must be an integer" + (" or null" if nullable else ""))
        elif minimum is not None and value < minimum:
            self.err(path, f"must be at least {minimum}")
        elif maximum is not None and value > maximum:
            self.err(path, f"must be at most {maximum}")
        return value

    def boolean(self, value: Any, path: str) -> Any:
        if value is not MISSING and not isinstance(value, bool):
            self.err(path, "must be true or false")
        return value

    def choice(
        self, value: Any, path: str, choices: tuple[str, ...], *, nullable: bool = False
    ) -> Any:
        if value is MISSING or (value is None and nullable):
            return value
        if not isinstance(value, str) or value not in choices:
            self.err(path, f"must be one of {', '.join(choices)}, not {_q(value)}")
        return value

    def url(self, value: Any, path: str, *, nullable: bool = False) -> Any:
        value = self.text(value, path, max_len=2000, nullable=nullable)
        if not isinstance(value, str) or not value.strip():
            return value
        refused = url_refusal(value, allow_private=private_allowed())
        if refused is None:
            return value
        if refused.reason == Refusal.INVALID:
            self.err(path, f"{_q(value)} is not a valid URL")
        elif refused.reason == Refusal.SCHEME:
            self.err(path, "must be an https:// URL")
        elif refused.reason == Refusal.NO_HOST:
            self.err(path, f"{_q(value)} has no host")
        else:
            self.err(
                path,
                f"{_q(refused.host)} is a private or loopback address "
                "(allowed only with HANDOFF_WEBHOOK_ALLOW_PRIVATE=1)",
            )
        return value

    def unique(self, values: list[tuple[str, Any]], what: str) -> None:
        """Report every repeated value; `values` is (path, value) in document order."""
        seen: dict[Any, str] = {}
        for path, value in values:
            if not isinstance(value, str | int) or value is MISSING:
                continue
            if value in seen:
                self.err(path, f"duplicate {what} {_q(value)} (also at {seen[value]})")
            else:
                seen[value] = path


def _valid_secret(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith("whsec_"):
        return False
    try:
        raw = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return 24 <= len(raw) <= 64


def _convertible(value: Any, field_type: str) -> bool:
    """Whether a context field default converts to the field's type (docs/routing.md)."""
    if value is None:
        return True
    if field_type == "text":
        return isinstance(value, str) or _is_number(value)
    if field_type == "number":
        if _is_number(value):
            return True
        try:
            return isinstance(value, str) and math.isfinite(float(value))
        except ValueError:
            return False
    if field_type == "boolean":
        return to_bool(value) is not None
    if field_type == "datetime":
        if not isinstance(value, str):
            return False
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    return False


def validate_document(doc: Any, *, create_users: bool = False) -> tuple[dict, list[ConfigError]]:
    """The normalised document and every error found (an empty list when it is valid)."""
    c = _Checker(create_users=create_users)
    spec: dict[str, Any] = {"format": REQUIRED, "version": REQUIRED}
    spec.update({section: [] for section in SECTIONS})
    top = c.obj(doc, "", spec)
    if top is None:
        return {}, c.errors
    if top["format"] is not MISSING and top["format"] != FORMAT:
        c.err("format", f'must be "{FORMAT}"')
    if top["version"] is not MISSING and (not _is_int(top["version"]) or top["version"] != 1):
        c.err("version", f"unsupported version {top['version']!r} (this portal reads {VERSION})")

    channels: list[Any] = [
        _channel(c, item, f"channels[{i}]")
        for i, item in enumerate(c.items(top["channels"], "channels"))
    ]
    skills: list[Any] = [
        _skill(c, item, f"skills[{i}]") for i, item in enumerate(c.items(top["skills"], "skills"))
    ]
    c.unique([(f"channels[{i}].key", ch["key"]) for i, ch in enumerate(channels) if ch], "key")
    c.unique([(f"skills[{i}].key", sk["key"]) for i, sk in enumerate(skills) if sk], "key")
    channel_keys = {ch["key"] for ch in channels if ch and isinstance(ch["key"], str)}
    skill_keys = {sk["key"] for sk in skills if sk and isinstance(sk["key"], str)}

    raw_queues = c.items(top["queues"], "queues")
    queues: list[Any] = [
        _queue(c, item, f"queues[{i}]", skill_keys) for i, item in enumerate(raw_queues)
    ]
    c.unique([(f"queues[{i}].key", q["key"]) for i, q in enumerate(queues) if q], "key")
    queue_keys = {q["key"] for q in queues if q and isinstance(q["key"], str)}
    _check_queue_references(c, queues, queue_keys)

    agents: list[Any] = [
        _agent(c, item, f"agents[{i}]", skill_keys)
        for i, item in enumerate(c.items(top["agents"], "agents"))
    ]
    c.unique(
        [(f"agents[{i}].username", a["username"]) for i, a in enumerate(agents) if a], "username"
    )
    bots: list[Any] = [
        _bot(c, item, f"bots[{i}]", channel_keys)
        for i, item in enumerate(c.items(top["bots"], "bots"))
    ]
    c.unique([(f"bots[{i}].key", b["key"]) for i, b in enumerate(bots) if b], "key")
    topics: list[Any] = [
        _topic(c, item, f"topics[{i}]") for i, item in enumerate(c.items(top["topics"], "topics"))
    ]
    c.unique([(f"topics[{i}].key", t["key"]) for i, t in enumerate(topics) if t], "key")
    fields: list[Any] = [
        _context_field(c, item, f"context_fields[{i}]")
        for i, item in enumerate(c.items(top["context_fields"], "context_fields"))
    ]
    c.unique(
        [(f"context_fields[{i}].target", f["target"]) for i, f in enumerate(fields) if f], "target"
    )
    rules: list[Any] = [
        _rule(c, item, f"rules[{i}]", queue_keys, skill_keys)
        for i, item in enumerate(c.items(top["rules"], "rules"))
    ]
    c.unique([(f"rules[{i}].name", r["name"]) for i, r in enumerate(rules) if r], "name")
    c.unique([(f"rules[{i}].order", r["order"]) for i, r in enumerate(rules) if r], "order")

    _check_database(c, queues, agents, bots)
    if c.errors:
        return {}, c.errors

    present = {t["key"] for t in topics}
    topics += [_copy(t) for key, t in SYSTEM_TOPICS.items() if key not in present]
    normalised = {
        "format": FORMAT,
        "version": VERSION,
        "channels": sorted(channels, key=lambda x: x["key"]),
        "queues": sorted(queues, key=lambda x: x["key"]),
        "skills": sorted(skills, key=lambda x: x["key"]),
        "agents": sorted(agents, key=lambda x: x["username"]),
        "bots": sorted(bots, key=lambda x: x["key"]),
        "topics": sorted(topics, key=lambda x: x["key"]),
        "context_fields": fields,
        "rules": sorted(rules, key=lambda x: (x["order"], x["name"])),
    }
    return normalised, []


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# -- sections ------------------------------------------------------------------------------------


def _channel(c: _Checker, raw: Any, path: str) -> dict | None:
    d = c.obj(raw, path, {"key": REQUIRED, "name": REQUIRED, "kind": REQUIRED, "enabled": True})
    if d is None:
        return None
    return {
        "key": c.slug(d["key"], f"{path}.key"),
        "name": c.text(d["name"], f"{path}.name"),
        "kind": c.choice(d["kind"], f"{path}.kind", CHANNEL_KINDS),
        "enabled": c.boolean(d["enabled"], f"{path}.enabled"),
    }


def _skill(c: _Checker, raw: Any, path: str) -> dict | None:
    d = c.obj(raw, path, {"key": REQUIRED, "name": REQUIRED})
    if d is None:
        return None
    key = d["key"]
    if key is not MISSING and (
        not isinstance(key, str) or not SKILL_RE.fullmatch(key) or len(key) > KEY_MAX
    ):
        c.err(f"{path}.key", f"{_q(key)} is not a valid skill key (such as language:ja)")
    return {"key": key, "name": c.text(d["name"], f"{path}.name")}


QUEUE_SPEC: dict[str, Any] = {
    "key": REQUIRED,
    "name": REQUIRED,
    "priority": 100,
    "distribution": "push",
    "assignment": MISSING,  # depends on the distribution, filled below
    "max_waiting": None,
    "offer_timeout_seconds": 60,
    "fallback": False,
    "hours": None,
    "overflow": None,
    "delivery": {"kind": DeliveryKind.AGENTS.value},
    "skill_matching": "none",
    "skill_relax_after_seconds": None,
    "members": [],
}


def _queue(c: _Checker, raw: Any, path: str, skill_keys: set[str]) -> dict | None:
    d = c.obj(raw, path, QUEUE_SPEC)
    if d is None:
        return None
    distribution = c.choice(d["distribution"], f"{path}.distribution", DISTRIBUTIONS)
    assignment = d["assignment"]
    if assignment is MISSING:
        assignment = "round_robin" if distribution == "push" else None
    elif distribution == "pick" and assignment is not None:
        c.err(f"{path}.assignment", "must be null for a pick queue (agents take the work)")
    elif distribution == "push":
        if assignment is None:
            c.err(f"{path}.assignment", f"a push queue needs one of {', '.join(ASSIGNMENTS)}")
        else:
            c.choice(assignment, f"{path}.assignment", ASSIGNMENTS)
    members = [
        _member(c, item, f"{path}.members[{i}]")
        for i, item in enumerate(c.items(d["members"], f"{path}.members"))
    ]
    c.unique(
        [(f"{path}.members[{i}].username", m["username"]) for i, m in enumerate(members) if m],
        "member",
    )
    return {
        "key": c.slug(d["key"], f"{path}.key"),
        "name": c.text(d["name"], f"{path}.name"),
        "priority": c.integer(
            d["priority"], f"{path}.priority", minimum=-(2**31), maximum=2**31 - 1
        ),
        "distribution": distribution,
        "assignment": assignment,
        "max_waiting": c.integer(
            d["max_waiting"], f"{path}.max_waiting", minimum=0, maximum=2**31 - 1, nullable=True
        ),
        "offer_timeout_seconds": c.integer(
            d["offer_timeout_seconds"], f"{path}.offer_timeout_seconds", minimum=1, maximum=86400
        ),
        "fallback": c.boolean(d["fallback"], f"{path}.fallback"),
        "hours": _hours(c, d["hours"], f"{path}.hours"),
        "overflow": _overflow(c, d["overflow"], f"{path}.overflow"),
        "delivery": _delivery(c, d["delivery"], f"{path}.delivery"),
        "skill_matching": c.choice(d["skill_matching"], f"{path}.skill_matching", SKILL_MATCHING),
        "skill_relax_after_seconds": c.integer(
            d["skill_relax_after_seconds"],
            f"{path}.skill_relax_after_seconds",
            minimum=1,
            maximum=2**31 - 1,
            nullable=True,
        ),
        "members": sorted((m for m in members if m), key=lambda m: str(m["username"])),
    }


def _member(c: _Checker, raw: Any, path: str) -> dict | None:
    d = c.obj(raw, path, {"username": REQUIRED, "capacity": 1})
    if d is None:
        return None
    return {
        "username": c.text(d["username"], f"{path}.username", max_len=150),
        "capacity": c.integer(d["capacity"], f"{path}.capacity", minimum=0, maximum=1000),
    }


def _hours(c: _Checker, raw: Any, path: str) -> dict | None:
    d = c.obj(
        raw, path, {"timezone": REQUIRED, "weekly": REQUIRED, "closed_dates": []}, nullable=True
    )
    if d is None:
        return None
    tz = d["timezone"]
    if tz is not MISSING:
        try:
            if not isinstance(tz, str) or not tz:
                raise ZoneInfoNotFoundError
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            c.err(
                f"{path}.timezone",
                f"unknown time zone {_q(tz)} (use an IANA name such as Europe/Paris)",
            )
    weekly: dict[str, list[list[str]]] = {}
    raw_weekly = d["weekly"]
    if raw_weekly is not MISSING and not isinstance(raw_weekly, dict):
        c.err(f"{path}.weekly", "must be an object of weekdays (mon..sun) to time windows")
    elif isinstance(raw_weekly, dict):
        for day, windows in raw_weekly.items():
            day_path = f"{path}.weekly.{day}"
            if day not in WEEKDAYS:
                c.err(day_path, f"unknown weekday (use {', '.join(WEEKDAYS)})")
                continue
            weekly[day] = _windows(c, windows, day_path)
        weekly = {day: weekly[day] for day in WEEKDAYS if day in weekly}
    dates = []
    for i, value in enumerate(c.items(d["closed_dates"], f"{path}.closed_dates")):
        try:
            if not isinstance(value, str):
                raise ValueError
            date.fromisoformat(value)
            if len(value) != 10:
                raise ValueError
            dates.append(value)
        except ValueError:
            c.err(f"{path}.closed_dates[{i}]", f"{value!r} is not a date (YYYY-MM-DD)")
    c.unique([(f"{path}.closed_dates[{i}]", v) for i, v in enumerate(dates)], "date")
    return {"timezone": tz, "weekly": weekly, "closed_dates": sorted(set(dates))}


def _windows(c: _Checker, raw: Any, path: str) -> list[list[str]]:
    windows = []
    for i, window in enumerate(c.items(raw, path)):
        wpath = f"{path}[{i}]"
        if (
            not isinstance(window, list)
            or len(window) != 2
            or not all(isinstance(t, str) and TIME_RE.fullmatch(t) for t in window)
        ):
            c.err(wpath, 'must be ["HH:MM", "HH:MM"]')
            continue
        start, end = window
        if start == "24:00" or start >= end:
            c.err(wpath, f"start {start} must be before end {end}")
            continue
        windows.append([start, end])
    windows.sort()
    for i in range(1, len(windows)):
        if windows[i][0] < windows[i - 1][1]:
            c.err(path, f"windows {windows[i - 1]} and {windows[i]} overlap")
    return windows


def _overflow(c: _Checker, raw: Any, path: str) -> dict | None:
    spec = {"when_closed": None, "when_full": None, "max_wait_seconds": None}
    d = c.obj(raw, path, spec, nullable=True)
    if d is None:
        return None
    out = {
        "when_closed": _overflow_action(c, d["when_closed"], f"{path}.when_closed"),
        "when_full": _overflow_action(c, d["when_full"], f"{path}.when_full"),
        "max_wait_seconds": c.integer(
            d["max_wait_seconds"],
            f"{path}.max_wait_seconds",
            minimum=1,
            maximum=2**31 - 1,
            nullable=True,
        ),
    }
    # Nothing to do is the same as no overflow at all: one canonical form for both.
    if all(value is None for value in out.values()):
        return None
    return out


def _overflow_action(c: _Checker, raw: Any, path: str) -> dict | None:
    d = c.obj(raw, path, {"action": None, "message": None, "queue": None}, nullable=True)
    if d is None:
        return None
    action = c.choice(d["action"], f"{path}.action", OVERFLOW_ACTIONS, nullable=True)
    # A null action means queue_anyway; the canonical form spells it out.
    action = "queue_anyway" if action is None else action
    message = c.text(d["message"], f"{path}.message", max_len=2000, nullable=True, blank=True)
    if message == "":
        message = None
    queue = d["queue"]
    if action == "reject" and message is None:
        c.err(f"{path}.message", "a reject needs the message shown to the customer")
    if action == "transfer" and queue is None:
        c.err(f"{path}.queue", "a transfer needs a queue")
    if action != "transfer" and queue is not None:
        c.err(f"{path}.queue", "only a transfer names a queue")
    if queue is not None and not isinstance(queue, str):
        c.err(f"{path}.queue", "must be a queue key")
    return {"action": action, "message": message, "queue": queue}


def _delivery(c: _Checker, raw: Any, path: str) -> dict | None:
    kind = c.kind(raw, path, "kind", DELIVERY_KINDS)
    if kind is None:
        return None
    if kind == DeliveryKind.AGENTS:
        c.obj(raw, path, {"kind": REQUIRED})
        return {"kind": DeliveryKind.AGENTS.value}
    d = c.obj(raw, path, {"kind": REQUIRED, "url": REQUIRED, "secret": MISSING})
    assert d is not None
    out = {"kind": DeliveryKind.WEBHOOK.value, "url": c.url(d["url"], f"{path}.url")}
    secret = d["secret"]
    if secret is not MISSING:
        if not _valid_secret(secret):
            c.err(
                f"{path}.secret",
                "must be whsec_ followed by base64 of 24 to 64 random bytes "
                "(leave it out to have one generated)",
            )
        out["secret"] = secret
    return out


def _check_queue_references(c: _Checker, queues: list[dict | None], queue_keys: set[str]) -> None:
    fallbacks = [i for i, q in enumerate(queues) if q and q["fallback"] is True]
    if len(fallbacks) == 0:
        c.err("queues", "exactly one queue must be the fallback queue (none is)")
    for i in fallbacks[1:]:
        c.err(
            f"queues[{i}].fallback",
            f"exactly one queue must be the fallback queue (also queues[{fallbacks[0]}])",
        )
    # Transfer edges for the loop check: queue key -> [(target key, path of the edge)].
    edges: dict[str, list[tuple[str, str]]] = {}
    for i, q in enumerate(queues):
        if not q or not q["overflow"]:
            continue
        for part in ("when_closed", "when_full"):
            action = q["overflow"][part]
            if not action or not isinstance(action["queue"], str):
                continue
            epath = f"queues[{i}].overflow.{part}.queue"
            if action["queue"] not in queue_keys:
                c.err(epath, f"unknown queue {_q(action['queue'])}")
            elif action["action"] == "transfer" and isinstance(q["key"], str):
                edges.setdefault(q["key"], []).append((action["queue"], epath))
    reported: set[frozenset[str]] = set()
    for start, out in edges.items():
        for target, epath in out:
            chain = _path_back(edges, target, start)
            if chain is None:
                continue
            loop = [start, *chain]
            if frozenset(loop) in reported:
                continue
            reported.add(frozenset(loop))
            c.err(epath, "overflow loop: " + " -> ".join(loop))


def _path_back(edges: dict[str, list[tuple[str, str]]], node: str, goal: str) -> list[str] | None:
    """The shortest transfer chain from `node` to `goal`, both included, or None."""
    parents: dict[str, str | None] = {node: None}
    frontier = [node]
    while frontier:
        nxt = []
        for current in frontier:
            if current == goal:
                chain = []
                walk: str | None = current
                while walk is not None:
                    chain.append(walk)
                    walk = parents[walk]
                return chain[::-1]
            for target, _ in edges.get(current, []):
                if target not in parents:
                    parents[target] = current
                    nxt.append(target)
        frontier = nxt
    return None


def _agent(c: _Checker, raw: Any, path: str, skill_keys: set[str]) -> dict | None:
    d = c.obj(raw, path, {"username": REQUIRED, "skills": {}})
    if d is None:
        return None
    return {
        "username": c.text(d["username"], f"{path}.username", max_len=150),
        "skills": _skill_levels(c, d["skills"], f"{path}.skills", skill_keys),
    }


def _skill_levels(
    c: _Checker, raw: Any, path: str, skill_keys: set[str], templates: bool = False
) -> dict[str, int]:
    if not isinstance(raw, dict):
        c.err(path, "must be an object of skill key to level (1-5)")
        return {}
    for skill, level in raw.items():
        if templates and "{" in skill:
            # A rule's key may be filled from the request: "language:{context.Language}".
            shape = TEMPLATE_RE.sub("x", skill)
            if "{" in shape or "}" in shape or not SKILL_RE.fullmatch(shape):
                c.err(
                    f"{path}.{skill}",
                    f"{_q(skill)} is not a skill key template "
                    "(such as language:{context.Language})",
                )
        elif skill not in skill_keys:
            c.err(f"{path}.{skill}", f"unknown skill {_q(skill)}")
        c.integer(level, f"{path}.{skill}", minimum=1, maximum=5)
    return {skill: raw[skill] for skill in sorted(raw)}


def _bot(c: _Checker, raw: Any, path: str, channel_keys: set[str]) -> dict | None:
    d = c.obj(
        raw,
        path,
        {"key": REQUIRED, "name": REQUIRED, "channels": [], "status_callback_url": None},
    )
    if d is None:
        return None
    channels = c.items(d["channels"], f"{path}.channels")
    for i, key in enumerate(channels):
        if not isinstance(key, str) or key not in channel_keys:
            c.err(f"{path}.channels[{i}]", f"unknown channel {_q(key)}")
    c.unique([(f"{path}.channels[{i}]", key) for i, key in enumerate(channels)], "channel")
    return {
        "key": c.slug(d["key"], f"{path}.key"),
        "name": c.text(d["name"], f"{path}.name"),
        "channels": sorted(k for k in channels if isinstance(k, str)),
        "status_callback_url": c.url(
            d["status_callback_url"], f"{path}.status_callback_url", nullable=True
        ),
    }


NODE_SPECS: dict[str, dict[str, Any]] = {
    "message": {"text": REQUIRED},
    "question": {"prompt": REQUIRED, "variable": REQUIRED, "value_type": "text", "choices": []},
    "condition": {"variable": REQUIRED, "op": REQUIRED, "value": None, "goto": REQUIRED},
    "transfer": {"agent_message": "", "reason": ""},
    "end": {},
}


def _topic(c: _Checker, raw: Any, path: str) -> dict | None:
    d = c.obj(raw, path, {"key": REQUIRED, "name": REQUIRED, "trigger_phrases": [], "nodes": []})
    if d is None:
        return None
    phrases = c.items(d["trigger_phrases"], f"{path}.trigger_phrases")
    for i, phrase in enumerate(phrases):
        c.text(phrase, f"{path}.trigger_phrases[{i}]")
    raw_nodes = c.items(d["nodes"], f"{path}.nodes")
    nodes = [_node(c, node, f"{path}.nodes[{i}]") for i, node in enumerate(raw_nodes)]
    c.unique([(f"{path}.nodes[{i}].id", n["id"]) for i, n in enumerate(nodes) if n], "node id")
    ids = {n["id"] for n in nodes if n and isinstance(n["id"], str)}
    for i, node in enumerate(nodes):
        goto = node["goto"] if node and node["type"] == "condition" else None
        if isinstance(goto, str) and goto not in ids:
            c.err(f"{path}.nodes[{i}].goto", f"unknown node {_q(goto)} in this topic")
    # Nodes run in order (a condition may jump): every path ends if the last node does.
    if isinstance(d["nodes"], list) and not raw_nodes:
        c.err(f"{path}.nodes", "a topic needs at least one node, ending with transfer or end")
    elif nodes and nodes[-1] and nodes[-1]["type"] not in ("transfer", "end"):
        c.err(
            f"{path}.nodes[{len(nodes) - 1}]",
            "the last node must be a transfer or an end, so that every path ends",
        )
    return {
        "key": c.slug(d["key"], f"{path}.key"),
        "name": c.text(d["name"], f"{path}.name"),
        "trigger_phrases": phrases,
        "nodes": nodes,
    }


def _node(c: _Checker, raw: Any, path: str) -> dict | None:
    node_type = c.kind(raw, path, "type", NODE_TYPES)
    if node_type is None:
        return None
    d = c.obj(raw, path, {"id": REQUIRED, "type": REQUIRED, **NODE_SPECS[node_type]})
    assert d is not None
    out: dict[str, Any] = {"id": c.slug(d["id"], f"{path}.id"), "type": node_type}
    if node_type == "message":
        out["text"] = c.text(d["text"], f"{path}.text", max_len=4000)
    elif node_type == "question":
        out["prompt"] = c.text(d["prompt"], f"{path}.prompt", max_len=4000)
        out["variable"] = _variable(c, d["variable"], f"{path}.variable")
        out["value_type"] = c.choice(d["value_type"], f"{path}.value_type", VALUE_TYPES)
        choices = c.items(d["choices"], f"{path}.choices")
        for i, choice in enumerate(choices):
            c.text(choice, f"{path}.choices[{i}]")
        c.unique([(f"{path}.choices[{i}]", v) for i, v in enumerate(choices)], "choice")
        if out["value_type"] == "choice" and not choices:
            c.err(f"{path}.choices", "a choice question needs at least one choice")
        if out["value_type"] != "choice" and choices:
            c.err(f"{path}.choices", "only a choice question has choices")
        out["choices"] = choices
    elif node_type == "condition":
        out["variable"] = _variable(c, d["variable"], f"{path}.variable")
        out["op"] = c.choice(d["op"], f"{path}.op", OPS)
        out["value"] = _op_value(c, out["op"], d["value"], f"{path}.value")
        out["goto"] = c.slug(d["goto"], f"{path}.goto")
    elif node_type == "transfer":
        out["agent_message"] = c.text(
            d["agent_message"], f"{path}.agent_message", max_len=4000, blank=True
        )
        out["reason"] = c.text(d["reason"], f"{path}.reason", blank=True)
    return out


def _variable(c: _Checker, value: Any, path: str) -> Any:
    if value is MISSING:
        return value
    if not isinstance(value, str) or not VARIABLE_RE.fullmatch(value) or len(value) > KEY_MAX:
        c.err(path, f"{_q(value)} is not a variable name (letters, digits, _ and .)")
    return value


def _op_value(c: _Checker, op: Any, value: Any, path: str) -> Any:
    """Check a condition's value for its operator (shared by topics and rules)."""
    if op in ("exists", "not_exists"):
        if value is not None:
            c.err(path, f"{op} takes no value")
        return None
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not all(
            v is None or isinstance(v, str | bool) or _is_number(v) for v in value
        ):
            c.err(path, f"{op} needs a list of strings or numbers")
    elif op in ("gt", "gte", "lt", "lte"):
        if not _is_number(value):
            c.err(path, f"{op} needs a number")
    elif op in ("contains", "starts_with"):
        if not isinstance(value, str):
            c.err(path, f"{op} needs a string")
    elif op == "matches":
        # The engine's own check: it refuses what could backtrack forever, too.
        _, refused = compile_pattern(value)
        if refused:
            c.err(path, f"matches needs a usable regular expression: {refused}")
    elif op in ("eq", "ne") and not (
        value is None or isinstance(value, str | bool) or _is_number(value)
    ):
        c.err(path, f"{op} needs a string, number, boolean or null")
    return value


def _context_field(c: _Checker, raw: Any, path: str) -> dict | None:
    d = c.obj(
        raw,
        path,
        {
            "source": REQUIRED,
            "target": REQUIRED,
            "type": "text",
            "required": False,
            "default": None,
            "transform": None,
            "max_length": None,
            "visible_to_agent": True,
            "label": "",
        },
    )
    if d is None:
        return None
    out = {
        "source": c.text(d["source"], f"{path}.source"),
        "target": c.text(d["target"], f"{path}.target", max_len=100),
        "type": c.choice(d["type"], f"{path}.type", FIELD_TYPES),
        "required": c.boolean(d["required"], f"{path}.required"),
        "default": d["default"],
        "transform": c.choice(d["transform"], f"{path}.transform", TRANSFORMS, nullable=True),
        "max_length": c.integer(
            d["max_length"], f"{path}.max_length", minimum=1, maximum=4000, nullable=True
        ),
        "visible_to_agent": c.boolean(d["visible_to_agent"], f"{path}.visible_to_agent"),
        "label": c.text(d["label"], f"{path}.label", blank=True),
    }
    if isinstance(out["type"], str) and out["type"] in FIELD_TYPES:
        if not _convertible(out["default"], out["type"]):
            c.err(f"{path}.default", f"{out['default']!r} cannot be converted to {out['type']}")
        elif (
            isinstance(out["default"], str)
            and _is_int(out["max_length"])
            and len(out["default"]) > out["max_length"]
        ):
            c.err(f"{path}.default", f"is longer than max_length {out['max_length']}")
    return out


def _rule(
    c: _Checker, raw: Any, path: str, queue_keys: set[str], skill_keys: set[str]
) -> dict | None:
    d = c.obj(
        raw,
        path,
        {
            "name": REQUIRED,
            "order": REQUIRED,
            "enabled": True,
            "conditions": {"all": []},
            "queue": REQUIRED,
            "priority": None,
            "require_skills": {},
            "agent_message": "",
        },
    )
    if d is None:
        return None
    queue = d["queue"]
    if queue is not MISSING and (not isinstance(queue, str) or queue not in queue_keys):
        c.err(f"{path}.queue", f"unknown queue {_q(queue)}")
    return {
        "name": c.text(d["name"], f"{path}.name"),
        "order": c.integer(d["order"], f"{path}.order", minimum=0, maximum=2**31 - 1),
        "enabled": c.boolean(d["enabled"], f"{path}.enabled"),
        "conditions": _conditions(c, d["conditions"], f"{path}.conditions"),
        "queue": queue,
        "priority": c.integer(
            d["priority"], f"{path}.priority", minimum=-(2**31), maximum=2**31 - 1, nullable=True
        ),
        "require_skills": _skill_levels(
            c, d["require_skills"], f"{path}.require_skills", skill_keys, templates=True
        ),
        "agent_message": c.text(
            d["agent_message"], f"{path}.agent_message", max_len=4000, blank=True
        ),
    }


def _conditions(c: _Checker, raw: Any, path: str) -> dict | None:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("all", "any"):
        c.err(path, 'must be {"all": [...]} or {"any": [...]}')
        return None
    mode = next(iter(raw))
    items = []
    for i, item in enumerate(c.items(raw[mode], f"{path}.{mode}")):
        ipath = f"{path}.{mode}[{i}]"
        d = c.obj(item, ipath, {"field": REQUIRED, "op": REQUIRED, "value": None})
        if d is None:
            continue
        field = d["field"]
        if field is not MISSING and not is_rule_field(field):
            c.err(
                f"{ipath}.field",
                f"unknown field {_q(field)} (use {', '.join(RULE_FIELDS)}, variables.X, "
                "context.X or customer.id/name/email/phone)",
            )
        op = c.choice(d["op"], f"{ipath}.op", OPS)
        value = _op_value(c, op, d["value"], f"{ipath}.value")
        items.append({"field": field, "op": op, "value": value})
    return {mode: items}


def is_rule_field(field: Any) -> bool:
    if not isinstance(field, str):
        return False
    if field in RULE_FIELDS or field in CUSTOMER_FIELDS:
        return True
    return any(
        field.startswith(prefix) and field[len(prefix) :].strip() == field[len(prefix) :] != ""
        for prefix in RULE_FIELD_PREFIXES
    )


def _check_database(
    c: _Checker,
    queues: list[dict | None],
    agents: list[dict | None],
    bots: list[dict | None],
) -> None:
    """What only the database knows: users, work agents hold, bots with handoffs or talks."""
    refs: list[tuple[str, str]] = []
    for i, q in enumerate(queues):
        for j, m in enumerate(q["members"] if q else []):
            refs.append((f"queues[{i}].members[{j}].username", m["username"]))
    refs += [(f"agents[{i}].username", a["username"]) for i, a in enumerate(agents) if a]
    names = {name for _, name in refs if isinstance(name, str)}
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    if not c.create_users:
        for path, name in refs:
            if isinstance(name, str) and name not in existing:
                c.err(path, f"unknown user {_q(name)} (create it first, or use --create-users)")

    # Lowering a capacity below the work an agent holds now would break the capacity check.
    held: dict[tuple[str, str], int] = {
        (m.queue.key, m.user.username): m.active_count
        for m in QueueMembership.objects.filter(active_count__gt=0).select_related("queue", "user")
    }
    for i, q in enumerate(queues):
        if q is None or not isinstance(q["key"], str):
            continue
        for j, m in enumerate(q["members"]):
            if not isinstance(m["username"], str):
                continue
            count = held.get((q["key"], m["username"]), 0)
            if _is_int(m["capacity"]) and m["capacity"] < count:
                c.err(
                    f"queues[{i}].members[{j}].capacity",
                    f"{m['username']} holds {count} work items in this queue now; "
                    f"capacity must be at least {count}",
                )

    # Handoffs and conversations protect their bot (on_delete=PROTECT): they are the record.
    kept = {b["key"] for b in bots if b and isinstance(b["key"], str)}
    gone = Bot.objects.exclude(key__in=kept).values_list("key", flat=True)
    with_handoffs = set(gone.filter(pk__in=Handoff.objects.values("bot_id")))
    talking = set(gone.filter(pk__in=Conversation.objects.values("bot_id")))
    for key in sorted(with_handoffs | talking):
        what = "handoffs" if key in with_handoffs else "conversations"
        c.err("bots", f'bot "{key}" has {what} and cannot be removed; keep it in the document')


# -- one item at a time, for the portal's forms ---------------------------------------------------


def _item_errors(check: Callable[..., Any], raw: Any, *args: Any) -> list[ConfigError]:
    c = _Checker(create_users=False)
    check(c, raw, "$", *args)
    return [ConfigError(e.path.removeprefix("$").lstrip("."), e.message) for e in c.errors]


def node_errors(raw: dict[str, Any]) -> list[ConfigError]:
    """The document's checks of one topic node; paths are relative to the node ("op")."""
    return _item_errors(_node, raw)


def context_field_errors(raw: dict[str, Any]) -> list[ConfigError]:
    """The document's checks of one context field; paths are relative to the field."""
    return _item_errors(_context_field, raw)


def rule_errors(
    raw: dict[str, Any], *, queue_keys: set[str], skill_keys: set[str]
) -> list[ConfigError]:
    """The document's checks of one rule; paths are relative to it ("conditions.all[0].op")."""
    return _item_errors(_rule, raw, queue_keys, skill_keys)
