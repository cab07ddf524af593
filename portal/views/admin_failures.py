"""Admin: handoffs whose webhook delivery failed after the last attempt, with retry, and the
webhooks a receiver disabled (410 Gone), with "enable again"."""

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from handoff.errors import Conflict
from handoff.models import Handoff, Queue
from handoff.services.webhooks import (
    disabled_webhooks,
    failed_deliveries,
    handoff_retry_delivery,
    queue_enable_webhook,
)
from portal.roles import ADMIN, ANALYST, role_required
from portal.views._common import AuthedRequest

PAGE_SIZE = 50


@role_required(ADMIN, ANALYST)
@require_GET
@never_cache
def failure_list(request: AuthedRequest) -> HttpResponse:
    page = Paginator(failed_deliveries(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "portal/failures/list.html", {"page": page, "disabled": disabled_webhooks()}
    )


@role_required(ADMIN)
@require_POST
def failure_retry(request: AuthedRequest, pk: uuid.UUID) -> HttpResponse:
    handoff = get_object_or_404(Handoff, pk=pk)
    try:
        handoff_retry_delivery(handoff_id=handoff.pk, user=request.user)
    except Conflict as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Delivery queued again: attempts start over."))
    return redirect("failure_list")


@role_required(ADMIN)
@require_POST
def queue_enable_webhook_view(request: AuthedRequest, key: str) -> HttpResponse:
    queue = get_object_or_404(Queue, key=key)
    try:
        queue_enable_webhook(queue=queue, user=request.user)
    except Conflict as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("The webhook of “%(name)s” is enabled again; retry its failed deliveries below.")
            % {"name": queue.name},
        )
    return redirect("failure_list")
