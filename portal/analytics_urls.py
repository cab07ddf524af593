"""The analysts' pages, included at /analytics/ before the rest of the portal."""

from django.urls import path

from portal.views import analytics

urlpatterns = [
    # Same name as the portal's placeholder: this include comes first, so it wins both for
    # resolving /analytics/ and for reverse("analytics_index") in the navigation.
    path("", analytics.analytics_index, name="analytics_index"),
    path("export.csv", analytics.analytics_export, name="analytics_export"),
]
