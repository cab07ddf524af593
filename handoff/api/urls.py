from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from handoff.api import conversation_views, views

urlpatterns = [
    path("handoffs", views.HandoffCreateApi.as_view(), name="api-handoff-create"),
    path(
        "handoffs/bot-framework",
        views.BotFrameworkHandoffApi.as_view(),
        name="api-handoff-bot-framework",
    ),
    path("handoffs/<uuid:handoff_id>", views.HandoffDetailApi.as_view(), name="api-handoff"),
    path(
        "handoffs/<uuid:handoff_id>/cancel",
        views.HandoffCancelApi.as_view(),
        name="api-handoff-cancel",
    ),
    path(
        "conversations",
        conversation_views.ConversationStartApi.as_view(),
        name="api-conversation-start",
    ),
    path(
        "conversations/<uuid:conversation_id>",
        conversation_views.ConversationDetailApi.as_view(),
        name="api-conversation",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages",
        conversation_views.ConversationMessageApi.as_view(),
        name="api-conversation-messages",
    ),
    path(
        "schema",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="api-schema",
    ),
    path(
        "docs",
        # The split view serves its init script as a file: no inline script under the CSP.
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", authentication_classes=[], permission_classes=[]
        ),
        name="api-docs",
    ),
]
