from django.contrib.auth.models import Group


def test_it_creates_the_four_roles(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "admin",
        "maker",
        "analyst",
        "agent",
    }
