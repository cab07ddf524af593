from datetime import UTC, datetime

import pytest

from handoff.engine.hours import check_hours, compile_hours

WEEKDAYS_9_TO_17 = {
    "timezone": "Europe/Paris",
    "weekly": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "closed_dates": ["2026-12-25"],
}


def is_open(hours, *parts):
    year, month, day, hour, minute = (*parts, 0)[:5]
    return check_hours(compile_hours(hours), datetime(year, month, day, hour, minute, tzinfo=UTC))[
        0
    ]


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Winter (UTC+1): 09:00-17:00 Paris is 08:00-16:00 UTC.
        ((2026, 3, 27, 7, 59), False),  # Friday before the change, 08:59 Paris
        ((2026, 3, 27, 8, 0), True),  # 09:00 Paris
        ((2026, 3, 27, 15, 59), True),  # 16:59 Paris
        ((2026, 3, 27, 16, 0), False),  # 17:00 Paris: the end is excluded
        # Clocks go forward on Sunday 29 March 2026; Monday 30 is summer (UTC+2).
        ((2026, 3, 30, 6, 59), False),  # 08:59 Paris
        ((2026, 3, 30, 7, 0), True),  # 09:00 Paris
        ((2026, 3, 30, 14, 59), True),  # 16:59 Paris
        ((2026, 3, 30, 15, 0), False),  # 17:00 Paris
        ((2026, 3, 30, 15, 30), False),  # would be 16:30 with a fixed +1 offset
        # Clocks go back on Sunday 25 October 2026; Monday 26 is winter again.
        ((2026, 10, 23, 7, 0), True),  # Friday 09:00 Paris (summer)
        ((2026, 10, 26, 7, 30), False),  # 08:30 Paris: would be open with a fixed +2 offset
        ((2026, 10, 26, 8, 0), True),  # 09:00 Paris
        ((2026, 10, 26, 15, 30), True),  # 16:30 Paris
    ],
)
def test_it_follows_the_local_clock_across_daylight_saving_changes(utc, expected):
    assert is_open(WEEKDAYS_9_TO_17, *utc) is expected


def test_it_treats_the_repeated_autumn_hour_by_its_wall_clock():
    hours = {"timezone": "Europe/Paris", "weekly": {"sun": [["02:00", "03:00"]]}}
    # 02:30 Paris happens twice on 25 October 2026: at 00:30 and 01:30 UTC. Both are open.
    assert is_open(hours, 2026, 10, 25, 0, 30) is True
    assert is_open(hours, 2026, 10, 25, 1, 30) is True
    assert is_open(hours, 2026, 10, 25, 2, 0) is False  # 03:00 Paris


def test_it_never_opens_in_the_skipped_spring_hour():
    hours = {"timezone": "Europe/Paris", "weekly": {"sun": [["02:00", "03:00"]]}}
    # 02:00-03:00 does not exist on 29 March 2026: 00:59 UTC is 01:59, 01:00 UTC is 03:00.
    assert is_open(hours, 2026, 3, 29, 0, 59) is False
    assert is_open(hours, 2026, 3, 29, 1, 0) is False


def test_it_closes_on_closed_dates_in_the_queues_zone():
    # 24 December 23:30 UTC is already 25 December in Paris: closed even on a Friday.
    hours = {
        **WEEKDAYS_9_TO_17,
        "weekly": {"thu": [["00:00", "24:00"]], "fri": [["00:00", "24:00"]]},
    }
    is_open_now, why = check_hours(compile_hours(hours), datetime(2026, 12, 24, 23, 30, tzinfo=UTC))
    assert is_open_now is False
    assert "2026-12-25 is a closed date" in why
    assert is_open(hours, 2026, 12, 24, 22, 30) is True  # 23:30 Paris on the 24th


def test_it_is_closed_on_a_day_missing_from_weekly():
    is_open_now, why = check_hours(
        compile_hours(WEEKDAYS_9_TO_17), datetime(2026, 11, 28, 10, tzinfo=UTC)
    )
    assert is_open_now is False
    assert why.startswith("closed: no hours on Saturday")


def test_it_is_never_open_with_empty_weekly():
    hours = {"timezone": "UTC", "weekly": {}, "closed_dates": []}
    assert not any(is_open(hours, 2026, 11, 23 + d, h) for d in range(7) for h in range(24))


def test_it_is_always_open_without_hours():
    assert check_hours(None, datetime(2026, 12, 25, tzinfo=UTC)) == (
        True,
        "no operating hours set: always open",
    )


def test_it_reads_24_00_as_the_end_of_the_day():
    hours = {
        "timezone": "UTC",
        "weekly": {"mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"]]},
    }
    assert is_open(hours, 2026, 11, 23, 23, 59) is True  # Monday
    assert is_open(hours, 2026, 11, 24, 0, 0) is True  # Tuesday
    assert is_open(hours, 2026, 11, 24, 6, 0) is False
    assert is_open(hours, 2026, 11, 23, 21, 59) is False


def test_it_checks_every_window_of_a_day():
    hours = {"timezone": "Asia/Tokyo", "weekly": {"wed": [["09:00", "12:00"], ["13:00", "18:00"]]}}
    # Wednesday 25 November 2026 in Tokyo (UTC+9, no daylight saving).
    assert is_open(hours, 2026, 11, 25, 2, 0) is True  # 11:00
    assert is_open(hours, 2026, 11, 25, 3, 30) is False  # 12:30, lunch
    assert is_open(hours, 2026, 11, 25, 4, 0) is True  # 13:00
    _, why = check_hours(compile_hours(hours), datetime(2026, 11, 25, 3, 30, tzinfo=UTC))
    assert why == (
        "closed: Wednesday 2026-11-25 12:30 Asia/Tokyo is outside 09:00-12:00, 13:00-18:00"
    )


def test_it_reads_a_naive_now_as_utc():
    assert check_hours(compile_hours(WEEKDAYS_9_TO_17), datetime(2026, 11, 25, 8, 0))[0] is True


def test_it_falls_back_to_utc_for_an_unknown_zone():
    hours = {"timezone": "Mars/Olympus", "weekly": {"wed": [["09:00", "17:00"]]}}
    is_open_now, why = check_hours(compile_hours(hours), datetime(2026, 11, 25, 9, tzinfo=UTC))
    assert is_open_now is True
    assert "unknown here, using UTC" in why
