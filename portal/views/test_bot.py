""" "Test your bot": makers chat with the draft or the published topics, and reach a person.

The conversation is a real one (source "portal") run by the same runtime as the API; at a
transfer it creates a real, routed handoff as the portal test bot (docs/conversations.md).
The conversation being tested lives in the session, so the URLs carry no id.
"""

from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from handoff.engine.body import LOCALE_RE
from handoff.engine.conversation import MAX_TEXT, shown_value
from handoff.engine.intake import NotConfigured
from handoff.models import Conversation, Handoff
from handoff.services.conversations import (
    DRAFT,
    PUBLISHED,
    Turn,
    configuration,
    conversation_message,
    conversation_start,
    portal_test_bot,
)
from portal.roles import AUTHORING, role_required
from portal.views._common import AuthedRequest

SESSION_KEY = "test-bot-conversation"
TEMPLATE = "portal/test_bot/index.html"


def _mode(value: Any) -> str:
    return DRAFT if value == DRAFT else PUBLISHED


def _current(request: AuthedRequest) -> Conversation | None:
    conversation_id = request.session.get(SESSION_KEY)
    if not conversation_id:
        return None
    return (
        Conversation.objects.select_related("handoff")
        .filter(pk=conversation_id, source=Conversation.Source.PORTAL)
        .first()
    )


def handoff_link(handoff: Handoff | None) -> str | None:
    if handoff is None:
        return None
    try:
        return reverse("agent_handoff", kwargs={"pk": handoff.pk})
    except NoReverseMatch:  # the agent workspace is not installed
        return None


def _context(
    request: AuthedRequest,
    *,
    mode: str,
    conversation: Conversation | None,
    turn: Turn | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    channels: list[dict[str, Any]] = []
    config_errors: list[Any] = []
    config_problem = None
    try:
        document = configuration(mode).document
        channels = [c for c in document.get("channels", []) if c.get("enabled", True)]
    except NotConfigured as exc:
        config_problem = gettext(str(exc))
        config_errors = exc.problems[:20]
    state = conversation.state if conversation is not None else {}
    handoff = conversation.handoff if conversation is not None else None
    return {
        "mode": mode,
        "channels": channels,
        "config_problem": config_problem,
        "config_errors": config_errors,
        "conversation": conversation,
        "transcript": state.get("transcript", []),
        "variables": [(k, shown_value(v)) for k, v in (state.get("variables") or {}).items()],
        "topics": state.get("topics", []),
        "topic": state.get("topic"),
        "ended": bool(state.get("ended")),
        "handoff": handoff,
        "handoff_url": handoff_link(handoff),
        "handoff_error": (turn.error if turn else None) or state.get("handoff_error"),
        "error": error,
        "max_text": MAX_TEXT,
    }


def _pane(request: AuthedRequest, context: dict[str, Any]) -> HttpResponse:
    if request.htmx:
        return render(request, f"{TEMPLATE}#pane", context)
    return render(request, TEMPLATE, context)


@role_required(*AUTHORING)
@require_GET
def test_bot(request: AuthedRequest) -> HttpResponse:
    conversation = _current(request)
    default = conversation.state.get("config") if conversation is not None else PUBLISHED
    mode = _mode(request.GET.get("config", default))
    if conversation is not None and conversation.state.get("config") != mode:
        conversation = None  # switching configuration starts over
    return render(request, TEMPLATE, _context(request, mode=mode, conversation=conversation))


@role_required(*AUTHORING)
@require_POST
def test_bot_start(request: AuthedRequest) -> HttpResponse:
    mode = _mode(request.POST.get("config"))
    try:
        channels = {c["key"] for c in configuration(mode).document.get("channels", [])}
    except NotConfigured:
        return _pane(request, _context(request, mode=mode, conversation=None))
    channel = request.POST.get("channel", "")
    locale = request.POST.get("locale", "").strip()
    error = None
    if channel not in channels:
        error = gettext("Pick a channel.")
    elif locale and (len(locale) > 35 or not LOCALE_RE.match(locale)):
        error = gettext("The locale is a BCP-47 tag such as en-US.")
    if error is not None:
        return _pane(request, _context(request, mode=mode, conversation=None, error=error))
    conversation, _replies = conversation_start(
        bot=portal_test_bot(),
        channel=channel,
        source=Conversation.Source.PORTAL,
        locale=locale,
        config=mode,
    )
    request.session[SESSION_KEY] = str(conversation.pk)
    if not request.htmx:
        return redirect(f"{reverse('test_bot')}?config={mode}")
    return _pane(request, _context(request, mode=mode, conversation=conversation))


@role_required(*AUTHORING)
@require_POST
def test_bot_send(request: AuthedRequest) -> HttpResponse:
    conversation = _current(request)
    mode = _mode(conversation.state.get("config") if conversation else request.POST.get("config"))
    text = request.POST.get("text", "").strip()[:MAX_TEXT]
    if conversation is None:
        context = _context(
            request, mode=mode, conversation=None, error=gettext("Start a conversation.")
        )
        return _pane(request, context)
    turn = None
    error = None
    if text:
        try:
            turn = conversation_message(conversation_id=conversation.pk, text=text)
            conversation = turn.conversation
        except NotConfigured as exc:
            error = gettext(str(exc))
    if not request.htmx:
        return redirect(f"{reverse('test_bot')}?config={mode}")
    conversation = _current(request)
    return _pane(
        request, _context(request, mode=mode, conversation=conversation, turn=turn, error=error)
    )
