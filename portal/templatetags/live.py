"""{% live_url 'agent_live' %}: a live stream's URL that resumes from this page's render.

The page shows the state as of now; its stream, opened a moment later, starts from the newest
event id read here (one query), so an event committed in between is replayed, not missed.
"""

from typing import Any

from django import template
from django.urls import reverse

from handoff.selectors.live import live_latest_id

register = template.Library()


@register.simple_tag
def live_url(name: str, *args: Any) -> str:
    return f"{reverse(name, args=args)}?last_event_id={live_latest_id()}"
