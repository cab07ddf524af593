"""Admin: bots, their allowed channels and API keys. Analysts read them.

A new API key is shown once: in the fragment that answers the htmx request, or (without
htmx) on the page the form redirects to. Only its hash is stored.
"""

from django.contrib import messages
from django.db.models import Count, Max, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from handoff.models import ApiKey, Bot
from handoff.services.portal_config import (
    api_key_create,
    api_key_revoke,
    bot_create,
    bot_delete,
    bot_update,
)
from portal.forms import ApiKeyForm, BotForm
from portal.roles import ADMIN, ANALYST, role_required
from portal.views._common import AuthedRequest, deleted_unless_used, pop_secret, stash_secret

BOT_READERS = (ADMIN, ANALYST)


@role_required(*BOT_READERS)
@require_GET
def bot_list(request: AuthedRequest) -> HttpResponse:
    bots = (
        Bot.objects.prefetch_related("channels")
        .annotate(
            active_keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True)),
            last_used=Max("api_keys__last_used_at"),
        )
        .order_by("key")
    )
    return render(request, "portal/bots/list.html", {"bots": bots})


def _keys_context(request: AuthedRequest, bot: Bot, **extra: object) -> dict:
    return {
        "bot": bot,
        "api_keys": bot.api_keys.select_related("created_by").order_by("-created_at"),
        "key_form": ApiKeyForm(),
        **extra,
    }


@role_required(*BOT_READERS)
@require_GET
@never_cache
def bot_detail(request: AuthedRequest, key: str) -> HttpResponse:
    bot = get_object_or_404(Bot, key=key)
    context = _keys_context(request, bot, new_key=pop_secret(request, f"bot-key:{bot.pk}"))
    context["channels"] = bot.channels.order_by("key")
    return render(request, "portal/bots/detail.html", context)


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def bot_new(request: AuthedRequest) -> HttpResponse:
    form = BotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        bot = bot_create(user=request.user, **_bot_values(form))
        messages.success(request, _("Bot “%(name)s” created.") % {"name": bot.name})
        return redirect("bot_detail", key=bot.key)
    return render(request, "portal/bots/form.html", {"form": form, "bot": None})


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def bot_edit(request: AuthedRequest, key: str) -> HttpResponse:
    bot = get_object_or_404(Bot, key=key)
    form = BotForm(request.POST or None, instance=bot)
    if request.method == "POST" and form.is_valid():
        saved = bot_update(user=request.user, bot_id=bot.pk, **_bot_values(form))
        messages.success(request, _("Bot “%(name)s” saved.") % {"name": saved.name})
        return redirect("bot_detail", key=saved.key)
    return render(request, "portal/bots/form.html", {"form": form, "bot": bot})


def _bot_values(form: BotForm) -> dict:
    data = form.cleaned_data
    return {
        "key": data["key"],
        "name": data["name"],
        "channels": list(data["channels"]),
        "status_callback_url": data["status_callback_url"],
    }


@role_required(ADMIN)
@require_POST
def bot_remove(request: AuthedRequest, key: str) -> HttpResponse:
    bot = get_object_or_404(Bot, key=key)
    return deleted_unless_used(
        request,
        lambda: bot_delete(user=request.user, bot_id=bot.pk),
        what={"name": bot.name},
        deleted=_("Bot “%(name)s” deleted."),
        refused=_("“%(name)s” was not deleted: %(refs)s."),
        done=redirect("bot_list"),
        back=redirect("bot_detail", key=bot.key),
    )


@role_required(ADMIN)
@require_POST
def api_key_new(request: AuthedRequest, key: str) -> HttpResponse:
    bot = get_object_or_404(Bot, key=key)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        context = _keys_context(request, bot, channels=bot.channels.order_by("key"))
        context["key_form"] = form
        template = "portal/bots/detail.html" + ("#keys" if request.htmx else "")
        return render(request, template, context)
    _api_key, plain = api_key_create(user=request.user, bot=bot, name=form.cleaned_data["name"])
    if request.htmx:
        return render(
            request, "portal/bots/detail.html#keys", _keys_context(request, bot, new_key=plain)
        )
    stash_secret(request, f"bot-key:{bot.pk}", plain)
    return redirect("bot_detail", key=bot.key)


@role_required(ADMIN)
@require_POST
def api_key_revoke_view(request: AuthedRequest, key: str, pk: int) -> HttpResponse:
    api_key = get_object_or_404(ApiKey.objects.select_related("bot"), pk=pk, bot__key=key)
    api_key_revoke(user=request.user, api_key=api_key)
    if request.htmx:
        return render(request, "portal/bots/detail.html#keys", _keys_context(request, api_key.bot))
    messages.success(request, _("Key %(prefix)s… revoked.") % {"prefix": api_key.prefix})
    return redirect("bot_detail", key=key)
