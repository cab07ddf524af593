"""The demo web chat: a public page where a visitor chats with the demo bot and is handed off.

Public (no login) but CSRF-protected like every form of the portal, and rate-limited per
client address, because anyone can reach it. The visitor's conversation lives in their
session. It runs the published configuration as the bot "retail-bot" on channel "webchat"
(see docs/conversations.md).
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from handoff.engine.conversation import GREETING, MAX_TEXT
from handoff.engine.intake import NotConfigured
from handoff.models import Bot, Conversation, Handoff
from handoff.services.conversations import (
    conversation_message,
    conversation_start,
)
from portal.security import client_address, counter_increment

DEMO_BOT = "retail-bot"
DEMO_CHANNEL = "webchat"
SESSION_KEY = "webchat-conversation"
TEMPLATE = "webchat/index.html"

STATUS_TEXT = {
    "queued": _("Waiting for a person…"),
    "offered": _("Waiting for a person…"),
    "assigned": _("{agent} has joined the conversation."),
    "resolved": _("The conversation was closed by {agent}. Thank you!"),
    "cancelled": _("The conversation was cancelled."),
    "failed": _("Sorry, we could not reach a person."),
    "delivered": _("Your conversation was passed to our team."),
}


class VisitorRequest(HttpRequest):
    """The request a web chat view gets (anonymous; for typing)."""

    htmx: HtmxDetails


def rate_limited(request: HttpRequest, kind: str, limit: int, seconds: int) -> bool:
    """True once this client made more than `limit` requests of `kind` in the window."""
    # The address our own proxies saw (TRUSTED_PROXY_HOPS), as for the login throttle.
    key = f"webchat:{kind}:{client_address(request)}"
    return counter_increment(key, window_seconds=seconds) > limit


def _current(request: HttpRequest) -> Conversation | None:
    conversation_id = request.session.get(SESSION_KEY)
    if not conversation_id:
        return None
    return (
        Conversation.objects.select_related("handoff", "handoff__agent")
        .filter(pk=conversation_id, source=Conversation.Source.WEBCHAT)
        .first()
    )


def handoff_status(handoff: Handoff | None) -> str | None:
    if handoff is None:
        return None
    if handoff.status == "rejected":
        return handoff.message or "Sorry, nobody can take your conversation right now."
    agent = handoff.agent.display_name if handoff.agent else "An agent"
    return STATUS_TEXT.get(handoff.status, "").format(agent=agent) or None


def _context(request: HttpRequest, conversation: Conversation | None, **extra: Any) -> dict:
    if conversation is not None:
        transcript = conversation.state.get("transcript", [])
    else:
        transcript = [{"from": "bot", "text": GREETING}]
    handoff = conversation.handoff if conversation is not None else None
    return {
        "conversation": conversation,
        "transcript": transcript,
        "handoff": handoff,
        "status": handoff_status(handoff),
        "waiting": handoff is not None and handoff.status in Handoff.OPEN,
        "ended": bool(conversation and conversation.state.get("ended")),
        "demo_ready": Bot.objects.filter(key=DEMO_BOT).exists(),
        "max_text": MAX_TEXT,
        "error": None,
        **extra,
    }


def _pane(request: VisitorRequest, context: dict, status: int = 200) -> HttpResponse:
    template = f"{TEMPLATE}#pane" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


@require_GET
@ensure_csrf_cookie
@never_cache
def webchat(request: HttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, _context(request, _current(request)))


@require_POST
def webchat_send(request: VisitorRequest) -> HttpResponse:
    conversation = _current(request)
    # Per client address: messages a minute, new conversations an hour (settings.py).
    if rate_limited(request, "message", settings.WEBCHAT_MESSAGES_PER_MINUTE, 60):
        context = _context(
            request, conversation, error=gettext("Slow down a little, then try again.")
        )
        return _pane(request, context, status=429)
    text = request.POST.get("text", "").strip()[:MAX_TEXT]
    if not text:
        return _pane(request, _context(request, conversation))
    try:
        if conversation is None:
            if rate_limited(request, "start", settings.WEBCHAT_CONVERSATIONS_PER_HOUR, 3600):
                context = _context(
                    request, None, error=gettext("Too many conversations; try later.")
                )
                return _pane(request, context, status=429)
            bot = Bot.objects.filter(key=DEMO_BOT).first()
            if bot is None:
                return _pane(
                    request, _context(request, None, error=gettext("The demo is not loaded."))
                )
            conversation, _replies = conversation_start(
                bot=bot, channel=DEMO_CHANNEL, source=Conversation.Source.WEBCHAT
            )
            request.session[SESSION_KEY] = str(conversation.pk)
        conversation_message(conversation_id=conversation.pk, text=text)
    except NotConfigured as exc:
        return _pane(request, _context(request, conversation, error=gettext(str(exc))))
    if not request.htmx:
        return redirect(reverse("webchat"))
    return _pane(request, _context(request, _current(request)))


@require_POST
def webchat_restart(request: VisitorRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    if not request.htmx:
        return redirect(reverse("webchat"))
    return _pane(request, _context(request, None))


@require_GET
@never_cache
def webchat_status(request: HttpRequest) -> HttpResponse:
    """Polled while a person is awaited: the handoff's status in words."""
    return render(request, f"{TEMPLATE}#status", _context(request, _current(request)))
