"""Reading live events: the listener's batches, and what one stream missed."""

from collections.abc import Iterable

from django.db.models import Q

from handoff.engine.live import Event
from handoff.models import LiveEvent, QueueMembership

FIELDS = ("id", "audience", "kind", "data")


def live_latest_id() -> int:
    return LiveEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def live_oldest_id() -> int | None:
    return LiveEvent.objects.order_by("id").values_list("id", flat=True).first()


def live_events_after(*, after: int, also: Iterable[int] = (), limit: int) -> list[Event]:
    """Every event with an id above `after`, and those of `also`, in id order (one query)."""
    also = list(also)
    where = Q(id__gt=after) | Q(id__in=also) if also else Q(id__gt=after)
    rows = LiveEvent.objects.filter(where).order_by("id").values_list(*FIELDS)[:limit]
    return [Event(*row) for row in rows]


def live_backlog(
    *, audiences: Iterable[str], prefixes: Iterable[str], after: int, upto: int, limit: int
) -> list[Event]:
    """The events of these audiences in (after, upto], in id order, at most `limit` (one query)."""
    wanted = Q(audience__in=list(audiences))
    for prefix in prefixes:
        wanted |= Q(audience__startswith=prefix)
    rows = (
        LiveEvent.objects.filter(wanted, id__gt=after, id__lte=upto)
        .order_by("id")
        .values_list(*FIELDS)[:limit]
    )
    return [Event(*row) for row in rows]


def agent_queue_ids(*, user_id: int) -> list[int]:
    return list(
        QueueMembership.objects.filter(user_id=user_id)
        .order_by("queue_id")
        .values_list("queue_id", flat=True)
    )
