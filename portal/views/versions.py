"""Draft and publish, versions (list, diff, roll back) and the audit log (docs/publishing.md).

Makers and admins publish and roll back; analysts read versions, diffs and the audit log.
"""

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, resolve, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from handoff.config.diff import SectionDiff, config_diff
from handoff.config.document import (
    AdminOnlyChanges,
    ConfigDocumentError,
    ConfigError,
    admin_only_changes,
    config_publish,
    config_rollback,
    export_document,
    latest_version,
    validate_document,
)
from handoff.models import AuditEntry, ConfigVersion, ContextField, EscalationRule, User
from portal.roles import ADMIN, AUTHORING, CONFIG_READERS, has_role, role_required, roles_of
from portal.views._common import AuthedRequest

DRAFT = "draft"
PATH_ITEM = re.compile(r"^([a-z_]+)(?:\[(\d+)\])?")

# Document section -> (id key of an item, [(url name, url kwarg)] to try in order, list page).
# The authoring pages may add detail or edit pages: the first that resolves and that the user
# may open wins, so a problem always links to the most precise page the user can see.
PROBLEM_PAGES: dict[str, tuple[str, list[tuple[str, str]], str | None]] = {
    "channels": ("key", [("channel_edit", "key")], "channel_list"),
    "queues": ("key", [("queue_detail", "key")], "queue_list"),
    "bots": ("key", [("bot_detail", "key")], "bot_list"),
    "topics": ("key", [("topic_detail", "key"), ("topic_edit", "key")], "topic_list"),
    "context_fields": (
        "target",
        [("context_field_detail", "pk"), ("context_field_edit", "pk")],
        "context_field_list",
    ),
    "rules": ("name", [("rule_detail", "pk"), ("rule_edit", "pk")], "rule_list"),
    "agents": ("username", [("user_edit", "pk")], "user_list"),
    "skills": ("key", [], None),
}


SECTION_LABELS = {
    "channels": gettext_lazy("Channels"),
    "queues": gettext_lazy("Queues"),
    "skills": gettext_lazy("Skills"),
    "agents": gettext_lazy("Agents and their skills"),
    "bots": gettext_lazy("Bots"),
    "topics": gettext_lazy("Topics"),
    "context_fields": gettext_lazy("Context fields"),
    "rules": gettext_lazy("Escalation rules"),
}


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> list[SectionDiff]:
    sections = config_diff(old, new)
    for section in sections:
        section.label = str(SECTION_LABELS.get(section.section, section.section))
    return sections


def _may_open(url: str, roles: set[str]) -> bool:
    allowed = getattr(resolve(url).func, "allowed_roles", ())
    return bool(roles & set(allowed))


def _reverse(name: str, kwargs: dict[str, Any] | None = None) -> str | None:
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return None


def _pk_of(section: str, ident: str) -> int | None:
    if section == "rules":
        return EscalationRule.objects.filter(name=ident).values_list("pk", flat=True).first()
    if section == "context_fields":
        return ContextField.objects.filter(target=ident).values_list("pk", flat=True).first()
    if section == "agents":
        return User.objects.filter(username=ident).values_list("pk", flat=True).first()
    return None


def problem_links(
    errors: list[ConfigError], document: dict[str, Any], user: Any
) -> list[dict[str, Any]]:
    """Each problem with the page of the object to fix: queues[2]... -> that queue's page."""
    roles = roles_of(user)
    out = []
    for error in errors:
        entry: dict[str, Any] = {"path": error.path, "message": error.message, "url": None}
        entry["object"] = None
        match = PATH_ITEM.match(error.path)
        page = PROBLEM_PAGES.get(match.group(1)) if match else None
        if match and page:
            id_key, candidates, list_name = page
            items = document.get(match.group(1))
            index = int(match.group(2)) if match.group(2) is not None else None
            item = (
                items[index]
                if index is not None and isinstance(items, list) and index < len(items)
                else None
            )
            ident = item.get(id_key) if isinstance(item, dict) else None
            urls = []
            if isinstance(ident, str) and ident:
                entry["object"] = ident
                for name, kwarg in candidates:
                    value: Any = ident if kwarg == "key" else _pk_of(match.group(1), ident)
                    if value is not None:
                        urls.append(_reverse(name, {kwarg: value}))
            if list_name:
                urls.append(_reverse(list_name))
            entry["url"] = next((u for u in urls if u and _may_open(u, roles)), None)
        out.append(entry)
    return out


class PublishForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Note"),
        max_length=500,
        required=False,
        help_text=gettext_lazy("What changed and why; shown in the versions list."),
    )


@role_required(*AUTHORING)
@require_http_methods(["GET", "POST"])
def config_publish_view(request: AuthedRequest) -> HttpResponse:
    form = PublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = config_publish(user=request.user, note=form.cleaned_data["note"])
        except ConfigDocumentError as error:
            messages.error(request, _("Nothing was published: fix the problems listed below."))
            return _publish_page(request, form, error.errors)
        messages.success(request, _("Version %(number)s published.") % {"number": version.number})
        return redirect("version_list")
    return _publish_page(request, form, None)


def _publish_page(
    request: AuthedRequest, form: PublishForm, errors: list[ConfigError] | None
) -> HttpResponse:
    draft = export_document()
    _normalised, found = validate_document(draft)
    latest = latest_version()
    context = {
        "form": form,
        "latest": latest,
        # The exact check, against the document publish would store.
        "changed": latest is None or draft != latest.document,
        "diff": diff_documents(latest.document if latest else {}, draft),
        "problems": problem_links(errors if errors is not None else found, draft, request.user),
        "failed": errors is not None,
    }
    return render(request, "portal/versions/publish.html", context, status=200)


@role_required(*CONFIG_READERS)
@require_GET
def version_list(request: AuthedRequest) -> HttpResponse:
    versions = ConfigVersion.objects.select_related("created_by").defer("document")
    page = Paginator(versions.order_by("-number"), 50).get_page(request.GET.get("page"))
    numbers = list(ConfigVersion.objects.order_by("-number").values_list("number", flat=True))
    return render(
        request,
        "portal/versions/list.html",
        {
            "page": page,
            "numbers": numbers,
            "can_author": bool(roles_of(request.user) & set(AUTHORING)),
        },
    )


def _side(value: str | None) -> tuple[str, dict[str, Any]] | None:
    """A diff side: "draft" or a version number, with its document."""
    if not value:
        return None
    if value == DRAFT:
        return DRAFT, export_document()
    if not value.isdigit():
        raise Http404
    version = get_object_or_404(ConfigVersion, number=int(value))
    return str(version.number), version.document


@role_required(*CONFIG_READERS)
@require_GET
def version_diff(request: AuthedRequest) -> HttpResponse:
    numbers = list(ConfigVersion.objects.order_by("-number").values_list("number", flat=True))
    a, b = request.GET.get("a"), request.GET.get("b")
    if not a and not b:
        # The last change published, or what publishing would change after the first one.
        if len(numbers) >= 2:
            a, b = str(numbers[1]), str(numbers[0])
        elif numbers:
            a, b = str(numbers[0]), DRAFT
    old, new = _side(a), _side(b)
    diff = diff_documents(old[1], new[1]) if old and new else None
    context = {
        "numbers": numbers,
        "a": old[0] if old else "",
        "b": new[0] if new else "",
        "diff": diff,
    }
    return render(request, "portal/versions/diff.html", context)


@role_required(*AUTHORING)
@require_http_methods(["GET", "POST"])
def version_rollback(request: AuthedRequest) -> HttpResponse:
    raw = request.POST.get("number") if request.method == "POST" else request.GET.get("number")
    number = int(raw) if raw and raw.isdigit() else None
    version = get_object_or_404(ConfigVersion, number=number) if number is not None else None
    problems: list[dict[str, Any]] = []
    admin_only: list[str] = []
    if version is not None and not has_role(request.user, ADMIN):
        # Said before the maker confirms; the service refuses it again on POST.
        admin_only = admin_only_changes(export_document(), version.document)
    status = 200
    if request.method == "POST" and version is not None:
        try:
            new = config_rollback(number=version.number, user=request.user)
        except ConfigDocumentError as error:
            problems = problem_links(error.errors, version.document, request.user)
        except AdminOnlyChanges as error:
            admin_only, status = error.changes, 403
        else:
            messages.success(
                request,
                _("Version %(old)s is live again, published as version %(new)s.")
                % {"old": version.number, "new": new.number},
            )
            return redirect("version_list")
    latest = latest_version()
    context = {
        "version": version,
        "latest": latest,
        "numbers": list(ConfigVersion.objects.order_by("-number").values_list("number", flat=True)),
        "diff": diff_documents(latest.document, version.document) if version and latest else None,
        "problems": problems,
        "admin_only": admin_only,
    }
    return render(request, "portal/versions/rollback.html", context, status=status)


# -- audit log ------------------------------------------------------------------------------


class AuditFilterForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, label=gettext_lazy("User")
    )
    action = forms.ChoiceField(required=False, label=gettext_lazy("Action"))
    object_type = forms.ChoiceField(required=False, label=gettext_lazy("Object type"))
    since = forms.DateField(
        required=False,
        label=gettext_lazy("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.DateField(
        required=False,
        label=gettext_lazy("To"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        everyone = [("", _("All"))]
        self.fields["user"].queryset = User.objects.filter(  # type: ignore[attr-defined]
            pk__in=AuditEntry.objects.order_by().values("user_id").distinct()
        ).order_by("username")
        self.fields["user"].empty_label = _("All")  # type: ignore[attr-defined]
        actions = AuditEntry.objects.order_by("action").values_list("action", flat=True)
        kinds = AuditEntry.objects.exclude(object_type="").order_by("object_type")
        self.fields["action"].choices = everyone + [  # type: ignore[attr-defined]
            (a, a) for a in actions.distinct()
        ]
        self.fields["object_type"].choices = everyone + [  # type: ignore[attr-defined]
            (k, k) for k in kinds.values_list("object_type", flat=True).distinct()
        ]


@role_required(*CONFIG_READERS)
@require_GET
def audit_log(request: AuthedRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    entries = AuditEntry.objects.select_related("user").order_by("-at", "-id")
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["user"]:
            entries = entries.filter(user=data["user"])
        if data["action"]:
            entries = entries.filter(action=data["action"])
        if data["object_type"]:
            entries = entries.filter(object_type=data["object_type"])
        if data["since"]:
            entries = entries.filter(at__date__gte=data["since"])
        if data["until"]:
            entries = entries.filter(at__date__lte=data["until"])
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "portal/audit/list.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )
