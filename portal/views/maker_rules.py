"""Makers: escalation rules, with a condition builder whose rows change in place.

The rule form's buttons "add condition", "remove" and a change of a row's field post the form
back with `_action`: the server re-renders the conditions (operators fit the field's type)
without saving, as an htmx fragment or, without JavaScript, the whole page.
"""

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from handoff.models import EscalationRule
from handoff.services.authoring import (
    rule_create,
    rule_delete,
    rule_move,
    rule_set_enabled,
    rule_update,
)
from portal.maker_forms import (
    ConditionFormSet,
    RuleForm,
    condition_rows,
    condition_summary,
    known_rule_fields,
    value_hints,
    value_text,
)
from portal.roles import AUTHORING, CONFIG_READERS, has_role, role_required, role_required_to_write
from portal.views._common import AuthedRequest, move_offset

PREFIX = "cond"


def _rules_context(request: AuthedRequest) -> dict[str, Any]:
    rules = list(EscalationRule.objects.select_related("queue").order_by("order", "id"))
    for rule in rules:
        rule.summary = condition_summary(rule.conditions)  # type: ignore[attr-defined]
        rule.mode = next(iter(rule.conditions), "all") if rule.conditions else "all"  # type: ignore[attr-defined]
    return {"rules": rules, "can_author": has_role(request.user, *AUTHORING)}


def _rules_changed(request: AuthedRequest) -> HttpResponse:
    """After a change in the list: its rows for htmx, the list page otherwise."""
    if request.htmx:
        return render(request, "portal/maker/rules.html#rows", _rules_context(request))
    return redirect("rule_list")


@role_required(*CONFIG_READERS)
@require_GET
def rule_list(request: AuthedRequest) -> HttpResponse:
    return render(request, "portal/maker/rules.html", _rules_context(request))


def _initial_rows(rule: EscalationRule | None) -> list[dict[str, str]]:
    if rule is None or not isinstance(rule.conditions, dict):
        return []
    items: list[Any] = next(iter(rule.conditions.values()), []) if rule.conditions else []
    return [
        {"field": c.get("field", ""), "op": c.get("op", ""), "value": value_text(c.get("value"))}
        for c in items
        if isinstance(c, dict)
    ]


def _rebuilt_formset(data: QueryDict, action: str, fields: dict[str, str]) -> Any:
    """The conditions as typed, with a row added or removed, unbound (no errors yet)."""
    rows = condition_rows(data, PREFIX)
    if action == "add_condition":
        rows.append({"field": "", "op": "", "value": ""})
    elif action.startswith("remove_condition-"):
        index = action.removeprefix("remove_condition-")
        if index.isdigit() and int(index) < len(rows):
            rows.pop(int(index))
    return ConditionFormSet(prefix=PREFIX, initial=rows, fields=fields)


def _rule_page(request: AuthedRequest, rule: EscalationRule | None) -> HttpResponse:
    fields = known_rule_fields()
    action = request.POST.get("_action", "") if request.method == "POST" else ""
    if request.method == "POST" and action:
        # Building the form, not saving it: keep what was typed, change the rows.
        formset = _rebuilt_formset(request.POST, action, fields)
        form = RuleForm(initial=_typed_initial(request.POST, RuleForm(rule=rule)), rule=rule)
    elif request.method == "POST":
        form = RuleForm(request.POST, rule=rule)
        formset = ConditionFormSet(request.POST, prefix=PREFIX, fields=fields)
        if form.is_valid() and formset.is_valid():
            form.check_document(formset)
        if form.is_valid() and formset.is_valid():
            values = form.rule_values()
            if rule is None:
                saved = rule_create(user=request.user, values=values)
            else:
                saved = rule_update(user=request.user, rule_id=rule.pk, values=values)
            messages.success(request, _("Rule “%(name)s” saved.") % {"name": saved.name})
            return redirect("rule_list")
    else:
        form = RuleForm(rule=rule)
        formset = ConditionFormSet(prefix=PREFIX, initial=_initial_rows(rule), fields=fields)
    context = {
        "form": form,
        "formset": formset,
        "rule": rule,
        "fields": fields,
        "hints": value_hints(),
        "can_edit": has_role(request.user, *AUTHORING),
        "action_url": request.path,
    }
    template = "portal/maker/rule_form.html"
    if request.htmx and action:
        template += "#conditions"
    return render(request, template, context)


def _typed_initial(data: QueryDict, form: RuleForm) -> dict[str, Any]:
    """What the user typed in the rule's own fields, as initial values of a fresh form."""
    initial: dict[str, Any] = {}
    for name in form.fields:
        if name == "enabled":
            initial[name] = bool(data.get(name))
        elif name in data:
            initial[name] = data.get(name)
    return initial


@role_required(*AUTHORING)
@require_http_methods(["GET", "POST"])
def rule_new(request: AuthedRequest) -> HttpResponse:
    return _rule_page(request, None)


@role_required_to_write(read=CONFIG_READERS, write=AUTHORING)
@require_http_methods(["GET", "POST"])
def rule_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(EscalationRule.objects.select_related("queue"), pk=pk)
    return _rule_page(request, rule)


@role_required(*AUTHORING)
@require_POST
def rule_toggle(request: AuthedRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(EscalationRule.objects.select_related("queue"), pk=pk)
    rule_set_enabled(user=request.user, rule_id=rule.pk, enabled=not rule.enabled)
    return _rules_changed(request)


@role_required(*AUTHORING)
@require_POST
def rule_move_view(request: AuthedRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(EscalationRule, pk=pk)
    rule_move(user=request.user, rule_id=rule.pk, offset=move_offset(request))
    return _rules_changed(request)


@role_required(*AUTHORING)
@require_POST
def rule_remove(request: AuthedRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(EscalationRule, pk=pk)
    rule_delete(user=request.user, rule_id=rule.pk)
    messages.success(request, _("Rule “%(name)s” deleted.") % {"name": rule.name})
    return redirect("rule_list")
