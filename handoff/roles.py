"""The four roles (docs/portal-admin.md), held as Django groups of the same names.

A user's roles are their groups among ROLES; a superuser is an admin too. The groups carry
no Django permissions that matter: what a role may do is decided by the portal's views
(portal/roles.py) and the API's bot keys, never by `has_perm`.
"""

from typing import Any

from django.contrib.auth.models import Group

ADMIN = "admin"
MAKER = "maker"
ANALYST = "analyst"
AGENT = "agent"
ROLES = (ADMIN, MAKER, ANALYST, AGENT)

# Set on the user object for the rest of the request; roles_forget() drops it.
_CACHE = "_role_cache"


def roles_of(user: Any) -> set[str]:
    if not user.is_authenticated or not user.is_active:
        return set()
    cached = getattr(user, _CACHE, None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        if user.is_superuser:
            cached.add(ADMIN)
        setattr(user, _CACHE, cached)
    return cached


def has_role(user: Any, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


def roles_forget(user: Any) -> None:
    """After a change of the user's groups: the next roles_of() reads them again."""
    user.__dict__.pop(_CACHE, None)


def ensure_roles(**kwargs: Any) -> None:
    """Create the role groups if they are missing.

    Runs after every migrate and after every database flush (post_migrate, portal/apps.py), so
    that tests which flush the database between them still find the roles. The data migration
    handoff/migrations/0002_roles.py made them first, with the permissions of that time.
    """
    for role in ROLES:
        Group.objects.get_or_create(name=role)
