"""Import and export of the config document from the portal (docs/config-format.md).

Admins import (all or nothing: on any error nothing changes and every problem is listed by
its JSON path); admins, makers and analysts export the draft or any published version.
"""

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from handoff.config.document import (
    ConfigDocumentError,
    ConfigError,
    export_document,
    import_document,
    render_document,
)
from handoff.models import ConfigVersion
from portal.roles import ADMIN, CONFIG_READERS, role_required
from portal.views._common import AuthedRequest

MAX_UPLOAD = 5 * 1024 * 1024


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("JSON file"),
        required=False,
        help_text=gettext_lazy("A document exported from this or another portal."),
    )
    text = forms.CharField(
        label=gettext_lazy("Or paste the JSON"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
    )
    create_users = forms.BooleanField(
        label=gettext_lazy("Create missing users (inactive, without a password)"),
        required=False,
    )
    publish = forms.BooleanField(
        label=gettext_lazy("Publish after import"),
        required=False,
    )
    note = forms.CharField(label=gettext_lazy("Note"), max_length=500, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_UPLOAD:
                raise forms.ValidationError(_("The file is larger than 5 MB."))
            raw = upload.read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError(_("The file is not UTF-8 text.")) from None
        else:
            text = data.get("text") or ""
        if not text.strip():
            raise forms.ValidationError(_("Choose a file or paste a document."))
        data["source"] = text
        return data


def _parse(text: str) -> tuple[Any, list[ConfigError]]:
    try:
        return json.loads(text), []
    except ValueError as exc:
        return None, [ConfigError("(document)", _("not valid JSON: %(error)s") % {"error": exc})]


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def config_import(request: AuthedRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    errors: list[ConfigError] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        doc, errors = _parse(data["source"])
        if not errors:
            try:
                result = import_document(
                    doc,
                    user=request.user,
                    create_users=data["create_users"],
                    publish=data["publish"],
                    note=data["note"] or _("Imported from the portal"),
                )
            except ConfigDocumentError as error:
                errors = error.errors
            else:
                if result.version is not None:
                    messages.success(
                        request,
                        _("Imported and published as version %(number)s.")
                        % {"number": result.version.number},
                    )
                    return redirect("version_list")
                return render(request, "portal/transfer/imported.html", {"result": result})
    return render(request, "portal/transfer/import.html", {"form": form, "errors": errors})


@role_required(*CONFIG_READERS)
@require_GET
def config_export(request: AuthedRequest) -> HttpResponse:
    versions = ConfigVersion.objects.select_related("created_by").defer("document")[:200]
    return render(request, "portal/transfer/export.html", {"versions": versions})


@role_required(*CONFIG_READERS)
@require_GET
@never_cache
def config_export_download(request: AuthedRequest) -> HttpResponse:
    """The draft (default) or `?version=N` as a JSON file, as export_config writes it."""
    number = request.GET.get("version", "")
    if number.isdigit():
        doc = get_object_or_404(ConfigVersion, number=int(number)).document
        name = f"handoff-config-v{number}.json"
    else:
        doc = export_document()
        name = f"handoff-config-draft-{timezone.now():%Y%m%d-%H%M}.json"
    response = HttpResponse(render_document(doc), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
