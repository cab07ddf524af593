import pytest
from django.contrib.auth.models import Group


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_roles_after_a_flush():
    # A transactional test flushes the database afterwards; the next one still has the roles.
    assert Group.objects.filter(name="agent").exists()


@pytest.mark.django_db(transaction=True)
def test_the_roles_are_back_for_the_next_transactional_test():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "admin",
        "maker",
        "analyst",
        "agent",
    }


def test_it_gives_makers_authoring_permissions_only(db):
    maker = Group.objects.get(name="maker")
    codenames = set(maker.permissions.values_list("codename", flat=True))
    assert "change_escalationrule" in codenames
    assert "change_queue" not in codenames
    assert "view_queue" in codenames
