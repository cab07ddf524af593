"""Admin: skills. Agents' proficiencies are set on each user's page."""

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from handoff.models import Skill
from handoff.services.portal_config import skill_create, skill_delete, skill_update
from portal.forms import SkillForm
from portal.roles import ADMIN, CONFIG_READERS, role_required
from portal.views._common import AuthedRequest, deleted_unless_used, saved_unless_used


@role_required(*CONFIG_READERS)
@require_GET
def skill_list(request: AuthedRequest) -> HttpResponse:
    skills = Skill.objects.annotate(agent_count=Count("agents")).order_by("key")
    return render(request, "portal/skills/list.html", {"skills": skills, "form": SkillForm()})


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def skill_new(request: AuthedRequest) -> HttpResponse:
    form = SkillForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        skill = skill_create(user=request.user, **form.cleaned_data)
        messages.success(request, _("Skill “%(key)s” created.") % {"key": skill.key})
        return redirect("skill_list")
    return render(request, "portal/skills/form.html", {"form": form, "skill": None})


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def skill_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    skill = get_object_or_404(Skill, pk=pk)
    form = SkillForm(request.POST or None, instance=skill)
    if request.method == "POST" and form.is_valid():
        saved = saved_unless_used(
            form, lambda: skill_update(user=request.user, skill_id=skill.pk, **form.cleaned_data)
        )
        if saved is not None:
            messages.success(request, _("Skill “%(key)s” saved.") % {"key": saved.key})
            return redirect("skill_list")
    return render(request, "portal/skills/form.html", {"form": form, "skill": skill})


@role_required(ADMIN)
@require_POST
def skill_remove(request: AuthedRequest, pk: int) -> HttpResponse:
    skill = get_object_or_404(Skill, pk=pk)
    return deleted_unless_used(
        request,
        lambda: skill_delete(user=request.user, skill_id=skill.pk),
        what={"key": skill.key},
        deleted=_("Skill “%(key)s” deleted."),
        refused=_("“%(key)s” was not deleted: it is used by %(refs)s."),
        done=redirect("skill_list"),
        back=redirect("skill_edit", pk=skill.pk),
    )
