"""Skill matching, pure: required skills, relaxation over waiting time, best match.

`exact`: an agent qualifies when they hold every required skill at or above its level.
`closest`: the requirement relaxes while the handoff waits. At step n (n = whole periods of
`skill_relax_after_seconds` waited since `queued_at`) every required level is lowered by n and a
level below 1 is dropped, so after max(level) periods any present member qualifies. Without a
relaxation period `closest` never gates: every agent qualifies, the best match first.
Among those who qualify the best match is preferred: most original requirements met, then the
smallest shortfall, then the largest surplus; the queue's assignment method breaks ties.
"""

from datetime import datetime, timedelta
from typing import Any

NONE, EXACT, CLOSEST = "none", "exact", "closest"


def relax_step(
    *,
    matching: str,
    relax_after: int | None,
    required: dict[str, Any],
    queued_at: datetime | None,
    now: datetime,
) -> int:
    """How many relaxation periods have passed, capped where nothing is left to relax."""
    if matching != CLOSEST or not relax_after or not required or queued_at is None:
        return 0
    waited = max(0.0, (now - queued_at).total_seconds())
    return min(int(waited // relax_after), max(int(v) for v in required.values()))


def effective_requirements(required: dict[str, Any], step: int) -> dict[str, int]:
    """The requirement after `step` relaxations: each level minus step, below 1 dropped."""
    return {key: int(level) - step for key, level in required.items() if int(level) - step >= 1}


def step_time(*, queued_at: datetime, relax_after: int, step: int) -> datetime:
    return queued_at + timedelta(seconds=relax_after * step)


def shortfall(required: dict[str, Any], held: dict[str, int]) -> int:
    """Levels missing to meet every required skill (0 = the agent meets them all)."""
    return sum(max(0, int(level) - held.get(key, 0)) for key, level in required.items())


def qualifies(
    *, matching: str, relax_after: int | None, required: dict[str, Any], step: int, held: dict
) -> bool:
    if not required or matching == NONE:
        return True
    if matching == EXACT:
        return shortfall(required, held) == 0
    if not relax_after:
        return True  # closest without relaxation: anyone, best match first
    return shortfall(effective_requirements(required, step), held) == 0


def match_key(required: dict[str, Any], held: dict[str, int]) -> tuple[int, int, int]:
    """Sort key, smaller is better: (-requirements met, shortfall, -surplus)."""
    met = sum(1 for key, level in required.items() if held.get(key, 0) >= int(level))
    surplus = sum(held.get(key, 0) - int(level) for key, level in required.items())
    return (-met, shortfall(required, held), -surplus)
