"""Context mapping (docs/routing.md "Context fields"): system fields, types, transforms, masking.

Pure: plain request data in, mapped values out. Rules see `values` (converted, before masking);
everything stored or delivered goes through the `Masker`, which replaces a masked value wherever
it appears verbatim: in the context, the variables, the customer and the transcript.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handoff.engine.conditions import (
    MISSING,
    number_text,
    show,
    text_form,
    to_bool,
    to_datetime,
    to_number,
)
from handoff.engine.vocabulary import FieldType, Transform

MASKS = frozenset({Transform.MASK_ALL, Transform.MASK_KEEP_LAST4, Transform.REDACT_EMAIL})
CUSTOMER_KEYS = ("id", "name", "email", "phone")
CUSTOMER_SPEAKERS = frozenset(("customer", "user"))
# Masked values shorter than this are replaced in free text only where they stand alone
# (not inside a longer word or number), so masking "42" does not shred every "420".
SHORT_SECRET = 4


@dataclass(frozen=True)
class FieldSpec:
    source: str
    target: str
    type: str
    required: bool
    default: Any
    transform: str | None
    max_length: int | None
    visible_to_agent: bool
    label: str


def compile_fields(raw: Any) -> tuple[FieldSpec, ...]:
    fields = []
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, dict) or not isinstance(item.get("target"), str):
            continue
        max_length = item.get("max_length")
        fields.append(
            FieldSpec(
                source=str(item.get("source") or ""),
                target=item["target"],
                type=str(item.get("type") or FieldType.TEXT),
                required=item.get("required") is True,
                default=item.get("default"),
                transform=item.get("transform") if isinstance(item.get("transform"), str) else None,
                max_length=max_length if isinstance(max_length, int) else None,
                visible_to_agent=item.get("visible_to_agent", True) is not False,
                label=str(item.get("label") or item["target"]),
            )
        )
    return tuple(fields)


# -- system fields ---------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def system_fields(request: dict[str, Any], *, bot_key: str) -> dict[str, Any]:
    """The va_* variables of Copilot Studio and our customer.* / transcript.* fields."""
    transcript = request.get("transcript")
    transcript = transcript if isinstance(transcript, list) else []
    said = [
        item["text"]
        for item in transcript
        if isinstance(item, dict)
        and item.get("from") in CUSTOMER_SPEAKERS
        and isinstance(item.get("text"), str)
    ]
    customer = request.get("customer")
    customer = customer if isinstance(customer, dict) else {}
    topics = request.get("topics")
    topic = _text(request.get("topic")) or _text(request.get("topic_name"))
    fields: dict[str, Any] = {
        "va_LastTopic": topic,
        "va_Topics": [t for t in topics if isinstance(t, str)] if isinstance(topics, list) else [],
        "va_LastPhrases": said[-1] if said else None,
        "va_Phrases": "\n".join(said) if said else None,
        "va_ConversationId": _text(request.get("conversation_id")),
        "va_AgentMessage": _text(request.get("agent_message")),
        "va_BotId": bot_key,
        "va_Language": _text(request.get("locale")),
        "va_Scope": "bot",
        "transcript.last_user_message": said[-1] if said else None,
        "transcript.turns": len(transcript),
    }
    for key in CUSTOMER_KEYS:
        fields[f"customer.{key}"] = customer.get(key)
    return fields


# -- masking --------------------------------------------------------------------------------


def mask(text: str, how: str) -> str:
    # Surrounding blanks are not part of a secret; masking them would only garble the hint.
    text = text.strip()
    if how == Transform.MASK_KEEP_LAST4:
        # Showing four characters of a short value would show most of it: mask it all.
        if len(text) < 8:
            return "*" * len(text)
        return "*" * (len(text) - 4) + text[-4:]
    if how == Transform.REDACT_EMAIL:
        local, at, domain = text.rpartition("@")
        if not at or not local or not domain:
            return "*" * len(text)
        shown = local[0] if len(local) >= 3 else ""
        return f"{shown}***@{domain}"
    return "*" * len(text)


class Masker:
    """Replaces every masked value, wherever it appears verbatim (case-insensitive)."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self._originals: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        # Lower-cased secrets, longest first, for the str.find path (see text()).
        self._lowered: list[tuple[str, str]] | None = None
        self._lower_safe = True

    def add(self, secret: str, masked: str) -> None:
        # Surrounding blanks are not part of the secret; blank text is never a secret at all
        # (replacing it would shred the transcript).
        secret = secret.strip()
        if secret and secret != masked:
            self.secrets.setdefault(secret.casefold(), masked)
            # The pattern uses the text as given: casefold() can change it ("ß" -> "ss").
            self._originals.setdefault(secret, masked)
            self._pattern = None
            self._lowered = None
            if len(secret.lower()) != len(secret):
                self._lower_safe = False

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def _compiled(self) -> re.Pattern[str]:
        if self._pattern is None:
            parts = []
            # Longest first, so that a value and its trimmed form both disappear whole.
            for secret in sorted(self._originals, key=len, reverse=True):
                escaped = re.escape(secret)
                if len(secret) < SHORT_SECRET:
                    escaped = rf"(?<![^\W_]){escaped}(?![^\W_])"
                parts.append(escaped)
            self._pattern = re.compile("|".join(parts), re.IGNORECASE)
        return self._pattern

    def _replace(self, match: re.Match[str]) -> str:
        found = match.group(0)
        masked = self._originals.get(found) or self.secrets.get(found.casefold())
        return masked if masked is not None else "*" * len(found)

    def text(self, value: str) -> str:
        if not self.secrets or not value:
            return value
        lowered = value.lower()
        if not self._lower_safe or len(lowered) != len(value):
            # Lower-casing changed a length ("İ"): positions would not line up, use the regex.
            return self._compiled().sub(self._replace, value)
        return self._splice(value, lowered)

    def _splice(self, value: str, lowered: str) -> str:
        """The regex's result, faster: a big transcript is scanned by str.find per secret
        rather than by an alternation of every secret tried at every position."""
        if self._lowered is None:
            pairs = {secret.lower(): masked for secret, masked in self._originals.items()}
            self._lowered = sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True)
        found: list[tuple[int, int, str]] = []
        for secret, masked in self._lowered:
            size = len(secret)
            start = lowered.find(secret)
            while start != -1:
                end = start + size
                if size >= SHORT_SECRET or (
                    (start == 0 or not value[start - 1].isalnum())
                    and (end == len(value) or not value[end].isalnum())
                ):
                    found.append((start, -size, masked))
                start = lowered.find(secret, start + 1)
        if not found:
            return value
        # Leftmost first, the longest at one position, never overlapping: like the regex.
        found.sort()
        parts = []
        at = 0
        for start, negative_size, masked in found:
            if start < at:
                continue
            parts.append(value[at:start])
            parts.append(masked)
            at = start - negative_size
        parts.append(value[at:])
        return "".join(parts)

    def value(self, value: Any) -> Any:
        """A JSON value with every masked value masked, at any depth."""
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, bool | int | float):
            # A number or boolean that is itself a secret becomes its masked text.
            text = text_form(value)
            if text is not None and text.casefold() in self.secrets:
                return self.secrets[text.casefold()]
        return value


# -- context --------------------------------------------------------------------------------


class Invalid(Exception):
    pass


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        parts = [text_form(item) for item in value]
        if any(part is None for part in parts):
            raise Invalid("is a list with items that are not text")
        return ", ".join(p for p in parts if p is not None)
    text = text_form(value)
    if text is None:
        raise Invalid("is not text")
    return text


def convert(value: Any, spec: FieldSpec) -> Any:
    """The value in the field's type, with its text transform; raises Invalid."""
    kind = spec.type
    if kind == FieldType.NUMBER:
        number = to_number(value) if not isinstance(value, datetime) else None
        if number is None:
            raise Invalid("is not a number")
        return number
    if kind == FieldType.BOOLEAN:
        flag = to_bool(value)
        if flag is None:
            raise Invalid("is not a boolean (true/false, yes/no, 1/0)")
        return flag
    if kind == FieldType.DATETIME:
        moment = to_datetime(value)
        if moment is None:
            raise Invalid("is not an ISO-8601 date and time")
        return moment
    text = _as_text(value)
    if spec.transform == Transform.TRIM:
        text = text.strip()
    elif spec.transform == Transform.LOWER:
        text = text.lower()
    elif spec.transform == Transform.UPPER:
        text = text.upper()
    return text


def _length_of(value: Any, converted: Any, spec: FieldSpec) -> int:
    if spec.type == FieldType.TEXT and isinstance(converted, str):
        return len(converted)
    return len(value) if isinstance(value, str) else 0


def stored_form(value: Any) -> Any:
    """JSON-serialisable: datetimes as ISO strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass
class Mapped:
    values: dict[str, Any] = field(default_factory=dict)  # target -> converted, unmasked
    context: dict[str, Any] = field(default_factory=dict)  # target -> stored form, masked
    visible: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)  # for the explanation
    masker: Masker = field(default_factory=Masker)


def _lookup(source: str, system: dict[str, Any], variables: dict[str, Any]) -> Any:
    if source in system:
        return system[source]
    if source in variables:
        return variables[source]
    if source.startswith("variables.") and source[10:] in variables:
        return variables[source[10:]]
    return MISSING


def _is_empty(value: Any) -> bool:
    return value is MISSING or value is None or value == "" or value == []


def _mask_field(spec: FieldSpec, raw: Any, converted: Any, mapped: Mapped) -> Any:
    """The masked stored form; registers the raw and converted texts as secrets."""
    text = text_form(converted)
    if text is None:
        text = _as_text(converted)
    masked = mask(text, spec.transform or Transform.MASK_ALL)
    for secret in _secret_forms(raw) + _secret_forms(converted):
        mapped.masker.add(secret, masked)
    return masked


def _secret_forms(value: Any) -> list[str]:
    if isinstance(value, list):
        return [form for item in value for form in _secret_forms(item)]
    text = text_form(value)
    if text is None:
        return []
    forms = [text, text.strip()]
    number = to_number(value) if isinstance(value, str) else None
    if number is not None:
        forms.append(number_text(number))
    return forms


def map_context(
    fields: tuple[FieldSpec, ...], system: dict[str, Any], variables: dict[str, Any]
) -> Mapped:
    mapped = Mapped()
    for spec in fields:
        _map_field(spec, system, variables, mapped)
    # A masked field's value can also sit in an unmasked field (the same variable twice).
    if mapped.masker:
        for spec in fields:
            if spec.target in mapped.context and spec.transform not in MASKS:
                mapped.context[spec.target] = mapped.masker.value(mapped.context[spec.target])
    for spec in fields:
        if spec.visible_to_agent and spec.target in mapped.context:
            mapped.visible.append(
                {"target": spec.target, "label": spec.label, "value": mapped.context[spec.target]}
            )
    return mapped


def _map_field(
    spec: FieldSpec, system: dict[str, Any], variables: dict[str, Any], mapped: Mapped
) -> None:
    raw = _lookup(spec.source, system, variables)
    masked = spec.transform in MASKS
    if masked and not _is_empty(raw):
        # Even a value we cannot use is a secret: it must not stay readable anywhere.
        for secret in _secret_forms(raw):
            mapped.masker.add(secret, mask(secret, spec.transform or Transform.MASK_ALL))
    problem: str | None = None
    if _is_empty(raw):
        problem = "is missing"
    else:
        try:
            converted = convert(raw, spec)
            if spec.max_length is not None and _length_of(raw, converted, spec) > spec.max_length:
                raise Invalid(f"is longer than {spec.max_length} characters")
        except Invalid as exc:
            problem = str(exc)
    if problem is None and spec.type == FieldType.TEXT and converted == "":
        # Blank after trimming is no value at all, like an absent one.
        problem, raw = "is missing", None
    if problem is None:
        _store(spec, raw, converted, mapped, f"from {spec.source}: {show(raw)}")
        return
    where = f"{spec.target} (from {spec.source})"
    if spec.required:
        mapped.errors[spec.target] = f"Required context field {where} {problem}."
        mapped.notes.append({"field": spec.target, "text": f"{where} {problem}: required"})
        return
    default_note = "left out"
    if spec.default is not None:
        try:
            _store(spec, spec.default, convert(spec.default, spec), mapped, "default")
            default_note = f"uses the default {show(spec.default)}"
        except Invalid:
            default_note = "left out (the default does not convert)"
    # A value that is simply not there is normal for an optional field: no warning.
    if raw is not MISSING and raw is not None and raw != "":
        message = f"Context field {where} {problem}; {default_note}."
        mapped.warnings.append({"field": spec.target, "message": message})
    mapped.notes.append({"field": spec.target, "text": f"{where} {problem}: {default_note}"})


def _store(spec: FieldSpec, raw: Any, converted: Any, mapped: Mapped, how: str) -> None:
    mapped.values[spec.target] = converted
    if spec.transform in MASKS:
        if how == "default":
            # The default is configuration, not a secret: mask it here, not in the transcript.
            text = text_form(converted)
            masked = mask(text if text is not None else _as_text(converted), spec.transform)
            mapped.context[spec.target] = masked
        else:
            mapped.context[spec.target] = _mask_field(spec, raw, converted, mapped)
        shown = show(mapped.context[spec.target])
        text = f"{spec.target} = {shown} ({spec.type}, {spec.transform}; {how.split(':')[0]})"
    else:
        mapped.context[spec.target] = stored_form(converted)
        text = f"{spec.target} = {show(converted)} ({spec.type}; {how})"
    mapped.notes.append({"field": spec.target, "text": text})
