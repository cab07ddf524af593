from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("handoff.api.urls")),
    path("", include("portal.portal_urls")),
]
