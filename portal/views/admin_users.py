"""Admin: users and their roles."""

from django.contrib import messages
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from handoff.models import Skill, User
from handoff.services.portal_config import agent_skills_set, user_create, user_update
from portal.forms import AgentSkillFormSet, UserCreateForm, UserUpdateForm
from portal.roles import ADMIN, ROLES, role_required
from portal.views._common import AuthedRequest


@role_required(ADMIN)
@require_GET
def user_list(request: AuthedRequest) -> HttpResponse:
    users = User.objects.prefetch_related(
        Prefetch("groups", queryset=Group.objects.filter(name__in=ROLES).order_by("name"))
    ).order_by("username")
    return render(request, "portal/users/list.html", {"users": users})


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def user_new(request: AuthedRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        target = user_create(by=request.user, **form.cleaned_data)
        messages.success(request, _("User “%(name)s” created.") % {"name": target.username})
        return redirect("user_list")
    return render(request, "portal/users/form.html", {"form": form, "target": None})


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def user_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    initial = {
        "first_name": target.first_name,
        "last_name": target.last_name,
        "email": target.email,
        "is_active": target.is_active,
        "roles": sorted(_stored_roles(target)),
    }
    form = UserUpdateForm(request.POST or None, initial=initial, target=target, editor=request.user)
    skill_choices = list(Skill.objects.order_by("key").values_list("pk", "key"))
    held = [{"skill": s.skill_id, "proficiency": s.proficiency} for s in target.skills.all()]
    skills = AgentSkillFormSet(
        request.POST or None,
        prefix="skills",
        skill_choices=skill_choices,
        initial=None if request.method == "POST" else held,
    )
    if request.method == "POST" and form.is_valid() and skills.is_valid():
        with transaction.atomic():
            user_update(by=request.user, user_id=target.pk, **form.cleaned_data)
            agent_skills_set(by=request.user, target=target, levels=skills.levels())
        messages.success(request, _("User “%(name)s” saved.") % {"name": target.username})
        return redirect("user_list")
    return render(
        request, "portal/users/form.html", {"form": form, "target": target, "skills": skills}
    )


def _stored_roles(target: User) -> set[str]:
    # Not roles_of(): that is empty for inactive users, and the form shows what they keep.
    return set(target.groups.filter(name__in=ROLES).values_list("name", flat=True))
