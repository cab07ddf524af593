from typing import Any

from django.urls import reverse

from handoff.models import AuditEntry, User
from portal.roles import roles_of
from tests.portal.conftest import field_error

NO_SKILLS = {"skills-TOTAL_FORMS": "0", "skills-INITIAL_FORMS": "0"}


def test_it_creates_a_user_with_roles(client: Any, admin_user: User) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("user_new"),
        {
            "username": "carol",
            "first_name": "Carol",
            "password": "a-long-unusual-passphrase",
            "roles": ["agent", "analyst"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    carol = User.objects.get(username="carol")
    assert roles_of(carol) == {"agent", "analyst"}
    assert carol.check_password("a-long-unusual-passphrase")
    entry = AuditEntry.objects.get(object_type="user", object_key="carol")
    assert "passphrase" not in str(entry.detail)


def test_it_shows_user_errors_at_the_field(client: Any, admin_user: User) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("user_new"),
        {"username": "Alice-Admin", "email": "nope", "password": "123", "roles": ["boss"]},
    )
    assert response.status_code == 200
    assert "already exists" in field_error(response, "id_username")
    assert "email" in field_error(response, "id_email")
    assert "too short" in field_error(response, "id_password")
    assert "valid choice" in field_error(response, "id_roles")


def test_it_changes_roles(client: Any, admin_user: User, agent: User) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("user_edit", args=[agent.pk]), {"roles": ["maker"], "is_active": "on", **NO_SKILLS}
    )
    assert response.status_code == 302
    assert roles_of(User.objects.get(pk=agent.pk)) == {"maker"}
    assert User.objects.get(pk=agent.pk).check_password("pw-ben-agent")  # kept


def test_it_stops_an_admin_locking_themselves_out(client: Any, admin_user: User) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("user_edit", args=[admin_user.pk]), {"roles": ["maker"], **NO_SKILLS}
    )
    assert "own admin role" in field_error(response, "id_roles")
    assert "deactivate yourself" in field_error(response, "id_is_active")
    assert roles_of(User.objects.get(pk=admin_user.pk)) == {"admin"}


def test_it_shows_stored_roles_of_an_inactive_user(client: Any, admin_user: User) -> None:
    from tests.conftest import make_user

    gone = make_user("gone", "agent", is_active=False)
    client.force_login(admin_user)
    form = client.get(reverse("user_edit", args=[gone.pk])).context["form"]
    assert form.initial["roles"] == ["agent"]


def test_it_sets_an_agents_skills(client: Any, admin_user: User, agent: User) -> None:
    from handoff.models import Skill

    ja = Skill.objects.create(key="language:ja", name="Japanese")
    billing = Skill.objects.create(key="product:billing", name="Billing")
    client.force_login(admin_user)
    url = reverse("user_edit", args=[agent.pk])
    data = {
        "roles": ["agent"],
        "is_active": "on",
        "skills-TOTAL_FORMS": "3",
        "skills-INITIAL_FORMS": "0",
        "skills-0-skill": str(ja.pk),
        "skills-0-proficiency": "4",
        "skills-1-skill": str(ja.pk),
        "skills-1-proficiency": "6",
        "skills-2-skill": "",
        "skills-2-proficiency": "",
    }
    response = client.post(url, data)
    assert "already listed" in field_error(response, "id_skills-1-skill")
    assert "less than or equal to 5" in field_error(response, "id_skills-1-proficiency")
    assert not agent.skills.exists()
    data.update({"skills-1-skill": str(billing.pk), "skills-1-proficiency": "2"})
    assert client.post(url, data).status_code == 302
    held = dict(agent.skills.values_list("skill__key", "proficiency"))
    assert held == {"language:ja": 4, "product:billing": 2}
    assert AuditEntry.objects.filter(action="update_skills", object_key=agent.username).exists()
    form = client.get(url).context["skills"]
    assert sorted(i["proficiency"] for i in form.initial) == [2, 4]


def test_it_manages_skills(client: Any, admin_user: User) -> None:
    from handoff.models import EscalationRule, Queue, Skill

    client.force_login(admin_user)
    response = client.post(reverse("skill_new"), {"key": "Language JA", "name": ""})
    assert "Lower-case" in field_error(response, "id_key")
    assert "required" in field_error(response, "id_name")
    client.post(reverse("skill_new"), {"key": "language:ja", "name": "Japanese"})
    skill = Skill.objects.get(key="language:ja")
    queue = Queue.objects.create(key="ja", name="Japanese desk")
    EscalationRule.objects.create(
        name="Japanese speakers", order=1, queue=queue, require_skills={"language:ja": 3}
    )
    response = client.post(reverse("skill_edit", args=[skill.pk]), {"key": "ja", "name": "J"})
    assert "Japanese speakers" in field_error(response, "id_key")
    response = client.post(reverse("skill_delete", args=[skill.pk]), follow=True)
    assert "Japanese speakers" in response.content.decode()
    assert Skill.objects.filter(pk=skill.pk).exists()
