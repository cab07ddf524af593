from typing import Any

from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from handoff.models import AuditEntry
from portal.celery import app


class FloorInput(serializers.Serializer):
    conversation_id = serializers.CharField(max_length=200)
    channel = serializers.CharField(max_length=100)


class FloorApi(APIView):
    """The least a handoff request can cost with Django and DRF: two fields validated, one
    insert with the body as JSON, one task published."""

    authentication_classes: list[Any] = []
    schema = None  # not part of the API
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        FloorInput(data=request.data).is_valid(raise_exception=True)
        entry = AuditEntry.objects.create(action="bench", detail=request.data)
        # Published to a queue no worker consumes: the floor pays the publish and nothing else.
        app.send_task("bench.noop", args=[entry.pk], queue="bench-floor", retry=False)
        return Response({"id": entry.pk}, status=202)


urlpatterns = [path("bench/floor", FloorApi.as_view()), path("", include("portal.urls"))]
