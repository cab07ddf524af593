"""Login and logout: Django's own views, with the portal's template."""

from django.contrib.auth import views as auth_views

login = auth_views.LoginView.as_view(
    template_name="registration/login.html", redirect_authenticated_user=True
)
# Django's LogoutView accepts POST only, so a link cannot log anyone out by surprise.
logout = auth_views.LogoutView.as_view()
