"""Admin: queues with their members, operating hours, overflow and delivery.

Makers and analysts read them. The webhook secret is shown once, right after it is made.
"""

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from handoff.models import Queue
from handoff.services.portal_config import (
    QueueSaved,
    queue_create,
    queue_delete,
    queue_rotate_webhook_secret,
    queue_update,
)
from portal.forms import WEEKDAYS, MemberFormSet, QueueForm, agent_users
from portal.roles import ADMIN, CONFIG_READERS, role_required
from portal.views._common import (
    AuthedRequest,
    deleted_unless_used,
    pop_secret,
    saved_unless_used,
    stash_secret,
)


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
@never_cache
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
    if request.method == "POST":
        form = QueueForm(request.POST, instance=queue)
        formset = MemberFormSet(request.POST, prefix="members", agent_choices=choices)
    else:
        initial = (
            [{"user": m.user_id, "capacity": m.capacity} for m in queue.memberships.all()]
            if queue
            else []
        )
        form = QueueForm(instance=queue)
        formset = MemberFormSet(prefix="members", agent_choices=choices, initial=initial)
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        fields, members = form.queue_fields(), formset.members(agents)
        saved: QueueSaved | None
        if queue is None:
            saved = queue_create(user=request.user, fields=fields, members=members)
        else:
            queue_id = queue.pk
            saved = saved_unless_used(
                form,
                lambda: queue_update(
                    user=request.user, queue_id=queue_id, fields=fields, members=members
                ),
            )
        if saved is not None:
            if saved.new_secret:
                stash_secret(request, f"queue:{saved.queue.pk}", saved.new_secret)
            messages.success(request, _("Queue “%(name)s” saved.") % {"name": saved.queue.name})
            return redirect("queue_detail", key=saved.queue.key)
    return render(
        request, "portal/queues/form.html", {"form": form, "formset": formset, "queue": queue}
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
    secret = queue_rotate_webhook_secret(user=request.user, queue_id=queue.pk)
    stash_secret(request, f"queue:{queue.pk}", secret)
    messages.success(
        request,
        _("A new webhook secret was generated: it replaces the old one when you next publish."),
    )
    return redirect("queue_detail", key=queue.key)


@role_required(ADMIN)
@require_POST
def queue_remove(request: AuthedRequest, key: str) -> HttpResponse:
    queue = get_object_or_404(Queue, key=key)
    return deleted_unless_used(
        request,
        lambda: queue_delete(user=request.user, queue_id=queue.pk),
        what={"name": queue.name},
        deleted=_("Queue “%(name)s” deleted."),
        refused=_("“%(name)s” was not deleted: %(refs)s."),
        done=redirect("queue_list"),
        back=redirect("queue_detail", key=queue.key),
    )
