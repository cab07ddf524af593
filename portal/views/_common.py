"""Small helpers shared by the portal views."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from handoff.models import User

SECRET_PREFIX = "portal-show-once:"


def stash_secret(request: HttpRequest, name: str, value: str) -> None:
    """Keep a secret for the next page only: the redirect target shows it, then it is gone."""
    request.session[SECRET_PREFIX + name] = value


def pop_secret(request: HttpRequest, name: str) -> str | None:
    return request.session.pop(SECRET_PREFIX + name, None)


class AuthedRequest(HttpRequest):
    """The request a portal view gets: role_required has logged the user in (for typing)."""

    user: User
    htmx: HtmxDetails
