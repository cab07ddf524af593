"""The live streams: server-sent events for the agent workspace, the supervisor board and the
web chat, each authorised exactly as its page (portal/live.py does the streaming).

A stream is for audiences the viewer may see and nothing else: an agent gets their own
events and their queues' news, an admin the board, a visitor the conversation their session
owns. A browser resuming after a lost connection sends Last-Event-ID and gets what it missed.
"""

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from handoff.engine.live import (
    BOARD,
    QUEUE_PREFIX,
    agent_audience,
    conversation_audience,
    queue_audience,
)
from handoff.models import Conversation
from handoff.selectors.live import agent_queue_ids
from portal.live import event_stream, short_answer
from portal.roles import ADMIN, AGENT, error_page, role_required
from portal.views.webchat import SESSION_KEY


def _last_event_id(request: HttpRequest) -> int | None:
    # The browser's own reconnection sends the header; a stream that live.js opens anew (the
    # htmx extension's retry after a failed reconnection) carries it in the query string.
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id", "")
    return int(raw) if raw.isdigit() else None


async def _stream(
    request: HttpRequest, *, audiences: list[str], prefixes: tuple[str, ...] = ()
) -> HttpResponse | StreamingHttpResponse:
    after = _last_event_id(request)
    response: HttpResponse | StreamingHttpResponse
    if isinstance(request, ASGIRequest):
        response = StreamingHttpResponse(
            event_stream(audiences=audiences, prefixes=prefixes, after=after),
            content_type="text/event-stream",
        )
    else:
        # A WSGI server would block a thread forever on an endless stream: answer at once.
        body = await sync_to_async(short_answer)(
            audiences=audiences, prefixes=prefixes, after=after
        )
        response = HttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # nginx must pass each event on as it comes (docs/deploy.md sets proxy_buffering off too).
    response["X-Accel-Buffering"] = "no"
    return response


@role_required(ADMIN, AGENT)
@require_GET
async def agent_live(request: HttpRequest) -> Any:
    """The workspace and the handoff page: my offers and handoffs, my queues' waiting work."""
    user_id = (await request.auser()).pk
    assert user_id is not None  # role_required let a logged-in user through
    queue_ids = await sync_to_async(agent_queue_ids)(user_id=user_id)
    audiences = [agent_audience(user_id), *(queue_audience(q) for q in queue_ids)]
    return await _stream(request, audiences=audiences)


@role_required(ADMIN)
@require_GET
async def board_live(request: HttpRequest) -> Any:
    """The supervisor board: every queue, and agents' presence."""
    return await _stream(request, audiences=[BOARD], prefixes=(QUEUE_PREFIX,))


def _webchat_bot_id(request: HttpRequest, conversation_id: str) -> int | None:
    if request.session.get(SESSION_KEY) != conversation_id:
        return None
    return (
        Conversation.objects.filter(pk=conversation_id, source=Conversation.Source.WEBCHAT)
        .values_list("bot_id", flat=True)
        .first()
    )


@require_GET
async def webchat_live(request: HttpRequest, conversation_id: Any) -> Any:
    """The visitor's own web chat conversation; any other is a 404, as on the chat page."""
    bot_id = await sync_to_async(_webchat_bot_id)(request, str(conversation_id))
    if bot_id is None:
        return await sync_to_async(error_page)(request, 404)
    return await _stream(request, audiences=[conversation_audience(bot_id, str(conversation_id))])
