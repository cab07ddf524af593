"""The landing page of each role, and the placeholders other areas fill in."""

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from handoff.models import ApiKey, Bot, Channel, ContextField, EscalationRule, Queue, Topic, User
from portal.roles import (
    ADMIN,
    AGENT,
    ANALYST,
    CONFIG_READERS,
    MAKER,
    ROLES,
    role_required,
    roles_of,
)

# The first role a user holds, in this order, picks their landing page.
LANDING = [
    (ADMIN, "config_overview"),
    (MAKER, "maker_overview"),
    (ANALYST, "analytics_index"),
    (AGENT, "agent_workspace"),
]


@role_required(*ROLES)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    # role_required already answered 403 (the "you have no role" page) to users without one.
    roles = roles_of(request.user)
    return redirect(next(name for role, name in LANDING if role in roles))


@role_required(*CONFIG_READERS)
@require_GET
def config_overview(request: HttpRequest) -> HttpResponse:
    counts = {
        "channels": Channel.objects.count(),
        "channels_enabled": Channel.objects.filter(enabled=True).count(),
        "queues": Queue.objects.count(),
        "bots": Bot.objects.count(),
        "api_keys": ApiKey.objects.filter(revoked_at__isnull=True).count(),
        "users": User.objects.filter(is_active=True).count(),
    }
    fallback = Queue.objects.filter(is_fallback=True).first()
    return render(
        request, "portal/home/config_overview.html", {"counts": counts, "fallback": fallback}
    )


@role_required(*CONFIG_READERS)
@require_GET
def maker_overview(request: HttpRequest) -> HttpResponse:
    counts = {
        "topics": Topic.objects.count(),
        "context_fields": ContextField.objects.count(),
        "rules": EscalationRule.objects.count(),
        "rules_enabled": EscalationRule.objects.filter(enabled=True).count(),
    }
    queues = Queue.objects.annotate(rule_count=Count("rules")).order_by("priority", "key")[:20]
    return render(request, "portal/home/maker_overview.html", {"counts": counts, "queues": queues})
