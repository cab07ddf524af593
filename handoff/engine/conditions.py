"""Rule conditions: type-aware values and the operators of docs/routing.md. Pure, no I/O.

A condition is compiled once per published snapshot (`compile_condition`), then evaluated per
request against plain values. Comparisons are type-aware: a number sent as "250" compares as a
number, "yes" as a boolean, an ISO-8601 string as a datetime. Text comparisons ignore case.
See docs/routing.md for the whole table.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handoff.engine.vocabulary import Operator

try:  # The parser moved in Python 3.11; only the regex safety check uses it.
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]


class _Missing:
    """An absent value: no key at all, which `exists` tells apart from nothing else."""

    def __repr__(self) -> str:
        return "(absent)"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

TRUE_WORDS = frozenset(("true", "yes", "1"))
FALSE_WORDS = frozenset(("false", "no", "0"))
# Longer strings are not numbers: bounds the cost of float() and rules out int-digit limits.
NUMBER_TEXT_LIMIT = 100
NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# `matches` looks at this many characters at most, so a pattern can never scan a huge value.
MATCH_INPUT_LIMIT = 1000


# -- values ---------------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_number(value: Any) -> int | float | None:
    """A finite number from a number or numeric text ("250", " 250.40 ", "1e3"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > NUMBER_TEXT_LIMIT or not NUMBER_RE.fullmatch(text):
            return None
        if "." not in text and "e" not in text and "E" not in text:
            return int(text)
        number = float(text)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime):
        return aware(value).timestamp()
    return None


def to_bool(value: Any) -> bool | None:
    """true/false/yes/no/1/0 (any case) and the booleans; else None."""
    if isinstance(value, bool):
        return value
    if is_number(value):
        return {0: False, 1: True}.get(value)  # type: ignore[call-overload]
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def aware(moment: datetime) -> datetime:
    # A datetime without an offset is read as UTC, so that any two compare.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def to_datetime(value: Any) -> datetime | None:
    """An ISO-8601 string ("2026-11-25T10:00:00Z", "2026-11-25") as an aware datetime."""
    if isinstance(value, datetime):
        return aware(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not 10 <= len(text) <= 40:
        return None
    try:
        return aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def number_text(number: int | float) -> str:
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    try:
        return str(number)
    except ValueError:  # an int past Python's digit limit
        return "(a very large number)"


def text_form(value: Any) -> str | None:
    """How a scalar reads as text: for contains, starts_with, matches and templates."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return number_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return None


def show(value: Any, limit: int = 80) -> str:
    """A short, readable rendering of a value for the explanation."""
    if value is MISSING:
        return "absent"
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value if len(value) <= limit else value[:limit] + "…"
        return '"' + text + '"'
    if isinstance(value, list | tuple):
        inner = ", ".join(show(v, 30) for v in value[:10])
        return "[" + inner + (", …" if len(value) > 10 else "") + "]"
    if isinstance(value, dict):
        return "an object"
    form = text_form(value)
    return form if form is not None else type(value).__name__


# -- regular expressions --------------------------------------------------------------------


def _has_nested_repeat(items: Any, inside_repeat: bool) -> bool:
    for op, arg in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _low, high, sub = arg
            repeats = high is _sre_parse.MAXREPEAT or high > 1
            if repeats and inside_repeat:
                return True
            if _has_nested_repeat(sub, inside_repeat or repeats):
                return True
        elif name == "SUBPATTERN":
            if _has_nested_repeat(arg[-1], inside_repeat):
                return True
        elif name == "BRANCH":
            if any(_has_nested_repeat(alt, inside_repeat) for alt in arg[1]):
                return True
        elif name in ("ASSERT", "ASSERT_NOT"):
            if _has_nested_repeat(arg[1], inside_repeat):
                return True
        elif name == "ATOMIC_GROUP":
            if _has_nested_repeat(arg, inside_repeat):
                return True
        elif name == "GROUPREF_EXISTS":
            for part in arg[1:]:
                if part is not None and _has_nested_repeat(part, inside_repeat):
                    return True
    return False


def compile_pattern(pattern: Any) -> tuple[re.Pattern[str] | None, str | None]:
    """The compiled pattern, or None and why it is refused.

    Python's re has no timeout, so a pattern that can backtrack exponentially (a repeated
    group that itself repeats, such as (a+)+) is refused here, once per snapshot; publish
    validation already rejects invalid syntax.
    """
    if not isinstance(pattern, str):
        return None, "the pattern is not text"
    if len(pattern) > 1000:
        return None, "the pattern is longer than 1,000 characters"
    try:
        parsed = _sre_parse.parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        return None, f"the pattern is invalid ({exc})"
    try:
        nested = _has_nested_repeat(parsed, False)
    except Exception:  # an unexpected parse tree: refuse rather than risk a runaway match
        nested = True
    if nested:
        return None, "the pattern nests repetitions (such as (a+)+), which can take forever"
    return compiled, None


# -- conditions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """A condition value prepared once in every form a type-aware comparison may need."""

    raw: Any
    folded: str | None
    number: int | float | None
    boolean: bool | None
    moment: datetime | None

    @classmethod
    def of(cls, raw: Any) -> "Expected":
        folded = text_form(raw)
        return cls(
            raw=raw,
            folded=folded.casefold() if folded is not None else None,
            number=to_number(raw),
            boolean=to_bool(raw) if not is_number(raw) else None,
            moment=to_datetime(raw) if isinstance(raw, str) else None,
        )


def _scalar_eq(actual: Any, exp: Expected) -> bool:
    if actual is None or actual is MISSING:
        return exp.raw is None
    if exp.raw is None:
        return False
    if isinstance(actual, bool):
        return exp.boolean is not None and actual is exp.boolean
    if is_number(actual):
        if isinstance(exp.raw, bool):
            return to_bool(actual) is exp.raw
        return exp.number is not None and actual == exp.number
    if isinstance(actual, datetime):
        if exp.moment is not None:
            return aware(actual) == exp.moment
        return exp.number is not None and aware(actual).timestamp() == exp.number
    if isinstance(actual, str):
        if isinstance(exp.raw, bool):
            return to_bool(actual) is exp.raw
        if is_number(exp.raw):
            number = to_number(actual)
            return number is not None and number == exp.raw
        # Two texts: equal ignoring case, or both numbers of the same value ("250" vs "250.0").
        if actual.casefold() == exp.folded:
            return True
        if exp.number is not None:
            number = to_number(actual)
            return number is not None and number == exp.number
        return False
    return False


def _any(actual: Any, test: Callable[[Any], bool]) -> bool:
    # A list value (such as `topics`) satisfies a positive test when one of its items does.
    if isinstance(actual, list | tuple):
        return any(test(item) for item in actual)
    return test(actual)


class Condition:
    """One compiled condition. `test` is the operator's check, chosen once at compile time."""

    __slots__ = (
        "describe",
        "exact",
        "expected",
        "field",
        "folded",
        "key",
        "memo",
        "one",
        "op",
        "pattern",
        "refused",
        "source",
        "test",
        "text_only",
        "value",
    )

    def __init__(self, *, field: str, op: str, value: Any, source: str, key: str) -> None:
        self.field = field
        self.op = op
        self.value = value
        # Where the value lives, resolved once: ("request", "topic"), ("variables", "amount")...
        self.source = source
        self.key = key
        values = value if op in ("in", "not_in") and isinstance(value, list) else [value]
        self.expected = tuple(Expected.of(v) for v in values)
        first = self.expected[0] if self.expected else Expected.of(None)
        self.folded = first.folded
        # Text that equals, ignoring case, any expected text of eq/in: the common fast path.
        self.exact = frozenset(
            e.folded for e in self.expected if isinstance(e.raw, str) and e.folded
        )
        # When every expected value is plain text, text is equal only by that membership.
        self.text_only = all(
            isinstance(e.raw, str) and e.number is None and e.moment is None for e in self.expected
        )
        self.pattern: re.Pattern[str] | None = None
        self.refused: str | None = None
        self.describe = ""
        # Explanations render a field's value once per request; the failure reason also
        # depends on the kind of operator (a number for gt, text for contains...).
        kind = {"gt": "n", "gte": "n", "lt": "n", "lte": "n", "contains": "t"}.get(op, "")
        kind = "t" if op in ("starts_with", "matches") else kind
        self.memo = f"{field}\x00{kind}"
        # eq and in share their test: an item equals the expected value, or one of several.
        self.one = self._eq_one if len(self.expected) == 1 else self._in_one
        self.test: Callable[[Any], bool] = getattr(self, "_" + op, self._unknown)

    def _unknown(self, actual: Any) -> bool:
        return False

    def _eq(self, actual: Any) -> bool:
        if actual.__class__ is str:
            if actual.casefold() in self.exact:
                return True
            if self.text_only:
                return False
        return _any(actual, self.one)

    def _ne(self, actual: Any) -> bool:
        return not self._eq(actual)

    _in = _eq
    _not_in = _ne

    def _exists(self, actual: Any) -> bool:
        return _exists(actual)

    def _not_exists(self, actual: Any) -> bool:
        return not _exists(actual)

    def _contains(self, actual: Any) -> bool:
        if actual.__class__ is str and self.folded is not None:
            return self.folded in actual.casefold()
        if isinstance(actual, list | tuple):
            return any(self._eq_one(item) for item in actual)
        text = text_form(actual)
        return text is not None and self.folded is not None and self.folded in text.casefold()

    def _starts_with(self, actual: Any) -> bool:
        if actual.__class__ is str and self.folded is not None:
            return actual.casefold().startswith(self.folded)
        return _any(actual, self._starts_with_one)

    def _gt(self, actual: Any) -> bool:
        number = _number_of(actual)
        bound = self.expected[0].number
        return number is not None and bound is not None and number > bound

    def _gte(self, actual: Any) -> bool:
        number = _number_of(actual)
        bound = self.expected[0].number
        return number is not None and bound is not None and number >= bound

    def _lt(self, actual: Any) -> bool:
        number = _number_of(actual)
        bound = self.expected[0].number
        return number is not None and bound is not None and number < bound

    def _lte(self, actual: Any) -> bool:
        number = _number_of(actual)
        bound = self.expected[0].number
        return number is not None and bound is not None and number <= bound

    def _matches(self, actual: Any) -> bool:
        if actual.__class__ is str and self.pattern is not None:
            return self.pattern.search(actual[:MATCH_INPUT_LIMIT]) is not None
        return _any(actual, self._matches_one)

    def _eq_one(self, actual: Any) -> bool:
        return _scalar_eq(actual, self.expected[0])

    def _in_one(self, actual: Any) -> bool:
        return any(_scalar_eq(actual, exp) for exp in self.expected)

    def _starts_with_one(self, actual: Any) -> bool:
        text = text_form(actual)
        return (
            text is not None and self.folded is not None and text.casefold().startswith(self.folded)
        )

    def _matches_one(self, actual: Any) -> bool:
        if self.pattern is None:
            return False
        text = text_form(actual)
        return text is not None and self.pattern.search(text[:MATCH_INPUT_LIMIT]) is not None

    def why_not(self, actual: Any, shown: str | None = None) -> str:
        """Why the condition failed, in words, for the explanation (`shown`: actual, masked)."""
        shown = show(actual) if shown is None else shown
        return f"{self.describe}: {self.field} is {shown}{self.why_suffix(actual)}"

    def why_suffix(self, actual: Any) -> str:
        """What to add after "<field> is <value>" when the value's type explains the failure."""
        op = self.op
        if op == "matches" and self.refused:
            return f"; the pattern is refused: {self.refused}"
        if actual is MISSING or actual is None or isinstance(actual, list | tuple):
            return ""
        if op in ("gt", "gte", "lt", "lte") and _number_of(actual) is None:
            return ", which is not a number"
        if op in ("contains", "starts_with", "matches") and text_form(actual) is None:
            return ", which is not text"
        return ""


def _number_of(actual: Any) -> int | float | None:
    # A list (such as `topics`) is never a number; everything else goes through to_number.
    if actual.__class__ is int or actual.__class__ is float:
        return actual if actual == actual else None  # NaN is not a number
    return None if isinstance(actual, list | tuple) else to_number(actual)


def _exists(actual: Any) -> bool:
    # Bots often send "" for a variable never set: that counts as absent, like null and [].
    if actual is None or actual is MISSING:
        return False
    if isinstance(actual, str | list | tuple | dict):
        return len(actual) > 0
    return True


OP_WORDS: dict[str, str] = {
    Operator.EQ: "equals",
    Operator.NE: "does not equal",
    Operator.IN: "is one of",
    Operator.NOT_IN: "is none of",
    Operator.CONTAINS: "contains",
    Operator.STARTS_WITH: "starts with",
    Operator.GT: "is greater than",
    Operator.GTE: "is at least",
    Operator.LT: "is less than",
    Operator.LTE: "is at most",
    Operator.EXISTS: "has a value",
    Operator.NOT_EXISTS: "has no value",
    Operator.MATCHES: "matches",
}


def resolve_field(name: str) -> tuple[str, str]:
    """Where a rule field's value lives: ("request"|"variables"|"context"|"customer", key)."""
    for prefix in ("variables.", "context.", "customer."):
        if name.startswith(prefix):
            return prefix[:-1], name[len(prefix) :]
    return "request", name


def compile_condition(raw: Any) -> Condition:
    item = raw if isinstance(raw, dict) else {}
    name = item.get("field")
    name = name if isinstance(name, str) else str(name)
    op = item.get("op")
    op = op if isinstance(op, str) else str(op)
    value = item.get("value")
    source, key = resolve_field(name)
    condition = Condition(field=name, op=op, value=value, source=source, key=key)
    if op == "matches":
        condition.pattern, condition.refused = compile_pattern(value)
        if condition.refused:
            condition.memo = f"{name}\x00r{id(condition)}"
    words = OP_WORDS.get(op, f"({op}: unknown operator)")
    if op in ("exists", "not_exists"):
        condition.describe = f"{name} {words}"
    else:
        condition.describe = f"{name} {words} {show(value)}"
    return condition
