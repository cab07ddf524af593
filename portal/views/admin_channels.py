"""Admin: channels. Makers and analysts read the list."""

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from handoff.models import Channel
from handoff.services.portal_config import channel_create, channel_delete, channel_update
from portal.forms import ChannelForm
from portal.roles import ADMIN, CONFIG_READERS, role_required
from portal.views._common import AuthedRequest, deleted_unless_used, saved_unless_used


@role_required(*CONFIG_READERS)
@require_GET
def channel_list(request: AuthedRequest) -> HttpResponse:
    channels = Channel.objects.annotate(bot_count=Count("bots")).order_by("key")
    return render(request, "portal/channels/list.html", {"channels": channels})


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def channel_new(request: AuthedRequest) -> HttpResponse:
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        channel = channel_create(user=request.user, **form.cleaned_data)
        messages.success(request, _("Channel “%(name)s” created.") % {"name": channel.name})
        return redirect("channel_list")
    return render(request, "portal/channels/form.html", {"form": form, "channel": None})


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def channel_edit(request: AuthedRequest, key: str) -> HttpResponse:
    channel = get_object_or_404(Channel, key=key)
    form = ChannelForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        saved = saved_unless_used(
            form, lambda: channel_update(user=request.user, channel_id=channel.pk, changes=changes)
        )
        if saved is not None:
            messages.success(request, _("Channel “%(name)s” saved.") % {"name": saved.name})
            return redirect("channel_list")
    return render(request, "portal/channels/form.html", {"form": form, "channel": channel})


@role_required(ADMIN)
@require_POST
def channel_toggle(request: AuthedRequest, key: str) -> HttpResponse:
    channel = get_object_or_404(Channel, key=key)
    channel = channel_update(
        user=request.user, channel_id=channel.pk, changes={"enabled": not channel.enabled}
    )
    if request.htmx:
        channel.bot_count = channel.bots.count()  # type: ignore[attr-defined]
        return render(request, "portal/channels/list.html#row", {"channel": channel})
    return redirect("channel_list")


@role_required(ADMIN)
@require_POST
def channel_remove(request: AuthedRequest, key: str) -> HttpResponse:
    channel = get_object_or_404(Channel, key=key)
    return deleted_unless_used(
        request,
        lambda: channel_delete(user=request.user, channel_id=channel.pk),
        what={"name": channel.name},
        deleted=_("Channel “%(name)s” deleted."),
        refused=_("“%(name)s” was not deleted: it is used by %(refs)s."),
        done=redirect("channel_list"),
        back=redirect("channel_edit", key=channel.key),
    )
