"""Small helpers shared by the portal views."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from handoff.crypto import decrypt, encrypt
from handoff.models import User

SECRET_PREFIX = "portal-show-once:"


def stash_secret(request: HttpRequest, name: str, value: str) -> None:
    """Keep a secret for the next page only: the redirect target shows it, then it is gone."""
    # Encrypted: sessions are stored in the database, and the admin may never load the page.
    request.session[SECRET_PREFIX + name] = encrypt(value)


def pop_secret(request: HttpRequest, name: str) -> str | None:
    stored = request.session.pop(SECRET_PREFIX + name, None)
    return decrypt(stored) or None if stored else None


class AuthedRequest(HttpRequest):
    """The request a portal view gets: role_required has logged the user in (for typing)."""

    user: User
    htmx: HtmxDetails
