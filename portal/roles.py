"""The four roles of DESIGN §2, as Django groups (created by a data migration)."""

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

ADMIN = "admin"
MAKER = "maker"
ANALYST = "analyst"
AGENT = "agent"
ROLES = (ADMIN, MAKER, ANALYST, AGENT)

# Who may read configuration, and who may change which part of it.
CONFIG_READERS = (ADMIN, MAKER, ANALYST)
AUTHORING = (ADMIN, MAKER)


def roles_of(user: Any) -> set[str]:
    if not user.is_authenticated or not user.is_active:
        return set()
    cached = getattr(user, "_role_cache", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        if user.is_superuser:
            cached.add(ADMIN)
        user._role_cache = cached
    return cached


def has_role(user: Any, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


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


_CONFIG = ["channel", "queue", "queuemembership", "bot", "skill", "agentskill"]
_AUTHORED = ["topic", "topicnode", "contextfield", "escalationrule"]
_READ_ALL = [*_CONFIG, *_AUTHORED, "configversion", "auditentry", "handoff", "handoffevent"]

# Codenames of the handoff app's permissions each role's group holds (None: all of them).
ROLE_PERMISSIONS: dict[str, list[str] | None] = {
    ADMIN: None,
    MAKER: [f"view_{m}" for m in _READ_ALL]
    + [f"{a}_{m}" for a in ("add", "change", "delete") for m in _AUTHORED]
    + ["add_configversion"],
    ANALYST: [f"view_{m}" for m in _READ_ALL],
    AGENT: ["view_handoff", "view_handoffevent", "change_handoff"],
}


def ensure_roles(**kwargs: Any) -> None:
    """Create the role groups with their permissions if they are missing.

    Runs after every migrate and after every database flush (post_migrate), so that tests
    which flush the database between them still find the roles.
    """
    from django.contrib.auth.models import Group, Permission

    handoff_perms = Permission.objects.filter(content_type__app_label="handoff")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, created = Group.objects.get_or_create(name=role)
        if created or not group.permissions.exists():
            wanted = (
                handoff_perms if codenames is None else handoff_perms.filter(codename__in=codenames)
            )
            group.permissions.set(wanted)
