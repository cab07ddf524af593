"""Makers: topics, their trigger phrases and their nodes, edited in place.

Analysts read the same pages (the forms render disabled). Every node action answers an htmx
request with the node list fragment, and a plain request with a redirect to the topic.
"""

from typing import Any

from django.contrib import messages
from django.db.models import Count, Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from handoff.models import Topic, TopicNode
from handoff.services.authoring import (
    InUseError,
    topic_create,
    topic_delete,
    topic_node_add,
    topic_node_delete,
    topic_node_move,
    topic_node_update,
    topic_update,
)
from portal.maker_forms import REASONS, NodeForm, TopicForm, known_variables
from portal.roles import AUTHORING, CONFIG_READERS, has_role, role_required, role_required_to_write
from portal.views._common import AuthedRequest, deleted_unless_used, move_offset, saved_unless_used


def _in_use(name: str, error: InUseError) -> str:
    return _("“%(name)s” is used by: %(refs)s.") % {
        "name": name,
        "refs": "; ".join(error.references),
    }


@role_required(*CONFIG_READERS)
@require_GET
def topic_list(request: AuthedRequest) -> HttpResponse:
    topics = Topic.objects.annotate(node_count=Count("nodes")).order_by("-is_system", "key")
    can_author = has_role(request.user, *AUTHORING)
    return render(request, "portal/maker/topics.html", {"topics": topics, "can_author": can_author})


@role_required(*AUTHORING)
@require_http_methods(["GET", "POST"])
def topic_new(request: AuthedRequest) -> HttpResponse:
    form = TopicForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        topic = topic_create(user=request.user, **form.topic_values())
        messages.success(
            request, _("Topic “%(name)s” created: add its nodes.") % {"name": topic.name}
        )
        return redirect("topic_detail", key=topic.key)
    return render(request, "portal/maker/topic_new.html", {"form": form})


def _load_topic(key: str) -> Topic:
    nodes = Prefetch("nodes", queryset=TopicNode.objects.order_by("position", "id"))
    return get_object_or_404(Topic.objects.prefetch_related(nodes), key=key)


def _nodes_context(
    request: AuthedRequest,
    topic: Topic,
    *,
    bound: NodeForm | None = None,
    add_form: NodeForm | None = None,
    error: str = "",
) -> dict[str, Any]:
    """The node list: one form per node (the bound one when it has errors) and the add form."""
    nodes = list(topic.nodes.all())
    items = []
    for node in nodes:
        if bound is not None and bound.node is not None and bound.node.pk == node.pk:
            items.append((node, bound))
        else:
            items.append((node, NodeForm(topic=topic, node=node, prefix=f"node-{node.pk}")))
    if add_form is None:
        add_form = NodeForm(
            topic=topic, prefix="add", initial={"type": "message", "node_id": _next_id(nodes)}
        )
    last = nodes[-1] if nodes else None
    return {
        "topic": topic,
        "items": items,
        "add_form": add_form,
        "node_error": error,
        "can_edit": has_role(request.user, *AUTHORING),
        "variables": known_variables(),
        "reasons": REASONS,
        "ends": last is not None and last.type in ("transfer", "end"),
        "node_count": len(nodes),
    }


def _next_id(nodes: list[TopicNode]) -> str:
    taken = {n.node_id for n in nodes}
    number = len(nodes) + 1
    while f"step-{number}" in taken:
        number += 1
    return f"step-{number}"


@role_required_to_write(read=CONFIG_READERS, write=AUTHORING)
@require_http_methods(["GET", "POST"])
def topic_detail(request: AuthedRequest, key: str) -> HttpResponse:
    topic = _load_topic(key)
    form = TopicForm(request.POST or None, instance=topic)
    if request.method == "POST" and form.is_valid():
        saved = saved_unless_used(
            form, lambda: topic_update(user=request.user, topic_id=topic.pk, **form.topic_values())
        )
        if saved is not None:
            messages.success(request, _("Topic “%(name)s” saved.") % {"name": saved.name})
            return redirect("topic_detail", key=saved.key)
    context = {"form": form, **_nodes_context(request, topic)}
    return render(request, "portal/maker/topic_detail.html", context)


@role_required(*AUTHORING)
@require_POST
def topic_remove(request: AuthedRequest, key: str) -> HttpResponse:
    topic = get_object_or_404(Topic, key=key)
    return deleted_unless_used(
        request,
        lambda: topic_delete(user=request.user, topic_id=topic.pk),
        what={"name": topic.name},
        deleted=_("Topic “%(name)s” deleted."),
        refused=_("“%(name)s” was not deleted.") + " " + _("“%(name)s” is used by: %(refs)s."),
        done=redirect("topic_list"),
        back=redirect("topic_detail", key=topic.key),
    )


def _nodes_response(request: AuthedRequest, key: str, **extra: Any) -> HttpResponse:
    if not request.htmx:
        if extra.get("error"):
            messages.error(request, extra["error"])
        return redirect("topic_detail", key=key)
    topic = _load_topic(key)
    return render(
        request, "portal/maker/topic_detail.html#nodes", _nodes_context(request, topic, **extra)
    )


@role_required(*AUTHORING)
@require_POST
def topic_node_new(request: AuthedRequest, key: str) -> HttpResponse:
    topic = _load_topic(key)
    form = NodeForm(request.POST, topic=topic, prefix="add")
    if form.is_valid():
        topic_node_add(user=request.user, topic_id=topic.pk, values=form.node_values())
        return _nodes_response(request, key)
    if not request.htmx:
        # Without JavaScript the whole page shows the add form with its errors.
        context = {
            "form": TopicForm(instance=topic),
            **_nodes_context(request, topic, add_form=form),
        }
        return render(request, "portal/maker/topic_detail.html", context)
    return render(
        request,
        "portal/maker/topic_detail.html#nodes",
        _nodes_context(request, topic, add_form=form),
    )


@role_required(*AUTHORING)
@require_POST
def topic_node_edit(request: AuthedRequest, key: str, pk: int) -> HttpResponse:
    topic = _load_topic(key)
    node = get_object_or_404(TopicNode, topic=topic, pk=pk)
    form = NodeForm(request.POST, topic=topic, node=node, prefix=f"node-{node.pk}")
    if form.is_valid():
        try:
            topic_node_update(user=request.user, node_pk=node.pk, values=form.node_values())
        except InUseError as error:
            form.add_error(None, _in_use(node.node_id, error))
        else:
            return _nodes_response(request, key)
    topic = _load_topic(key)
    context = _nodes_context(request, topic, bound=form)
    if not request.htmx:
        return render(
            request,
            "portal/maker/topic_detail.html",
            {"form": TopicForm(instance=topic), **context},
        )
    return render(request, "portal/maker/topic_detail.html#nodes", context)


@role_required(*AUTHORING)
@require_POST
def topic_node_remove(request: AuthedRequest, key: str, pk: int) -> HttpResponse:
    node = get_object_or_404(TopicNode.objects.select_related("topic"), topic__key=key, pk=pk)
    try:
        topic_node_delete(user=request.user, node_pk=node.pk)
    except InUseError as error:
        text = _("Node “%(name)s” was not deleted.") % {"name": node.node_id}
        return _nodes_response(request, key, error=f"{text} {_in_use(node.node_id, error)}")
    return _nodes_response(request, key)


@role_required(*AUTHORING)
@require_POST
def topic_node_move_view(request: AuthedRequest, key: str, pk: int) -> HttpResponse:
    node = get_object_or_404(TopicNode.objects.select_related("topic"), topic__key=key, pk=pk)
    topic_node_move(user=request.user, node_pk=node.pk, offset=move_offset(request))
    return _nodes_response(request, key)
