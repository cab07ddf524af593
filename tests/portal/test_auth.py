from typing import Any

from django.urls import reverse

from handoff.models import User


def test_it_shows_the_login_page(client: Any, db: Any) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b"htmx" in response.content  # served from django-htmx's static files, no CDN
    assert b"https://" not in response.content


def test_it_logs_in_and_lands_on_the_role_page(client: Any, admin_user: User) -> None:
    response = client.post(
        reverse("login"), {"username": "alice-admin", "password": "pw-alice-admin"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("config_overview")
    assert response.status_code == 200


def test_it_refuses_a_wrong_password_at_the_form(client: Any, admin_user: User) -> None:
    response = client.post(reverse("login"), {"username": "alice-admin", "password": "nope"})
    assert response.status_code == 200
    assert b"errorbox" in response.content
    assert "_auth_user_id" not in client.session


def test_it_returns_to_the_page_asked_for(client: Any, admin_user: User) -> None:
    target = reverse("queue_list")
    response = client.get(target)
    assert response.status_code == 302
    response = client.post(
        response["Location"], {"username": "alice-admin", "password": "pw-alice-admin"}
    )
    assert response["Location"] == target


def test_it_logs_out_by_post_only(client: Any, admin_user: User) -> None:
    client.force_login(admin_user)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(reverse("config_overview")).status_code == 302


def test_it_sets_the_csrf_header_once_on_body(client: Any, admin_user: User) -> None:
    client.force_login(admin_user)
    html = client.get(reverse("config_overview")).content.decode()
    assert html.count("hx-headers") == 1
    assert '<body hx-headers=\'{"X-CSRFToken": "' in html
