"""The portal speaks English and Japanese: the browser picks, the user's own setting wins."""

import re
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from handoff.models import User
from portal import portal_urls
from portal.context_processors import NAVIGATION
from tests.conftest import make_user
from tests.portal.test_permissions import objects, patterns, people, url_for

__all__ = ["objects", "people"]  # fixtures of the permission sweep, used here too

JA = {"Accept-Language": "ja"}
EN = {"Accept-Language": "en"}


def text_of(html: str) -> str:
    # Code and preformatted text show data (keys, paths, JSON), not prose.
    html = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_shows_the_login_page_in_japanese_to_a_japanese_browser(client: Client) -> None:
    response = client.get(reverse("login"), headers=JA)
    assert response["Content-Language"] == "ja"
    assert "ログイン" in response.content.decode()
    assert "Log in" not in text_of(response.content.decode())


def test_it_shows_the_login_page_in_english_by_default(client: Client) -> None:
    response = client.get(reverse("login"))
    assert "Log in" in response.content.decode()


@pytest.mark.parametrize(
    ("role", "heading"),
    [
        ("admin", "構成"),
        ("maker", "作成"),
        ("analyst", "分析"),
        ("agent", "エージェント ワークスペース"),
    ],
)
def test_it_shows_each_role_landing_page_in_japanese(db: Any, role: str, heading: str) -> None:
    client = logged_in(make_user(f"ja-{role}", role))
    response = client.get(reverse("home"), follow=True, headers=JA)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"<h1>{heading}</h1>" in html
    assert "ログアウト" in html
    assert '<html lang="ja">' in html


def test_it_prefers_the_users_own_language_over_the_browser(maker: User) -> None:
    maker.language = "ja"
    maker.save(update_fields=["language"])
    html = logged_in(maker).get(reverse("maker_overview"), headers=EN).content.decode()
    assert "<h1>作成</h1>" in html


def test_it_follows_the_browser_when_the_user_has_no_setting(maker: User) -> None:
    html = logged_in(maker).get(reverse("maker_overview"), headers=JA).content.decode()
    assert "<h1>作成</h1>" in html
    html = logged_in(maker).get(reverse("maker_overview"), headers=EN).content.decode()
    assert "<h1>Authoring</h1>" in html


def test_it_lets_the_user_choose_english_in_a_japanese_browser(agent: User) -> None:
    client = logged_in(agent)
    response = client.post(reverse("account_settings"), {"language": "en"}, follow=True, headers=JA)
    agent.refresh_from_db()
    assert agent.language == "en"
    # The confirmation already speaks the chosen language.
    assert "Your settings are saved." in response.content.decode()
    html = client.get(reverse("agent_workspace"), headers=JA).content.decode()
    assert "Agent workspace" in html


def test_it_lets_the_user_go_back_to_following_the_browser(agent: User) -> None:
    agent.language = "en"
    agent.save(update_fields=["language"])
    client = logged_in(agent)
    response = client.post(reverse("account_settings"), {"language": ""}, follow=True, headers=JA)
    agent.refresh_from_db()
    assert agent.language == ""
    assert "設定を保存しました。" in response.content.decode()


def test_it_refuses_an_unknown_language(agent: User) -> None:
    response = logged_in(agent).post(reverse("account_settings"), {"language": "xx"})
    assert response.status_code == 200
    agent.refresh_from_db()
    assert agent.language == ""


def test_it_links_to_my_settings_from_the_top_bar(analyst: User) -> None:
    html = logged_in(analyst).get(reverse("analytics_index"), headers=JA).content.decode()
    assert reverse("account_settings") in html
    assert "日本語" in html


def test_it_lets_every_role_open_my_settings(db: Any) -> None:
    for role in ("admin", "maker", "analyst", "agent"):
        client = logged_in(make_user(f"settings-{role}", role))
        assert client.get(reverse("account_settings")).status_code == 200


def test_it_refuses_my_settings_to_a_user_without_a_role(outsider: User) -> None:
    assert logged_in(outsider).get(reverse("account_settings")).status_code == 403


# Two or more English words in a row in the visible text: a string someone forgot to mark.
ENGLISH_RUN = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,'’-]+[a-z]+){1,}\b")
# English on purpose: names from code (a header, a bot key, a command, JSON value types, a time
# zone), and the messages of the configuration checker and the mapping engine, which the API,
# import_config and the explanations share (docs/i18n.md).
NOT_PROSE = re.compile(
    r"webhook-id|portal-test-bot|python manage|text\s+number\s+boolean\s+null|Port-au-Prince"
    r"|exactly one queue must be the fallback queue|none is|must be|is missing|left out"
)


@pytest.fixture
def everyone(db: Any) -> User:
    user = make_user("polyglot", *[g.name for g in Group.objects.all()])
    user.language = "ja"
    user.save(update_fields=["language"])
    return user


def test_it_translates_every_main_page(everyone: User) -> None:
    client = logged_in(everyone)
    pages = [name for _section, items in NAVIGATION for name, _label in items]
    pages.append("account_settings")
    untranslated = {}
    for name in pages:
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        html = response.content.decode()
        # Navigation labels and section headings.
        for label in ("概要", "チャネル", "キュー", "エスカレーション ルール", "監査ログ"):
            assert label in html, (name, label)
        found = ENGLISH_RUN.findall(NOT_PROSE.sub(" ", text_of(html)))
        if found:
            untranslated[name] = found
    assert untranslated == {}


def test_it_translates_every_page_an_admin_opens(
    client: Client, objects: dict[str, Any], people: dict[str, User]
) -> None:
    # The permission sweep's pages and objects; the objects' own names are data, not prose.
    things = [*objects.values(), *people.values()]
    names = {
        getattr(o, attr, "")
        for o in things
        for attr in ("name", "key", "username", "conversation_id")
    }
    names = {str(name) for name in names if name}
    # Longest first, so "sweep-admin" goes before "admin" could cut it in two.
    data = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    admin = people["admin"]
    admin.language = "ja"
    admin.save(update_fields=["language"])
    client.force_login(admin)
    untranslated = {}
    for pattern in patterns():
        if pattern.name in portal_urls.PUBLIC:
            continue
        url = url_for(pattern, objects, people)
        response = client.get(url)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue  # POST-only views, the home redirect, CSV and JSON downloads
        text = data.sub(" ", NOT_PROSE.sub(" ", text_of(response.content.decode())))
        found = ENGLISH_RUN.findall(text)
        if found:
            untranslated[url] = found
    assert untranslated == {}
