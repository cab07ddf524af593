"""My settings: each user picks the portal's language (blank follows the browser)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from handoff.models import User
from handoff.services.portal_config import user_language_set
from portal.forms import ModelDataForm
from portal.roles import ADMIN, AGENT, ANALYST, MAKER, role_required
from portal.views._common import AuthedRequest


class LanguageForm(ModelDataForm):
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        # Language names stay in their own language, so anyone can find theirs.
        choices=[("", _("Follow the browser")), *settings.LANGUAGES],
        help_text=_("The language of the portal's pages for you."),
    )

    class Meta:
        model = User
        fields = ["language"]


@role_required(ADMIN, MAKER, ANALYST, AGENT)
@require_http_methods(["GET", "POST"])
def account_settings(request: AuthedRequest) -> HttpResponse:
    form = LanguageForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user_language_set(user=request.user, language=form.cleaned_data["language"])
        # The confirmation should already speak the newly chosen language (or the browser's).
        translation.activate(
            request.user.language or translation.get_language_from_request(request)
        )
        messages.success(request, gettext("Your settings are saved."))
        return redirect("account_settings")
    return render(request, "portal/account/settings.html", {"form": form})
