from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("handoff.api.urls")),
    path("analytics/", include("portal.analytics_urls")),
    path("", include("portal.portal_urls")),
]
