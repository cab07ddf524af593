from typing import Any

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from handoff.models import User
from tests.conftest import make_user


@pytest.fixture(autouse=True)
def empty_cache() -> Any:
    cache.clear()
    # A fast hasher: these tests log in dozens of times (the throttle, not hashing, is tested).
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield
    cache.clear()


def log_in(client: Any, username: str, password: str, address: str = "10.0.0.1") -> Any:
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_it_refuses_a_username_after_ten_failures(client: Any, db: Any) -> None:
    make_user("victim")
    for _ in range(10):
        response = log_in(client, "victim", "wrong")
        assert response.status_code == 200
        assert "Too many failed attempts" not in response.content.decode()
    # Even the right password is refused now: the guesser learns nothing more.
    response = log_in(client, "victim", "pw-victim")
    assert response.status_code == 200
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_counts_per_address_and_username(client: Any, db: Any) -> None:
    make_user("victim")
    make_user("other")
    for _ in range(10):
        log_in(client, "VICTIM", "wrong")
    assert "Too many" in log_in(client, "victim", "wrong").content.decode()
    # Another address, or another user from the same address, is not blocked.
    assert log_in(client, "victim", "pw-victim", address="10.0.0.2").status_code == 302
    client.logout()
    assert log_in(client, "other", "pw-other").status_code == 302


def test_it_forgets_failures_after_a_success(client: Any, db: Any) -> None:
    make_user("victim")
    for _ in range(9):
        log_in(client, "victim", "wrong")
    assert log_in(client, "victim", "pw-victim").status_code == 302
    client.logout()
    for _ in range(9):
        log_in(client, "victim", "wrong")
    assert log_in(client, "victim", "pw-victim").status_code == 302


def test_it_validates_new_passwords(client: Any, admin_user: User) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("user_new"), {"username": "newbie", "password": "12345678", "is_active": "on"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "too common" in html or "entirely numeric" in html
    assert not User.objects.filter(username="newbie").exists()
    response = client.post(
        reverse("user_new"),
        {"username": "newbie", "password": "a-long correct horse 42", "is_active": "on"},
    )
    assert response.status_code == 302
    assert User.objects.get(username="newbie").check_password("a-long correct horse 42")


def test_it_counts_the_client_behind_a_trusted_proxy(client: Any, db: Any) -> None:
    make_user("victim")

    def via_proxy(forwarded: str, password: str = "wrong") -> Any:
        return client.post(
            reverse("login"),
            {"username": "victim", "password": password},
            REMOTE_ADDR="10.0.0.254",
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    with override_settings(TRUSTED_PROXY_HOPS=1):
        for n in range(10):
            # A forged first entry changes nothing: the proxy's appended address counts.
            via_proxy(f"1.2.3.{n}, 198.51.100.7")
        assert "Too many" in via_proxy("198.51.100.7").content.decode()
        # Another client behind the same proxy is not locked out.
        assert via_proxy("198.51.100.8", "pw-victim").status_code == 302
