"""Every page of the portal. Each view is wrapped by portal.roles.role_required, which records
`allowed_roles`; tests/portal/test_permissions.py walks every URL outside /api/ and fails on a
view without it (only the names in PUBLIC may be reached without logging in). The analysts'
pages live in portal/analytics_urls.py."""

from django.urls import path

from portal.views import (
    account,
    admin_bots,
    admin_channels,
    admin_failures,
    admin_queues,
    admin_skills,
    admin_users,
    agent,
    auth,
    home,
    live,
    maker_fields,
    maker_rules,
    maker_topics,
    simulator,
    supervisor,
    test_bot,
    transfer,
    versions,
    webchat,
)

# The demo web chat is for anonymous visitors (CSRF-protected, rate-limited per address).
PUBLIC = {
    "health",
    "login",
    "logout",
    "webchat",
    "webchat_send",
    "webchat_restart",
    "webchat_status",
    "webchat_live",
}

urlpatterns = [
    path("login/", auth.login, name="login"),
    path("logout/", auth.logout, name="logout"),
    path("webchat/", webchat.webchat, name="webchat"),
    path("webchat/send/", webchat.webchat_send, name="webchat_send"),
    path("webchat/restart/", webchat.webchat_restart, name="webchat_restart"),
    path("webchat/status/", webchat.webchat_status, name="webchat_status"),
    path("webchat/live/<uuid:conversation_id>/", live.webchat_live, name="webchat_live"),
    path("", home.home, name="home"),
    path("account/", account.account_settings, name="account_settings"),
    # The agent workspace and the supervisor board.
    path("agent/", agent.workspace, name="agent_workspace"),
    # Server-sent events for the workspace and the board (portal/views/live.py).
    path("agent/live/", live.agent_live, name="agent_live"),
    path("agent/presence/", agent.presence_set, name="agent_presence"),
    path("agent/take-next/", agent.take_next, name="agent_take_next"),
    path("agent/handoffs/<uuid:pk>/", agent.handoff_detail, name="agent_handoff"),
    path(
        "agent/handoffs/<uuid:pk>/accept/",
        agent.handoff_accept_view,
        name="agent_handoff_accept",
    ),
    path(
        "agent/handoffs/<uuid:pk>/decline/",
        agent.handoff_decline_view,
        name="agent_handoff_decline",
    ),
    path(
        "agent/handoffs/<uuid:pk>/resolve/",
        agent.handoff_resolve_view,
        name="agent_handoff_resolve",
    ),
    path(
        "agent/handoffs/<uuid:pk>/transfer/",
        agent.handoff_transfer_view,
        name="agent_handoff_transfer",
    ),
    path("supervisor/", supervisor.board, name="supervisor_board"),
    path("supervisor/live/", live.board_live, name="supervisor_live"),
    # Admin configuration (makers and analysts read channels and queues).
    path("config/", home.config_overview, name="config_overview"),
    path("config/channels/", admin_channels.channel_list, name="channel_list"),
    path("config/channels/new/", admin_channels.channel_new, name="channel_new"),
    path("config/channels/<slug:key>/", admin_channels.channel_edit, name="channel_edit"),
    path(
        "config/channels/<slug:key>/toggle/", admin_channels.channel_toggle, name="channel_toggle"
    ),
    path(
        "config/channels/<slug:key>/delete/", admin_channels.channel_remove, name="channel_delete"
    ),
    path("config/queues/", admin_queues.queue_list, name="queue_list"),
    path("config/queues/new/", admin_queues.queue_new, name="queue_new"),
    path("config/queues/<slug:key>/", admin_queues.queue_detail, name="queue_detail"),
    path("config/queues/<slug:key>/edit/", admin_queues.queue_edit, name="queue_edit"),
    path(
        "config/queues/<slug:key>/rotate-secret/",
        admin_queues.queue_rotate_secret,
        name="queue_rotate_secret",
    ),
    path("config/queues/<slug:key>/delete/", admin_queues.queue_remove, name="queue_delete"),
    path("config/bots/", admin_bots.bot_list, name="bot_list"),
    path("config/bots/new/", admin_bots.bot_new, name="bot_new"),
    path("config/bots/<slug:key>/", admin_bots.bot_detail, name="bot_detail"),
    path("config/bots/<slug:key>/edit/", admin_bots.bot_edit, name="bot_edit"),
    path("config/bots/<slug:key>/delete/", admin_bots.bot_remove, name="bot_delete"),
    path("config/bots/<slug:key>/keys/new/", admin_bots.api_key_new, name="api_key_new"),
    path(
        "config/bots/<slug:key>/keys/<int:pk>/revoke/",
        admin_bots.api_key_revoke_view,
        name="api_key_revoke",
    ),
    path("config/users/", admin_users.user_list, name="user_list"),
    path("config/users/new/", admin_users.user_new, name="user_new"),
    path("config/users/<int:pk>/", admin_users.user_edit, name="user_edit"),
    path("config/skills/", admin_skills.skill_list, name="skill_list"),
    path("config/skills/new/", admin_skills.skill_new, name="skill_new"),
    path("config/skills/<int:pk>/", admin_skills.skill_edit, name="skill_edit"),
    path("config/skills/<int:pk>/delete/", admin_skills.skill_remove, name="skill_delete"),
    path("config/failures/", admin_failures.failure_list, name="failure_list"),
    path("config/failures/<uuid:pk>/retry/", admin_failures.failure_retry, name="failure_retry"),
    path(
        "config/failures/webhooks/<slug:key>/enable/",
        admin_failures.queue_enable_webhook_view,
        name="queue_enable_webhook",
    ),
    # What makers author (analysts read these pages; every write needs maker or admin).
    path("authoring/", home.maker_overview, name="maker_overview"),
    path("authoring/topics/", maker_topics.topic_list, name="topic_list"),
    path("authoring/topics/new/", maker_topics.topic_new, name="topic_new"),
    path("authoring/topics/<slug:key>/", maker_topics.topic_detail, name="topic_detail"),
    path("authoring/topics/<slug:key>/delete/", maker_topics.topic_remove, name="topic_delete"),
    path(
        "authoring/topics/<slug:key>/nodes/new/",
        maker_topics.topic_node_new,
        name="topic_node_new",
    ),
    path(
        "authoring/topics/<slug:key>/nodes/<int:pk>/",
        maker_topics.topic_node_edit,
        name="topic_node_edit",
    ),
    path(
        "authoring/topics/<slug:key>/nodes/<int:pk>/move/",
        maker_topics.topic_node_move_view,
        name="topic_node_move",
    ),
    path(
        "authoring/topics/<slug:key>/nodes/<int:pk>/delete/",
        maker_topics.topic_node_remove,
        name="topic_node_delete",
    ),
    path("authoring/context-fields/", maker_fields.context_field_list, name="context_field_list"),
    path("authoring/context-fields/new/", maker_fields.context_field_new, name="context_field_new"),
    path(
        "authoring/context-fields/preview/",
        maker_fields.context_field_preview,
        name="context_field_preview",
    ),
    path(
        "authoring/context-fields/<int:pk>/",
        maker_fields.context_field_detail,
        name="context_field_detail",
    ),
    path(
        "authoring/context-fields/<int:pk>/move/",
        maker_fields.context_field_move_view,
        name="context_field_move",
    ),
    path(
        "authoring/context-fields/<int:pk>/delete/",
        maker_fields.context_field_remove,
        name="context_field_delete",
    ),
    path("authoring/rules/", maker_rules.rule_list, name="rule_list"),
    path("authoring/rules/new/", maker_rules.rule_new, name="rule_new"),
    path("authoring/rules/<int:pk>/", maker_rules.rule_detail, name="rule_detail"),
    path("authoring/rules/<int:pk>/toggle/", maker_rules.rule_toggle, name="rule_toggle"),
    path("authoring/rules/<int:pk>/move/", maker_rules.rule_move_view, name="rule_move"),
    path("authoring/rules/<int:pk>/delete/", maker_rules.rule_remove, name="rule_delete"),
    # "Test your bot": chat with the draft or published topics (docs/conversations.md).
    path("authoring/test-bot/", test_bot.test_bot, name="test_bot"),
    path("authoring/test-bot/start/", test_bot.test_bot_start, name="test_bot_start"),
    path("authoring/test-bot/send/", test_bot.test_bot_send, name="test_bot_send"),
    # Draft and publish, versions, audit log, simulator, import and export.
    path("config/publish/", versions.config_publish_view, name="config_publish"),
    path("config/versions/", versions.version_list, name="version_list"),
    path("config/versions/diff/", versions.version_diff, name="version_diff"),
    path("config/versions/rollback/", versions.version_rollback, name="version_rollback"),
    path("config/audit/", versions.audit_log, name="audit_log"),
    path("config/import/", transfer.config_import, name="config_import"),
    path("config/export/", transfer.config_export, name="config_export"),
    path(
        "config/export/download/",
        transfer.config_export_download,
        name="config_export_download",
    ),
    path("simulator/", simulator.simulator, name="simulator"),
    path(
        "simulator/variable-row/",
        simulator.simulator_variable_row,
        name="simulator_variable_row",
    ),
]
