from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    from portal.roles import roles_of

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"roles": set()}
    return {"roles": roles_of(user)}
