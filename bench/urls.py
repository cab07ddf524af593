from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from handoff.models import AuditEntry
from portal.celery import app


@csrf_exempt
def floor(request: HttpRequest) -> JsonResponse:
    """The least a handoff request can cost here: one insert and one task publish."""
    entry = AuditEntry.objects.create(action="bench", detail={"n": len(request.body)})
    # Published to a queue no worker consumes, so the floor pays the publish and nothing else.
    app.send_task("bench.noop", args=[entry.pk], queue="bench-floor", retry=False)
    return JsonResponse({"id": entry.pk}, status=202)


urlpatterns = [path("bench/floor", floor), path("", include("portal.urls"))]
