from datetime import UTC, datetime

import pytest

from handoff.engine.conditions import (
    MISSING,
    compile_condition,
    compile_pattern,
    to_bool,
    to_datetime,
    to_number,
)


def holds(op, value, actual, field="variables.x"):
    return compile_condition({"field": field, "op": op, "value": value}).test(actual)


# (op, condition value, actual value, expected result)
CASES = [
    # eq: type-aware
    ("eq", "billing", "billing", True),
    ("eq", "billing", "Billing", True),
    ("eq", "billing", "refund", False),
    ("eq", 250, "250", True),
    ("eq", 250, "250.0", True),
    ("eq", 250, 250.0, True),
    ("eq", 250.4, "250.40", True),
    ("eq", "250", 250, True),
    ("eq", "250", "250.00", True),
    ("eq", 250, "abc", False),
    ("eq", 250, True, False),
    ("eq", True, True, True),
    ("eq", True, "yes", True),
    ("eq", True, "TRUE", True),
    ("eq", True, "1", True),
    ("eq", False, "no", True),
    ("eq", False, 0, True),
    ("eq", True, "maybe", False),
    ("eq", "true", True, True),
    ("eq", None, None, True),
    ("eq", None, MISSING, True),
    ("eq", None, "x", False),
    ("eq", "x", None, False),
    ("eq", "x", MISSING, False),
    ("eq", "billing", ["refund", "billing"], True),
    ("eq", "x", {"a": 1}, False),
    ("eq", "2026-11-25T10:00:00Z", datetime(2026, 11, 25, 10, tzinfo=UTC), True),
    # ne is the negation of eq, so an absent value is not equal
    ("ne", "billing", "refund", True),
    ("ne", "billing", "BILLING", False),
    ("ne", 250, "250", False),
    ("ne", "x", MISSING, True),
    ("ne", "billing", ["refund", "billing"], False),
    # in / not_in
    ("in", ["gold", "platinum"], "Gold", True),
    ("in", ["gold", "platinum"], "silver", False),
    ("in", [1, 2, 3], "2", True),
    ("in", [1, 2, 3], 4, False),
    ("in", [None, "x"], MISSING, True),
    ("in", [], "x", False),
    ("in", ["billing"], ["refund", "billing"], True),
    ("not_in", ["gold", "platinum"], "silver", True),
    ("not_in", ["gold", "platinum"], "GOLD", False),
    ("not_in", ["gold"], MISSING, True),
    # contains / starts_with: text, ignoring case; a list contains an item
    ("contains", "card", "My Card is lost", True),
    ("contains", "card", "lost wallet", False),
    ("contains", "50", 250, True),
    ("contains", "billing", ["refund", "billing"], True),
    ("contains", "bill", ["refund", "billing"], False),
    ("contains", "x", MISSING, False),
    ("contains", "x", None, False),
    ("contains", "x", {"x": 1}, False),
    ("starts_with", "en", "en-US", True),
    ("starts_with", "EN", "en-US", True),
    ("starts_with", "fr", "en-US", False),
    ("starts_with", "2", 250, True),
    ("starts_with", "x", MISSING, False),
    # gt / gte / lt / lte: numbers, numeric text
    ("gt", 100, 250, True),
    ("gt", 100, "250", True),
    ("gt", 100, " 250.5 ", True),
    ("gt", 100, 100, False),
    ("gt", 100, "abc", False),
    ("gt", 100, True, False),
    ("gt", 100, MISSING, False),
    ("gt", 100, None, False),
    ("gt", 100, "1e400", False),
    ("gte", 100, 100, True),
    ("gte", 100, "99.99", False),
    ("lt", 100, "99.99", True),
    ("lt", 100, 100, False),
    ("lt", 0, "-1", True),
    ("lte", 100, 100, True),
    ("lte", 100, 100.01, False),
    ("gt", 0, datetime(2026, 1, 1, tzinfo=UTC), True),
    # exists / not_exists: "", null, [] and absent are no value
    ("exists", None, "x", True),
    ("exists", None, 0, True),
    ("exists", None, False, True),
    ("exists", None, "", False),
    ("exists", None, None, False),
    ("exists", None, [], False),
    ("exists", None, MISSING, False),
    ("not_exists", None, MISSING, True),
    ("not_exists", None, "", True),
    ("not_exists", None, "x", False),
    # matches: re.search, case-sensitive unless the pattern says (?i)
    ("matches", r"^\d{4}-\d{4}$", "1234-5678", True),
    ("matches", r"^\d{4}$", "12345", False),
    ("matches", r"order", "my order is late", True),
    ("matches", r"ORDER", "my order is late", False),
    ("matches", r"(?i)ORDER", "my order is late", True),
    ("matches", r"^25", 250, True),
    ("matches", r"x", MISSING, False),
    ("matches", r"x", None, False),
    ("matches", r"b", ["a", "b"], True),
]


@pytest.mark.parametrize(("op", "value", "actual", "expected"), CASES)
def test_it_applies_every_operator_by_type(op, value, actual, expected):
    assert holds(op, value, actual) is expected


def test_it_covers_every_operator_in_the_table():
    from handoff.config.validation import OPS

    assert {case[0] for case in CASES} == set(OPS)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("250", 250),
        ("250.40", 250.4),
        (" -3 ", -3),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("abc", None),
        ("", None),
        ("1_000", None),
        ("nan", None),
        ("inf", None),
        ("1e400", None),
        ("9" * 200, None),
        (True, None),
        (7, 7),
        (float("nan"), None),
        (None, None),
    ],
)
def test_it_reads_numbers(text, number):
    assert to_number(text) == number


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        ("true", True),
        ("Yes", True),
        ("1", True),
        (1, True),
        ("false", False),
        (" NO ", False),
        ("0", False),
        (0, False),
        (True, True),
        ("maybe", None),
        (2, None),
        (None, None),
    ],
)
def test_it_reads_booleans(value, flag):
    assert to_bool(value) is flag


def test_it_reads_iso_datetimes_as_aware():
    assert to_datetime("2026-11-25T10:00:00Z") == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert to_datetime("2026-11-25T11:00:00+01:00") == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert to_datetime("2026-11-25") == datetime(2026, 11, 25, tzinfo=UTC)
    assert to_datetime("25/11/2026") is None
    assert to_datetime(20261125) is None


@pytest.mark.parametrize(
    "pattern", [r"(a+)+$", r"(a*)*b", r"(x+x+)+y", r"((ab)*)+", r"(?:\w+\s?)*$"]
)
def test_it_refuses_patterns_that_can_backtrack_forever(pattern):
    compiled, why = compile_pattern(pattern)
    assert compiled is None
    assert why is not None
    assert "nests repetitions" in why
    condition = compile_condition({"field": "variables.x", "op": "matches", "value": pattern})
    assert condition.test("a" * 5000) is False
    assert "the pattern is refused" in condition.why_not("a" * 5000)


@pytest.mark.parametrize("pattern", [r"^\d{4}-\d{4}$", r"(ab)+", r"(a|b)*c", r"[a-z]+@\w+"])
def test_it_accepts_ordinary_patterns(pattern):
    compiled, why = compile_pattern(pattern)
    assert compiled is not None
    assert why is None


def test_it_refuses_an_invalid_pattern_without_raising():
    condition = compile_condition({"field": "variables.x", "op": "matches", "value": "(["})
    assert condition.test("x") is False
    assert "invalid" in condition.why_not("x")


def test_it_matches_only_the_start_of_a_huge_value():
    condition = compile_condition({"field": "variables.x", "op": "matches", "value": "needle"})
    assert condition.test("a" * 5000 + "needle") is False
    assert condition.test("needle" + "a" * 5000) is True


def test_it_explains_why_a_condition_failed():
    condition = compile_condition({"field": "variables.amount", "op": "gt", "value": 300})
    assert (
        condition.why_not("250")
        == 'variables.amount is greater than 300: variables.amount is "250"'
    )
    assert condition.why_not("abc").endswith("which is not a number")
    assert condition.why_not(MISSING).endswith("variables.amount is absent")
    exists = compile_condition({"field": "context.Tier", "op": "exists"})
    assert exists.why_not(None) == "context.Tier has a value: context.Tier is null"
