"""The supervisor board (admins): queues, agents by presence, pending offers, failed deliveries.

The page polls its own board partial, so it stays live without a reload.
"""

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from handoff.models import User
from handoff.selectors.agent import supervisor_board
from handoff.selectors.skills import skill_waits
from portal.roles import ADMIN, role_required
from portal.views._common import AuthedRequest
from portal.views.agent import POLL_MS, duration

BOARD_POLL_MS = 2000


@role_required(ADMIN)
@require_GET
@never_cache
def board(request: AuthedRequest) -> HttpResponse:
    now = timezone.now()
    data = supervisor_board(now=now)
    for row in data.queues:
        since = row.longest_wait_since
        row.longest_wait = duration((now - since).total_seconds()) if since else ""  # type: ignore[attr-defined]
    for offer in data.offers:
        offer.seconds_left = max(0, int((offer.expires_at - now).total_seconds()))  # type: ignore[attr-defined]
    presences = [(value, label, data.agents[value]) for value, label in User.Presence.choices]
    context = {
        "board": data,
        "presences": presences,
        "poll_ms": max(POLL_MS, BOARD_POLL_MS),
        "now": now,
        "skill_waits": skill_waits(now=now),
    }
    template = "supervisor/board.html"
    if request.htmx and not request.htmx.boosted:
        template += "#board"
    return render(request, template, context)
