"""Who may open which portal page: the view decorators, on top of the roles of handoff/roles.py."""

from collections.abc import Callable
from functools import wraps
from inspect import iscoroutinefunction
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import get_resolver

from handoff.roles import ADMIN, AGENT, ANALYST, MAKER, ROLES, has_role, roles_of

__all__ = [
    "ADMIN",
    "AGENT",
    "ANALYST",
    "AUTHORING",
    "CONFIG_READERS",
    "MAKER",
    "ROLES",
    "has_role",
    "role_required",
    "role_required_to_write",
    "roles_of",
]

# Who may read configuration, and who may change which part of it.
CONFIG_READERS = (ADMIN, MAKER, ANALYST)
AUTHORING = (ADMIN, MAKER)


def error_page(request: HttpRequest, status: int) -> HttpResponse:
    """The project's 403 or 404 page, for an async view to return rather than raise.

    Django turns an exception raised in an async view into its page in a thread of a shared
    pool, whose database connection then outlives the request; this runs in the request's own
    thread (call it through sync_to_async) and lets the connection go.
    """
    exception = PermissionDenied() if status == 403 else Http404()
    try:
        handler: Any = get_resolver().resolve_error_handler(status)
        return handler(request, exception=exception)
    finally:
        if isinstance(request, ASGIRequest):  # under WSGI the request's end closes it
            connections.close_all()


def role_required(*roles: str) -> Callable:
    """Login first (anonymous users go to the login page), then 403 without one of `roles`."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        if iscoroutinefunction(view):
            # An async view (the live streams): the same checks, without touching
            # request.user, which would query the database inside the event loop.
            @wraps(view)
            @login_required
            async def awrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                user = await request.auser()
                if not await sync_to_async(has_role)(user, *roles):
                    return await sync_to_async(error_page)(request, 403)
                return await view(request, *args, **kwargs)

            awrapped.allowed_roles = roles  # type: ignore[attr-defined]
            return awrapped

        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


def role_required_to_write(*, read: tuple[str, ...], write: tuple[str, ...]) -> Callable:
    """Pages `read` may see (GET, HEAD) and only `write` may change (every other method).

    Analysts read the makers' pages, which are also the forms makers save.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in ("GET", "HEAD") and not has_role(request.user, *write):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped = role_required(*read)(inner)
        wrapped.write_roles = write  # type: ignore[attr-defined]
        return wrapped

    return decorator
