from functools import lru_cache
from typing import Any

from django.db.models import Exists, Q, Subquery
from django.http import HttpRequest
from django.urls import get_resolver, reverse
from django.utils.translation import gettext_lazy as _

from handoff.models import AuditEntry, ConfigVersion
from handoff.roles import ADMIN, AGENT, ANALYST, MAKER, roles_of

# (section, [(url name, label)]): an item shows when the user holds one of the roles its view
# allows, so the navigation can never offer a page that answers 403.
NAVIGATION = [
    (
        _("Configuration"),
        [
            ("config_overview", _("Overview")),
            ("channel_list", _("Channels")),
            ("queue_list", _("Queues")),
            ("bot_list", _("Bots and keys")),
            ("user_list", _("Users and roles")),
            ("skill_list", _("Skills")),
            ("failure_list", _("Failed deliveries")),
        ],
    ),
    (
        _("Authoring"),
        [
            ("maker_overview", _("Overview")),
            ("topic_list", _("Topics")),
            ("context_field_list", _("Context fields")),
            ("rule_list", _("Escalation rules")),
            ("test_bot", _("Test your bot")),
        ],
    ),
    (
        _("Publishing"),
        [
            ("config_publish", _("Publish")),
            ("version_list", _("Versions")),
            ("simulator", _("Simulator")),
            ("audit_log", _("Audit log")),
            ("config_import", _("Import")),
            ("config_export", _("Export")),
        ],
    ),
    (_("Analytics"), [("analytics_index", _("Dashboards"))]),
    (
        _("Agent"),
        [("agent_workspace", _("Workspace")), ("supervisor_board", _("Supervisor board"))],
    ),
]


@lru_cache(maxsize=1)
def _allowed_roles() -> dict[str, tuple[str, ...]]:
    """URL name -> roles its view allows, read once from the URL patterns."""
    found = {}
    for name in {n for _section, items in NAVIGATION for n, _label in items}:
        match = get_resolver().resolve(reverse(name))
        found[name] = tuple(getattr(match.func, "allowed_roles", ()))
    return found


ROLE_LABELS = {
    ADMIN: _("Admin"),
    MAKER: _("Maker"),
    ANALYST: _("Analyst"),
    AGENT: _("Agent"),
}


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"roles": set(), "role_list": [], "nav": []}
    roles = roles_of(user)
    allowed = _allowed_roles()
    nav: list[dict[str, Any]] = []
    for section, items in NAVIGATION:
        links = [
            {"url": reverse(name), "label": label, "name": name}
            for name, label in items
            if roles & set(allowed[name])
        ]
        if links:
            nav.append({"label": section, "links": links})
    # The active link is the longest URL that prefixes the current path.
    best = max(
        (link for s in nav for link in s["links"] if request.path.startswith(link["url"])),
        key=lambda link: len(link["url"]),
        default=None,
    )
    for s in nav:
        for link in s["links"]:
            link["active"] = link is best
    return {
        "roles": roles,
        # Shown in the top bar, so in the user's language.
        "role_list": [ROLE_LABELS[role] for role in sorted(roles)],
        "nav": nav,
        "is_admin": ADMIN in roles,
        # Only those who can publish are told; one query (see _unpublished_changes).
        "unpublished_changes": bool(roles & {ADMIN, MAKER}) and _unpublished_changes(),
    }


# Audit entries that never change the config document: they do not make the draft differ.
# A rotated webhook secret does: it is sent from the next publish on (docs/delivery.md).
NOT_DRAFT_ACTIONS = ("publish", "rollback", "enable_webhook")
NOT_DRAFT_OBJECTS = ("api_key", "user", "handoff")


def _unpublished_changes() -> bool:
    """A cheap marker: a change in the audit log after the latest version was published.

    The exact answer (export_document() compared with the version) costs a query per table;
    the publish page shows that one. This may say "changed" after an edit that was undone.
    """
    latest = ConfigVersion.objects.order_by("-number").values("created_at")[:1]
    changes = AuditEntry.objects.exclude(action__in=NOT_DRAFT_ACTIONS).exclude(
        object_type__in=NOT_DRAFT_OBJECTS
    )
    return changes.filter(
        Q(at__gt=Subquery(latest)) | ~Exists(ConfigVersion.objects.all())
    ).exists()
