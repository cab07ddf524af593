"""The handoff request body: checked and cleaned, or refused naming every bad field.

Pure: plain data in, the cleaned body out, or an `Invalid` error whose fields name each bad
part ("customer.email", "transcript[2].from") with the message bots have always been given.
POST /api/v1/handoffs, the Bot Framework endpoint, the conversation runtime and the simulator
all check a body here. handoff/api/serializers.py describes the same body for the OpenAPI
schema with these limits; tests/api/test_handoff_body.py holds the two together.

The rules follow the serializers the API first validated with (Django REST framework): numbers
are accepted as text, text is trimmed unless said otherwise, a list item's problems are named by
index, a nested object that is not an object is named "<field>.body", the whole body "body".
"""

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from handoff.errors import Invalid

LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
MAX_VARIABLES = 200
MAX_VARIABLE_NAME = 100
MAX_TRANSCRIPT = 1000
MAX_TEXT = 4000
MAX_TOPICS = 200
# How many unknown fields an error names; the rest are not worth a longer answer.
MAX_UNKNOWN_NAMED = 20
SPEAKERS = ("customer", "bot", "system")

REQUIRED = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."
UNKNOWN = "Unknown field."


class _Missing:
    """A field the body does not have (None is a value: null)."""


MISSING = _Missing()


class _Bad(Exception):
    """The messages of one field, joined by a space where it is named."""

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = messages


class _Reported(Exception):
    """A nested part whose problems are already named, each at its own path."""


def _at(prefix: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    # The serializers' name for "the object itself"; a field of that name reads the same way.
    name = "body" if name == "non_field_errors" else name
    return f"{prefix}.{name}" if prefix else name


def _kind(value: Any) -> str:
    return type(value).__name__


def _text_problems(text: str) -> list[str]:
    """What PostgreSQL cannot store in text or JSON: NUL, and a lone half of a surrogate pair
    (a JavaScript bot that cuts a string inside an emoji sends one)."""
    problems = []
    if "\x00" in text:
        problems.append("Null characters are not allowed.")
    if not text.isascii():
        surrogate = next((ch for ch in text if 0xD800 <= ord(ch) <= 0xDFFF), None)
        if surrogate is not None:
            problems.append(f"Surrogate characters are not allowed: U+{ord(surrogate):X}.")
    return problems


# Numbers a variable may hold: what a 64-bit integer or a finite double can be.
MAX_INTEGER = 2**63 - 1


def variable_problem(name: str, value: Any, *, max_name: int, max_text: int) -> str | None:
    """What is wrong with one bot variable, or None (the API's serializer says the same)."""
    if not name or len(name) > max_name:
        return f"Variable names are 1 to {max_name} characters."
    problems = _text_problems(name)
    if problems:
        return "The name: " + " ".join(problems)
    if isinstance(value, str):
        if len(value) > max_text:
            return f"At most {max_text} characters."
        return " ".join(_text_problems(value)) or None
    if value is not None and not isinstance(value, (bool, int, float)):
        return "Expected a string, number, boolean or null."
    if isinstance(value, float) and not math.isfinite(value):  # NaN, or out of range (1e400)
        return "Expected a finite number."
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        return f"Expected a number between -{MAX_INTEGER} and {MAX_INTEGER}."
    return None


@dataclass(frozen=True)
class Text:
    max_length: int
    required: bool = False
    null: bool = False
    blank: bool = False
    trim: bool = True
    check: Callable[[str], None] | None = None  # after the text is clean; raises _Bad

    def clean(self, value: Any, path: str, errors: dict[str, str]) -> str:
        if value == "" or (self.trim and isinstance(value, str) and not value.strip()):
            if not self.blank:
                raise _Bad(BLANK)
            return ""
        # Numbers are taken as text; a boolean, a list or an object is a mistake.
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _Bad("Not a valid string.")
        text = str(value).strip() if self.trim else str(value)
        problems = []
        if len(text) > self.max_length:
            problems.append(f"Ensure this field has no more than {self.max_length} characters.")
        problems += _text_problems(text)
        if problems:
            raise _Bad(*problems)
        if self.check is not None:
            self.check(text)
        return text


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]
    required: bool = False
    null: bool = False

    def clean(self, value: Any, path: str, errors: dict[str, str]) -> str:
        if str(value) not in self.choices:
            raise _Bad(f'"{value}" is not a valid choice.')
        return str(value)


@dataclass(frozen=True)
class TextList:
    item: Text
    max_items: int
    required: bool = False
    null: bool = False

    def clean(self, value: Any, path: str, errors: dict[str, str]) -> list[str]:
        if isinstance(value, (str, Mapping)) or not hasattr(value, "__iter__"):
            raise _Bad(f'Expected a list of items but got type "{_kind(value)}".')
        items = list(value)
        cleaned, bad = [], {}
        for index, item in enumerate(items):
            try:
                if item is None:
                    raise _Bad(NULL)
                cleaned.append(self.item.clean(item, _at(path, index), errors))
            except _Bad as exc:
                bad[_at(path, index)] = " ".join(exc.messages)
        if bad:
            errors.update(bad)
            raise _Reported
        # The length is checked once every item is: a bad item is named first.
        if len(items) > self.max_items:
            raise _Bad(f"Ensure this field has no more than {self.max_items} elements.")
        return cleaned


@dataclass(frozen=True)
class Object:
    fields: dict[str, Any]  # name -> Text, Choice, TextList, Object, ObjectList or Variables
    required: bool = False
    null: bool = False

    def clean(self, value: Any, path: str, errors: dict[str, str]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            errors[_at(path, "body")] = (
                f"Invalid data. Expected a dictionary, but got {_kind(value)}."
            )
            raise _Reported
        unknown = sorted(set(value) - set(self.fields)) if isinstance(value, dict) else []
        if unknown:
            for name in unknown[:MAX_UNKNOWN_NAMED]:
                errors[_at(path, name)] = UNKNOWN
            raise _Reported
        cleaned: dict[str, Any] = {}
        failed = False
        for name, spec in self.fields.items():
            at = _at(path, name)
            item = value.get(name, MISSING)
            try:
                if isinstance(item, _Missing):
                    if spec.required:
                        raise _Bad(REQUIRED)
                    continue
                if item is None:
                    if not spec.null:
                        raise _Bad(NULL)
                    cleaned[name] = None
                    continue
                cleaned[name] = spec.clean(item, at, errors)
            except _Bad as exc:
                errors[at] = " ".join(exc.messages)
                failed = True
            except _Reported:
                failed = True
        if failed:
            raise _Reported
        return cleaned


@dataclass(frozen=True)
class ObjectList:
    item: Object
    max_items: int
    required: bool = False
    null: bool = False

    def clean(self, value: Any, path: str, errors: dict[str, str]) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            errors[_at(path, "body")] = f'Expected a list of items but got type "{_kind(value)}".'
            raise _Reported
        if len(value) > self.max_items:
            errors[_at(path, "body")] = (
                f"Ensure this field has no more than {self.max_items} elements."
            )
            raise _Reported
        cleaned = []
        failed = False
        for index, item in enumerate(value):
            try:
                if item is None:
                    errors[_at(path, index)] = NULL
                    raise _Reported
                cleaned.append(self.item.clean(item, _at(path, index), errors))
            except _Reported:
                failed = True
        if failed:
            raise _Reported
        return cleaned


@dataclass(frozen=True)
class Variables:
    """Bot variables: name -> string, number, boolean or null."""

    required: bool = False
    null: bool = False
    max_items: int = MAX_VARIABLES
    max_name: int = MAX_VARIABLE_NAME
    max_text: int = MAX_TEXT

    def clean(self, value: Any, path: str, errors: dict[str, str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Bad("Expected an object of name to value.")
        if len(value) > self.max_items:
            raise _Bad(f"At most {self.max_items} variables.")
        bad: dict[str, str] = {}
        for name, item in value.items():
            problem = variable_problem(name, item, max_name=self.max_name, max_text=self.max_text)
            if problem is not None:
                bad[name[: self.max_name] or "(empty)"] = problem
        if bad:
            errors.update({_at(path, name): message for name, message in bad.items()})
            raise _Reported
        return dict(value)


# -- the date and time of a transcript line ---------------------------------------------------

# As django.utils.dateparse.parse_datetime reads what datetime.fromisoformat does not.
_DATETIME_RE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"[T ](?P<hour>\d{1,2}):(?P<minute>\d{1,2})"
    r"(?::(?P<second>\d{1,2})(?:[.,](?P<microsecond>\d{1,6})\d{0,6})?)?"
    r"\s*(?P<tzinfo>Z|[+-]\d{2}(?::?\d{2})?)?$"
)


def is_datetime(value: str) -> bool:
    """Whether Django's parse_datetime reads `value` as a date and time (ISO 8601)."""
    try:
        datetime.fromisoformat(value)
        return True
    except ValueError:
        pass
    match = _DATETIME_RE.match(value)
    if match is None:
        return False
    parts = match.groupdict()
    offset = parts.pop("tzinfo")
    parts["microsecond"] = parts["microsecond"] and parts["microsecond"].ljust(6, "0")
    try:
        if offset is not None and offset != "Z":
            minutes = 60 * int(offset[1:3]) + (int(offset[-2:]) if len(offset) > 3 else 0)
            timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))
        fields: dict[str, Any] = {k: int(v) for k, v in parts.items() if v is not None}
        datetime(**fields)
    except ValueError:
        return False
    return True


def _check_locale(value: str) -> None:
    if value and not LOCALE_RE.match(value):
        raise _Bad("Expected a BCP-47 tag such as en-US.")


def _check_at(value: str) -> None:
    if not is_datetime(value):
        raise _Bad("Expected an ISO-8601 date and time.")


CUSTOMER = Object(
    {
        "id": Text(200, blank=True),
        "name": Text(200, blank=True),
        "email": Text(320, blank=True),
        "phone": Text(50, blank=True),
    }
)
TRANSCRIPT_LINE = Object(
    {
        "text": Text(MAX_TEXT, required=True, blank=True, trim=False),
        "at": Text(64, check=_check_at),
        "from": Choice(SPEAKERS, required=True),
    }
)
HANDOFF_BODY = Object(
    {
        "conversation_id": Text(200, required=True),
        "channel": Text(100, required=True),
        "topic": Text(200, null=True),
        "topics": TextList(Text(200), max_items=MAX_TOPICS),
        "locale": Text(35, blank=True, check=_check_locale),
        "reason": Text(200, blank=True),
        "customer": CUSTOMER,
        "variables": Variables(),
        "transcript": ObjectList(TRANSCRIPT_LINE, max_items=MAX_TRANSCRIPT),
        "agent_message": Text(1000, blank=True),
    }
)


def validate_handoff_body(body: Any) -> dict[str, Any]:
    """The cleaned handoff body, or Invalid naming every bad field and why."""
    errors: dict[str, str] = {}
    if body is None:
        errors["body"] = "No data provided"
    else:
        try:
            return HANDOFF_BODY.clean(body, "", errors)
        except _Reported:
            pass
    raise Invalid(f"Invalid request: {', '.join(errors)}.", fields=errors)
