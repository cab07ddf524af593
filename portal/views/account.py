"""My settings: each user picks the portal's language (blank follows the browser); agents pick
how the workspace tells them of a new offer (docs/agent-workspace.md)."""

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
from handoff.services.portal_config import user_settings_set
from portal.forms import ModelDataForm
from portal.roles import ADMIN, AGENT, ANALYST, MAKER, has_role, role_required
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


class OfferAlertsForm(ModelDataForm):
    """Stored on the user, so the choice follows the agent to any browser."""

    class Meta:
        model = User
        fields = ["alert_title", "alert_sound", "alert_notification"]
        labels = {
            "alert_title": _("Count pending offers in the tab title"),
            "alert_sound": _("Play a sound when an offer arrives"),
            "alert_notification": _("Show a browser notification when an offer arrives"),
        }
        help_texts = {
            "alert_notification": _(
                "The browser asks once: use “Enable notifications” in the workspace."
            ),
        }


@role_required(ADMIN, MAKER, ANALYST, AGENT)
@require_http_methods(["GET", "POST"])
def account_settings(request: AuthedRequest) -> HttpResponse:
    form = LanguageForm(request.POST or None, instance=request.user)
    alerts = None
    if has_role(request.user, ADMIN, AGENT):
        alerts = OfferAlertsForm(request.POST or None, instance=request.user, prefix="alerts")
    if request.method == "POST" and form.is_valid() and (alerts is None or alerts.is_valid()):
        user_settings_set(
            user=request.user,
            language=form.cleaned_data["language"],
            alerts={n: alerts.cleaned_data[n] for n in OfferAlertsForm.Meta.fields}
            if alerts is not None
            else None,
        )
        # The confirmation should already speak the newly chosen language (or the browser's).
        translation.activate(
            request.user.language or translation.get_language_from_request(request)
        )
        messages.success(request, gettext("Your settings are saved."))
        return redirect("account_settings")
    return render(request, "portal/account/settings.html", {"form": form, "alerts": alerts})
