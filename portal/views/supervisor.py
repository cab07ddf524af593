"""The supervisor board (admins): queues, agents by presence, pending offers, failed deliveries.

The page reloads its board partial on the board's live events (portal/views/live.py), so it
stays live without a reload; it polls only while its stream is lost.
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
from portal.views.agent import POLL_MS, duration, duration_formats


@role_required(ADMIN)
@require_GET
@never_cache
def board(request: AuthedRequest) -> HttpResponse:
    now = timezone.now()
    data = supervisor_board(now=now)
    for row in data.queues:
        since = row.longest_wait_since
        longest = max(0, int((now - since).total_seconds())) if since else None
        row.longest_wait_seconds = longest  # type: ignore[attr-defined]
        row.longest_wait = duration(longest)  # type: ignore[attr-defined]
    for offer in data.offers:
        offer.seconds_left = max(0, int((offer.expires_at - now).total_seconds()))  # type: ignore[attr-defined]
    presences = [(value, label, data.agents[value]) for value, label in User.Presence.choices]
    context = {
        "board": data,
        "presences": presences,
        "poll_ms": POLL_MS,
        "duration_formats": duration_formats(),
        "now": now,
        "skill_waits": skill_waits(now=now),
    }
    template = "supervisor/board.html"
    if request.htmx and not request.htmx.boosted:
        template += "#board"
    return render(request, template, context)
