from django.urls import include, path

from portal.views import health

# JSON 404s under /api/ (a path that matches no API route), Django's page elsewhere.
handler404 = "handoff.api.errors.page_not_found"
# The database unreachable: a 503 (JSON under /api/), logged in one line.
handler500 = "handoff.api.unavailable.server_error"

urlpatterns = [
    path("health/", health.health, name="health"),
    path("api/v1/", include("handoff.api.urls")),
    path("analytics/", include("portal.analytics_urls")),
    path("", include("portal.portal_urls")),
]
