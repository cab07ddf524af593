"""The agent workspace: presence, the live inbox, the handoff page and its actions.

Agents see only the handoffs offered or assigned to them (or once held by them) and the
waiting lists of their own queues; anyone else's handoff is a 404. Admins may open the
workspace too (it shows their own desk, which is empty unless they are queue members) and may
read any handoff page from the supervisor board, but act only on handoffs they hold.

Every transition is a service of handoff.services.assignment: capacity is never touched here.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from handoff.errors import Conflict
from handoff.models import Handoff, Queue, QueueMembership, User
from handoff.selectors.agent import agent_desk, handoff_for_viewer, handoff_sheet, own_handoff
from handoff.services.assignment import (
    agent_set_presence,
    handoff_accept,
    handoff_decline,
    handoff_pick_next,
    handoff_resolve,
    handoff_transfer,
)
from portal.roles import ADMIN, AGENT, has_role, role_required
from portal.views._common import AuthedRequest

# Live pages reload on the events of their stream (portal/views/live.py); only while the
# stream is lost do they reload themselves this often, in milliseconds (see live.js).
POLL_MS = 3000

REASONS = {
    "requested_by_customer": gettext_lazy("The customer asked for a person"),
    "topic_transfer": gettext_lazy("The topic hands over to an agent"),
    "not_understood": gettext_lazy("The bot did not understand the customer"),
    "bot_error": gettext_lazy("The bot failed"),
    "bot_framework": gettext_lazy("Bot Framework handoff"),
}


class PresenceForm(forms.Form):
    presence = forms.ChoiceField(choices=User.Presence.choices)


class ResolveForm(forms.Form):
    wrap_up = forms.CharField(
        label=gettext_lazy("Wrap-up note"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class TransferForm(forms.Form):
    queue = forms.ModelChoiceField(
        label=gettext_lazy("Transfer to"), queryset=Queue.objects.none(), to_field_name="key"
    )

    def __init__(self, *args: Any, handoff: Handoff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        queue_field = self.fields["queue"]
        assert isinstance(queue_field, forms.ModelChoiceField)
        # Any other queue: a webhook queue hands the conversation to the external system.
        queue_field.queryset = Queue.objects.exclude(key=handoff.queue_key).order_by(
            "priority", "key"
        )


def duration_formats() -> dict[str, str]:
    """The three shapes of a wait; agent.js counts waits up with the same words."""
    return {"h": _("%(h)d h %(m)d min"), "m": _("%(m)d min %(s)d s"), "s": _("%(s)d s")}


def duration(seconds: float | None) -> str:
    """Waits read at a glance, to the second: "1 h 5 min", "3 min 20 s", "42 s"."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    formats = duration_formats()
    if hours:
        return formats["h"] % {"h": hours, "m": minutes}
    if minutes:
        return formats["m"] % {"m": minutes, "s": secs}
    return formats["s"] % {"s": secs}


def _is_poll(request: AuthedRequest) -> bool:
    # hx-boost sends HX-Request on every link and form too; those want the whole page.
    return bool(request.htmx) and not request.htmx.boosted


def _inbox_context(request: AuthedRequest, **extra: Any) -> dict[str, Any]:
    now = timezone.now()
    desk = agent_desk(agent=request.user)
    for handoff in desk.offered:
        expires = handoff.offer_expires_at or now
        handoff.seconds_left = max(0, int((expires - now).total_seconds()))  # type: ignore[attr-defined]
        handoff.reason_label = REASONS.get(handoff.reason, handoff.reason)  # type: ignore[attr-defined]
    for handoff in [*desk.assigned, *(h for q in desk.queues for h in q.next_up)]:
        start = handoff.queued_at or handoff.created_at
        waited = max(0, int(((handoff.assigned_at or now) - start).total_seconds()))
        handoff.waited_seconds = waited  # type: ignore[attr-defined]
        handoff.waited = duration(waited)  # type: ignore[attr-defined]
    for q in desk.queues:
        since = q.longest_wait_since
        longest = max(0, int((now - since).total_seconds())) if since else None
        q.longest_wait_seconds = longest  # type: ignore[attr-defined]
        q.longest_wait = duration(longest)  # type: ignore[attr-defined]
    return {
        "desk": desk,
        "poll_ms": POLL_MS,
        "duration_formats": duration_formats(),
        "presence_choices": User.Presence.choices,
        **extra,
    }


def _inbox(request: AuthedRequest, **extra: Any) -> HttpResponse:
    # The capacity in the desk bar sits outside the polled inbox: it rides along out of band.
    context = _inbox_context(request, oob=True, **extra)
    return render(request, "agent/workspace.html#inbox", context)


@role_required(ADMIN, AGENT)
@require_GET
@never_cache
def workspace(request: AuthedRequest) -> HttpResponse:
    if _is_poll(request):
        return _inbox(request)
    # The agent's own skills, read-only: an admin sets proficiencies on the user's page.
    skills = request.user.skills.select_related("skill").order_by("skill__key")
    return render(request, "agent/workspace.html", _inbox_context(request, my_skills=skills))


@role_required(ADMIN, AGENT)
@require_POST
def presence_set(request: AuthedRequest) -> HttpResponse:
    form = PresenceForm(request.POST)
    if form.is_valid():
        agent_set_presence(agent=request.user, presence=form.cleaned_data["presence"])
    if _is_poll(request):
        context = {"presence_choices": User.Presence.choices}
        response = render(request, "agent/_deskbar.html#presence", context)
        # Going available may have pulled work already: refresh the inbox now.
        response["HX-Trigger"] = "inbox-changed"
        return response
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("agent_workspace")


def _own_or_404(request: AuthedRequest, handoff_id: Any) -> Handoff:
    handoff = own_handoff(user=request.user, handoff_id=handoff_id)
    if handoff is None:
        raise Http404
    return handoff


def _after_action(request: AuthedRequest, error: str | None, done: str) -> HttpResponse:
    """Answer an inbox action: the inbox again (htmx), or back to the workspace with a message."""
    if _is_poll(request):
        return _inbox(request, error=error, notice=None if error else done)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect("agent_workspace")


@role_required(ADMIN, AGENT)
@require_POST
def handoff_accept_view(request: AuthedRequest, pk: Any) -> HttpResponse:
    handoff = _own_or_404(request, pk)
    try:
        handoff_accept(handoff_id=handoff.pk, agent=request.user)
    except Conflict as conflict:
        return _after_action(request, str(conflict), "")
    if _is_poll(request):
        return _inbox(request, notice=_("Accepted."))
    return redirect("agent_handoff", pk=handoff.pk)


@role_required(ADMIN, AGENT)
@require_POST
def handoff_decline_view(request: AuthedRequest, pk: Any) -> HttpResponse:
    handoff = _own_or_404(request, pk)
    try:
        handoff_decline(handoff_id=handoff.pk, agent=request.user)
    except Conflict as conflict:
        return _after_action(request, str(conflict), "")
    return _after_action(request, None, _("Declined: the handoff goes to another agent."))


@role_required(ADMIN, AGENT)
@require_POST
def handoff_resolve_view(request: AuthedRequest, pk: Any) -> HttpResponse:
    handoff = _own_or_404(request, pk)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        return _handoff_page(request, handoff.pk, resolve_form=form)
    try:
        handoff_resolve(
            handoff_id=handoff.pk, agent=request.user, wrap_up=form.cleaned_data["wrap_up"]
        )
    except Conflict as conflict:
        messages.error(request, str(conflict))
        return redirect("agent_handoff", pk=handoff.pk)
    messages.success(request, _("Resolved."))
    return redirect("agent_workspace")


@role_required(ADMIN, AGENT)
@require_POST
def handoff_transfer_view(request: AuthedRequest, pk: Any) -> HttpResponse:
    handoff = _own_or_404(request, pk)
    form = TransferForm(request.POST, handoff=handoff)
    if not form.is_valid():
        return _handoff_page(request, handoff.pk, transfer_form=form)
    queue = form.cleaned_data["queue"]
    try:
        handoff_transfer(handoff_id=handoff.pk, agent=request.user, queue=queue)
    except Conflict as conflict:
        messages.error(request, str(conflict))
        return redirect("agent_handoff", pk=handoff.pk)
    messages.success(request, _("Transferred to %(queue)s.") % {"queue": queue.name})
    return redirect("agent_workspace")


@role_required(ADMIN, AGENT)
@require_POST
def take_next(request: AuthedRequest) -> HttpResponse:
    membership = get_object_or_404(
        QueueMembership.objects.select_related("queue"),
        user=request.user,
        queue__key=request.POST.get("queue", ""),
        queue__distribution=Queue.Distribution.PICK,
    )
    handoff = handoff_pick_next(agent=request.user, queue=membership.queue)
    if handoff is None:
        full = membership.active_count >= membership.capacity
        error = (
            _("You are at capacity in %(queue)s.")
            if full
            else _("Nothing is waiting in %(queue)s that you can take.")
        ) % {"queue": membership.queue.name}
        return _after_action(request, error, "")
    return redirect("agent_handoff", pk=handoff.pk)


def _handoff_page(request: AuthedRequest, handoff_id: Any, **forms_: Any) -> HttpResponse:
    handoff = handoff_for_viewer(
        user=request.user, handoff_id=handoff_id, any_handoff=has_role(request.user, ADMIN)
    )
    if handoff is None:
        raise Http404
    now = timezone.now()
    start = handoff.created_at
    end = handoff.assigned_at or handoff.closed_at or now
    own = handoff.agent_id == request.user.pk
    waited = max(0, int((end - start).total_seconds()))
    context = {
        "poll_ms": POLL_MS,
        "duration_formats": duration_formats(),
        "waited_seconds": waited,
        "handoff": handoff,
        "sheet": handoff_sheet(handoff=handoff),
        "own": own,
        "reason": REASONS.get(handoff.reason, handoff.reason),
        "waited": duration(waited),
        "waiting_now": handoff.assigned_at is None and not handoff.is_terminal,
        "seconds_left": (
            max(0, int((handoff.offer_expires_at - now).total_seconds()))
            if handoff.offer_expires_at
            else None
        ),
        "resolve_form": forms_.get("resolve_form") or ResolveForm(),
        "transfer_form": forms_.get("transfer_form") or TransferForm(handoff=handoff),
    }
    if own:
        # The inbox rides beside the handoff: new offers must not go unseen while working.
        context.update(_inbox_context(request))
    return render(request, "agent/handoff.html", context)


@role_required(ADMIN, AGENT)
@require_GET
@never_cache
def handoff_detail(request: AuthedRequest, pk: Any) -> HttpResponse:
    if _is_poll(request):
        handoff = handoff_for_viewer(
            user=request.user, handoff_id=pk, any_handoff=has_role(request.user, ADMIN)
        )
        if handoff is None:
            raise Http404
        return render(request, "agent/handoff.html#status", {"handoff": handoff})
    return _handoff_page(request, pk)
