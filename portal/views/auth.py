"""Login and logout: Django's own views, with the portal's template."""

from typing import Any

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from portal import security


class ThrottledAuthenticationForm(AuthenticationForm):
    """Refuses a username after LOGIN_FAILURE_LIMIT failures from one address (15 minutes)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": _(
            "Too many failed attempts to log in. Wait 15 minutes and try again, "
            "or ask an admin to reset your password."
        ),
    }

    def clean(self) -> dict[str, Any]:
        who = {
            "username": str(self.data.get("username", ""))[:150],
            "address": security.client_address(self.request) if self.request else "",
        }
        # Checked before the password, so that a blocked guesser learns nothing more.
        if security.login_is_blocked(**who):
            raise forms.ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            security.login_failure_record(**who)
            raise
        security.login_failures_clear(**who)
        return cleaned


login = auth_views.LoginView.as_view(
    template_name="registration/login.html",
    redirect_authenticated_user=True,
    authentication_form=ThrottledAuthenticationForm,
)
# Django's LogoutView accepts POST only, so a link cannot log anyone out by surprise.
logout = auth_views.LogoutView.as_view()
