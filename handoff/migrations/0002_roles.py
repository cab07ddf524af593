from django.contrib.auth.management import create_permissions
from django.db import migrations

CONFIG = ["channel", "queue", "queuemembership", "bot", "skill", "agentskill"]
AUTHORED = ["topic", "topicnode", "contextfield", "escalationrule"]
READ_ALL = CONFIG + AUTHORED + ["configversion", "auditentry", "handoff", "handoffevent"]


def perms(*pairs):
    return [f"{action}_{model}" for action, models in pairs for model in models]


ROLE_PERMISSIONS = {
    "admin": None,  # every permission of the handoff app
    "maker": perms(
        ("view", READ_ALL),
        ("add", AUTHORED + ["configversion"]),
        ("change", AUTHORED),
        ("delete", AUTHORED),
    ),
    "analyst": perms(("view", READ_ALL)),
    "agent": perms(("view", ["handoff", "handoffevent"]), ("change", ["handoff"])),
}


def create_roles(apps, schema_editor):
    # Permissions are normally made after migrate; make them now so groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    handoff_perms = Permission.objects.filter(content_type__app_label="handoff")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = handoff_perms if codenames is None else handoff_perms.filter(codename__in=codenames)
        group.permissions.set(wanted)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, remove_roles)]
