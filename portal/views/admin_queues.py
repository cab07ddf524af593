"""Admin: queues with their members, operating hours, overflow and delivery.

Makers and analysts read them. The webhook secret is shown once, right after it is made.
"""

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from handoff.models import Queue
from handoff.services.portal_config import (
    InUseError,
    queue_create,
    queue_delete,
    queue_rotate_webhook_secret,
    queue_update,
)
from portal.forms import WEEKDAYS, MemberFormSet, QueueForm, agent_users
from portal.roles import ADMIN, CONFIG_READERS, role_required
from portal.views._common import AuthedRequest, pop_secret, stash_secret


@role_required(*CONFIG_READERS)
@require_GET
def queue_list(request: AuthedRequest) -> HttpResponse:
    queues = (
        Queue.objects.select_related("when_closed_queue", "when_full_queue")
        .annotate(member_count=Count("memberships", distinct=True))
        .order_by("priority", "key")
    )
    return render(request, "portal/queues/list.html", {"queues": queues})


@role_required(*CONFIG_READERS)
@require_GET
def queue_detail(request: AuthedRequest, key: str) -> HttpResponse:
    queue = get_object_or_404(
        Queue.objects.select_related("when_closed_queue", "when_full_queue"), key=key
    )
    memberships = queue.memberships.select_related("user").order_by("user__username")
    weekly = (queue.hours or {}).get("weekly", {})
    hours = [(label, weekly.get(day, [])) for day, label in WEEKDAYS]
    context = {
        "queue": queue,
        "memberships": memberships,
        "hours": hours,
        "rules": queue.rules.order_by("order"),
        "new_secret": pop_secret(request, f"queue:{queue.pk}"),
    }
    return render(request, "portal/queues/detail.html", context)


def _queue_form(request: AuthedRequest, queue: Queue | None) -> HttpResponse:
    agents = agent_users()
    choices = [(pk, u.display_name) for pk, u in agents.items()]
    instance = queue or Queue()
    if request.method == "POST":
        form = QueueForm(request.POST, instance=instance)
        formset = MemberFormSet(request.POST, prefix="members", agent_choices=choices)
    else:
        initial = (
            [{"user": m.user_id, "capacity": m.capacity} for m in queue.memberships.all()]
            if queue
            else []
        )
        form = QueueForm(instance=instance)
        formset = MemberFormSet(prefix="members", agent_choices=choices, initial=initial)
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        fields, members = form.queue_fields(), formset.members(agents)
        try:
            if queue is None:
                saved = queue_create(user=request.user, fields=fields, members=members)
            else:
                saved = queue_update(user=request.user, queue=queue, fields=fields, members=members)
        except InUseError as error:
            form.add_error(
                "key",
                _("The key cannot change while it is used by: %(refs)s.")
                % {"refs": "; ".join(error.references)},
            )
        else:
            if saved.new_secret:
                stash_secret(request, f"queue:{saved.queue.pk}", saved.new_secret)
            messages.success(request, _("Queue “%(name)s” saved.") % {"name": saved.queue.name})
            return redirect("queue_detail", key=saved.queue.key)
    stored = Queue.objects.get(pk=queue.pk) if queue else None
    return render(
        request, "portal/queues/form.html", {"form": form, "formset": formset, "queue": stored}
    )


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def queue_new(request: AuthedRequest) -> HttpResponse:
    return _queue_form(request, None)


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def queue_edit(request: AuthedRequest, key: str) -> HttpResponse:
    return _queue_form(request, get_object_or_404(Queue, key=key))


@role_required(ADMIN)
@require_POST
def queue_rotate_secret(request: AuthedRequest, key: str) -> HttpResponse:
    queue = get_object_or_404(Queue, key=key, delivery_kind=Queue.DeliveryKind.WEBHOOK)
    stash_secret(
        request, f"queue:{queue.pk}", queue_rotate_webhook_secret(user=request.user, queue=queue)
    )
    messages.success(
        request,
        _("A new webhook secret was generated: it replaces the old one when you next publish."),
    )
    return redirect("queue_detail", key=queue.key)


@role_required(ADMIN)
@require_POST
def queue_remove(request: AuthedRequest, key: str) -> HttpResponse:
    queue = get_object_or_404(Queue, key=key)
    try:
        queue_delete(user=request.user, queue=queue)
    except InUseError as error:
        messages.error(
            request,
            _("“%(name)s” was not deleted: %(refs)s.")
            % {"name": queue.name, "refs": "; ".join(error.references)},
        )
        return redirect("queue_detail", key=queue.key)
    messages.success(request, _("Queue “%(name)s” deleted.") % {"name": queue.name})
    return redirect("queue_list")
