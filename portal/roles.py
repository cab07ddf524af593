"""Who may open which portal page: the view decorators, on top of the roles of handoff/roles.py."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

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


def role_required(*roles: str) -> Callable:
    """Login first (anonymous users go to the login page), then 403 without one of `roles`."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
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
