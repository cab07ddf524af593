from typing import Any

from django.urls import reverse

from handoff.models import AuditEntry, User
from portal.roles import roles_of
from tests.portal.conftest import field_error


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
        reverse("user_edit", args=[agent.pk]), {"roles": ["maker"], "is_active": "on"}
    )
    assert response.status_code == 302
    assert roles_of(User.objects.get(pk=agent.pk)) == {"maker"}
    assert User.objects.get(pk=agent.pk).check_password("pw-ben-agent")  # kept


def test_it_stops_an_admin_locking_themselves_out(client: Any, admin_user: User) -> None:
    client.force_login(admin_user)
    response = client.post(reverse("user_edit", args=[admin_user.pk]), {"roles": ["maker"]})
    assert "own admin role" in field_error(response, "id_roles")
    assert "deactivate yourself" in field_error(response, "id_is_active")
    assert roles_of(User.objects.get(pk=admin_user.pk)) == {"admin"}


def test_it_shows_stored_roles_of_an_inactive_user(client: Any, admin_user: User) -> None:
    from tests.conftest import make_user

    gone = make_user("gone", "agent", is_active=False)
    client.force_login(admin_user)
    form = client.get(reverse("user_edit", args=[gone.pk])).context["form"]
    assert form.initial["roles"] == ["agent"]
