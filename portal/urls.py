from django.urls import include, path

from portal.views import health

urlpatterns = [
    path("health/", health.health, name="health"),
    path("api/v1/", include("handoff.api.urls")),
    path("analytics/", include("portal.analytics_urls")),
    path("", include("portal.portal_urls")),
]
