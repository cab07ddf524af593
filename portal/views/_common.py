"""Small helpers shared by the portal views."""

from collections.abc import Callable
from typing import TypeVar

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy
from django_htmx.middleware import HtmxDetails

from handoff.crypto import decrypt, encrypt
from handoff.models import User
from handoff.services.editing import InUseError

SECRET_PREFIX = "portal-show-once:"

T = TypeVar("T")

# What a form says when a new key (or target) would leave something that uses the old one behind.
RENAME_REFUSED = {
    "key": gettext_lazy("The key cannot change while it is used by: %(refs)s."),
    "target": gettext_lazy("The target cannot change while it is used by: %(refs)s."),
}


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


def saved_unless_used(form: forms.BaseForm, save: Callable[[], T], field: str = "key") -> T | None:
    """What `save()` returns; None when the old `field` is still used, which the form then says."""
    try:
        return save()
    except InUseError as error:
        form.add_error(field, RENAME_REFUSED[field] % {"refs": "; ".join(error.references)})
        return None


def deleted_unless_used(
    request: HttpRequest,
    delete: Callable[[], object],
    *,
    what: dict[str, str],
    deleted: str,
    refused: str,
    done: HttpResponse,
    back: HttpResponse,
) -> HttpResponse:
    """`delete()`, then the message `deleted` and `done`; or, when something still uses the
    object, the message `refused` (its %(refs)s says what) and `back`. Both messages are
    formatted with `what`."""
    try:
        delete()
    except InUseError as error:
        messages.error(request, refused % {**what, "refs": "; ".join(error.references)})
        return back
    messages.success(request, deleted % what)
    return done


def move_offset(request: HttpRequest) -> int:
    """The move an up or down button asks for: -1 or 1 place."""
    return -1 if request.POST.get("direction") == "up" else 1
