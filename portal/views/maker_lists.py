"""Read-only lists of what makers author; the authoring pages come with issue 5 part 2."""

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from handoff.models import ContextField, EscalationRule, Topic
from portal.roles import CONFIG_READERS, role_required


@role_required(*CONFIG_READERS)
@require_GET
def topic_list(request: HttpRequest) -> HttpResponse:
    topics = Topic.objects.annotate(node_count=Count("nodes")).order_by("key")
    return render(request, "portal/maker/topics.html", {"topics": topics})


@role_required(*CONFIG_READERS)
@require_GET
def context_field_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "portal/maker/context_fields.html", {"fields": ContextField.objects.all()}
    )


@role_required(*CONFIG_READERS)
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    rules = EscalationRule.objects.select_related("queue").order_by("order", "id")
    return render(request, "portal/maker/rules.html", {"rules": rules})
