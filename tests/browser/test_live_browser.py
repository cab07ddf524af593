"""The live channel in a real Chromium against uvicorn: an offer arrives with no polling, with
its alerts; a lost connection comes back with what happened meanwhile; the web chat hears the
agent side."""

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore

from handoff.models import Bot, Conversation, User
from handoff.services.assignment import agent_set_presence, handoff_accept, queue_fill
from portal.roles import ROLES
from portal.views import live as live_views
from tests.browser.conftest import log_in
from tests.handoff.delivery_helpers import make_agent, make_handoff, make_queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records what the page does with notifications and sounds, around the browser's own objects.
SPIES = """
(() => {
  window.notes = [];
  window.sounds = 0;
  const Real = window.Notification;
  if (Real) {
    function Spy(title, options) {
      window.notes.push({ title: title, body: (options || {}).body });
      return new Real(title, options);
    }
    Object.defineProperty(Spy, "permission", { get: () => Real.permission });
    Spy.requestPermission = () => Real.requestPermission();
    window.Notification = Spy;
  }
  HTMLMediaElement.prototype.play = function () {
    window.sounds += 1;
    return Promise.resolve();
  };
})();
"""


@pytest.fixture
def desk() -> dict[str, Any]:
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    queue = make_queue("billing", offer_timeout_seconds=120)
    ann = make_agent("ann", queue, capacity=2, presence="offline", first_name="Ann")
    ann.set_password("pw-ann")
    ann.save()
    ann.groups.add(Group.objects.get(name="agent"))
    return {"queue": queue, "ann": ann}


def open_workspace(browser: Any, base: str, *, script: str = SPIES) -> Any:
    context = browser.new_context(permissions=["notifications"], base_url=base)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.add_init_script(script)
    log_in(page, base, "ann", "pw-ann")
    page.goto(f"{base}/agent/")
    page.click("#presence-available")
    page.locator("#presence-available.current").wait_for()
    connected(page)
    return page


def connected(page: Any) -> None:
    page.locator('#live[data-live-connected="true"]').wait_for(state="attached")


def test_it_shows_an_offer_with_no_request_until_it_comes(
    asgi_server: Any, browser: Any, desk: dict[str, Any]
) -> None:
    page = open_workspace(browser, asgi_server.url)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
    # Longer than the old poll (1.5 s) and than the fallback poll: a timer would show here.
    page.wait_for_timeout(4000)
    assert requests == []

    handoff = make_handoff(desk["queue"], customer={"name": "Carla One"})
    queue_fill(queue_id=desk["queue"].pk)

    page.locator(f'#inbox .work.offer[data-handoff="{handoff.pk}"]').wait_for()
    # One reload of the inbox, asked for by the offer event (and the sound it plays).
    assert [r for r in requests if "/static/" not in r] == [f"GET {asgi_server.url}/agent/"]
    # The alerts follow once htmx has settled the new inbox.
    page.wait_for_function("() => document.title.startsWith('(1) ')")
    assert page.evaluate("window.notes") == [
        {"title": "New offer", "body": "New offer: Carla One, Billing."}
    ]
    assert page.evaluate("window.sounds") == 1
    announced = page.locator("#offer-announcer")
    assert announced.get_attribute("aria-live") == "assertive"
    page.wait_for_function(
        "() => document.getElementById('offer-announcer').textContent.includes('Carla One')"
    )
    page.context.close()


def test_it_keeps_quiet_where_the_agent_switched_alerts_off(
    asgi_server: Any, browser: Any, desk: dict[str, Any]
) -> None:
    User.objects.filter(pk=desk["ann"].pk).update(
        alert_title=False, alert_sound=False, alert_notification=False
    )
    page = open_workspace(browser, asgi_server.url)
    assert page.locator("#enable-notifications").is_hidden()

    handoff = make_handoff(desk["queue"])
    queue_fill(queue_id=desk["queue"].pk)

    page.locator(f'#inbox [data-handoff="{handoff.pk}"]').wait_for()
    assert not page.title().startswith("(")
    assert page.evaluate("window.notes") == [] and page.evaluate("window.sounds") == 0
    page.context.close()


# A browser that has not been asked yet, and says yes when asked.
NOT_ASKED_YET = """
(() => {
  let answer = "default";
  const Real = window.Notification;
  function Asking(title, options) { return new Real(title, options); }
  Object.defineProperty(Asking, "permission", { get: () => answer });
  Asking.requestPermission = () => { answer = "granted"; return Promise.resolve(answer); };
  window.Notification = Asking;
})();
"""


def test_it_asks_for_notifications_with_a_button(
    asgi_server: Any, browser: Any, desk: dict[str, Any]
) -> None:
    page = open_workspace(browser, asgi_server.url, script=NOT_ASKED_YET)
    button = page.locator("#enable-notifications")
    button.click()
    button.wait_for(state="hidden")
    assert page.evaluate("Notification.permission") == "granted"
    assert page.locator("#notifications-blocked").is_hidden()
    page.context.close()


def test_it_shows_what_happened_while_the_connection_was_lost(
    asgi_server: Any, browser: Any, desk: dict[str, Any], monkeypatch: Any
) -> None:
    resumed_from: list[int | None] = []
    read = live_views._last_event_id

    def seen_by_the_server(request: Any) -> int | None:
        resumed_from.append(read(request))
        return resumed_from[-1]

    monkeypatch.setattr(live_views, "_last_event_id", seen_by_the_server)
    page = open_workspace(browser, asgi_server.url)
    page.evaluate("window.noReload = true")
    first = make_handoff(desk["queue"], customer={"name": "Before Drop"})
    queue_fill(queue_id=desk["queue"].pk)
    page.locator(f'#inbox [data-handoff="{first.pk}"]').wait_for()

    # The network fails: the stream is cut and cannot come back for now.
    page.route("**/agent/live/**", lambda route: route.abort())
    asgi_server.drop_connections()
    page.locator("[data-live-state]").wait_for()  # "reconnecting…"

    second = make_handoff(desk["queue"], customer={"name": "During Drop"})
    queue_fill(queue_id=desk["queue"].pk)
    dropped_at = len(resumed_from)
    page.unroute("**/agent/live/**")

    page.locator(f'#inbox [data-handoff="{second.pk}"]').wait_for(timeout=30_000)
    connected(page)
    page.locator("[data-live-state]").wait_for(state="hidden")
    assert page.evaluate("window.noReload")  # no reload: the page caught up by itself
    # It resumed from the last event it had before the drop (and reloaded in full once back).
    back = resumed_from[dropped_at:]
    assert back and all(back), resumed_from
    page.context.close()


def test_it_tells_the_web_chat_visitor_that_a_person_joined(
    asgi_server: Any, browser: Any, desk: dict[str, Any]
) -> None:
    bot = Bot.objects.create(key="retail-bot", name="Retail bot")
    conversation = Conversation.objects.create(
        bot=bot,
        channel="webchat",
        source="webchat",
        state={"transcript": [{"from": "customer", "text": "A person please"}]},
    )
    handoff = make_handoff(desk["queue"], bot=bot, conversation_id=str(conversation.pk))
    conversation.handoff = handoff
    conversation.save(update_fields=["handoff"])
    session = SessionStore()
    session["webchat-conversation"] = str(conversation.pk)
    session.create()
    context = browser.new_context()
    context.add_cookies(
        [{"name": "sessionid", "value": session.session_key, "url": asgi_server.url}]
    )
    page = context.new_page()
    page.goto(f"{asgi_server.url}/webchat/")
    page.get_by_text("Waiting for a person").wait_for()
    page.locator('#webchat-pane[data-live-connected="true"]').wait_for(state="attached")

    agent_set_presence(agent=desk["ann"], presence="available")
    queue_fill(queue_id=desk["queue"].pk)
    handoff_accept(handoff_id=handoff.pk, agent=desk["ann"])

    page.get_by_text("Ann has joined the conversation.").wait_for()
    context.close()
