"""Makers: context field mappings, with a live preview of a sample value through the engine."""

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from handoff.models import ContextField
from handoff.services.authoring import (
    context_field_create,
    context_field_delete,
    context_field_move,
    context_field_update,
)
from portal.maker_forms import SYSTEM_SOURCES, ContextFieldForm, known_variables, preview_mapping
from portal.roles import AUTHORING, CONFIG_READERS, has_role, role_required, role_required_to_write
from portal.views._common import AuthedRequest, deleted_unless_used, move_offset, saved_unless_used


def _fields_context(request: AuthedRequest) -> dict[str, Any]:
    return {
        "fields": ContextField.objects.order_by("position", "id"),
        "can_author": has_role(request.user, *AUTHORING),
    }


@role_required(*CONFIG_READERS)
@require_GET
def context_field_list(request: AuthedRequest) -> HttpResponse:
    return render(request, "portal/maker/context_fields.html", _fields_context(request))


def _form_page(
    request: AuthedRequest, form: ContextFieldForm, field: ContextField | None
) -> HttpResponse:
    context: dict[str, Any] = {
        "form": form,
        "field": field,
        "variables": known_variables(),
        "system_sources": SYSTEM_SOURCES,
        "can_edit": has_role(request.user, *AUTHORING),
    }
    return render(request, "portal/maker/context_field_form.html", context)


@role_required(*AUTHORING)
@require_http_methods(["GET", "POST"])
def context_field_new(request: AuthedRequest) -> HttpResponse:
    form = ContextFieldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        field = context_field_create(user=request.user, values=form.field_values())
        messages.success(request, _("Context field “%(name)s” created.") % {"name": field.target})
        return redirect("context_field_list")
    return _form_page(request, form, None)


@role_required_to_write(read=CONFIG_READERS, write=AUTHORING)
@require_http_methods(["GET", "POST"])
def context_field_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    field = get_object_or_404(ContextField, pk=pk)
    form = ContextFieldForm(request.POST or None, instance=field)
    if request.method == "POST" and form.is_valid():
        values = form.field_values()
        saved = saved_unless_used(
            form,
            lambda: context_field_update(user=request.user, field_id=field.pk, values=values),
            field="target",
        )
        if saved is not None:
            messages.success(request, _("Context field “%(name)s” saved.") % {"name": saved.target})
            return redirect("context_field_list")
    return _form_page(request, form, field)


@role_required(*AUTHORING)
@require_POST
def context_field_remove(request: AuthedRequest, pk: int) -> HttpResponse:
    field = get_object_or_404(ContextField, pk=pk)
    return deleted_unless_used(
        request,
        lambda: context_field_delete(user=request.user, field_id=field.pk),
        what={"name": field.target},
        deleted=_("Context field “%(name)s” deleted."),
        refused=_("“%(name)s” was not deleted: it is used by %(refs)s."),
        done=redirect("context_field_list"),
        back=redirect("context_field_detail", pk=field.pk),
    )


@role_required(*AUTHORING)
@require_POST
def context_field_move_view(request: AuthedRequest, pk: int) -> HttpResponse:
    field = get_object_or_404(ContextField, pk=pk)
    context_field_move(user=request.user, field_id=field.pk, offset=move_offset(request))
    if request.htmx:
        return render(request, "portal/maker/context_fields.html#rows", _fields_context(request))
    return redirect("context_field_list")


@role_required(*CONFIG_READERS)
@require_GET
def context_field_preview(request: AuthedRequest) -> HttpResponse:
    """The form's current mapping applied to a sample value; it saves nothing."""
    result = preview_mapping(request.GET, request.GET.get("sample", ""))
    return render(request, "portal/maker/context_field_form.html#preview", {"preview": result})
