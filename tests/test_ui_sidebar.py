"""The conversations sidebar (issue 21) in a real headless Chromium against a real server with people signed
in: the list, the address of a conversation (`?c=<id>`), New chat and Clear, search, rename, delete with a
confirmation, and another person's conversation that does not open. Screenshots land in test-artifacts/ui/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from assistant.storage import ConversationInfo
from assistant.ui.sidebar import NOT_YOURS, list_html
from tests.conftest import Server, start_server

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

from tests.test_ui_browser import (  # noqa: E402  (after the skip: these need Playwright)
    MARKER,
    MINE_ACTION,
    RENAMED,
    VIENTIANE,
    ask,
    bots,
    browser,  # noqa: F401  (the fixture)
    shot,
    sign_in,
)

PEOPLE = ("ann", "ben", "cat", "dan", "eve", "fay", "gus")
PASSWORD = "sidebar-password"
ITEMS = "#conversation-list a.conversation-item"
OPEN_ITEM = f"{ITEMS}[aria-current]"
WITH_ID = re.compile(r"[?&]c=[0-9a-f]{32}$")
LAVROV = re.compile("What happened during Lavrov")


@pytest.fixture(scope="module")
def people(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real app over the seeds, with five members allowed to read them (one each test)."""
    from assistant.settings import Settings
    from assistant.storage import Storage

    base = tmp_path_factory.mktemp("sidebar-ui")
    shutil.copytree(seeded_dir, base / "data")
    storage = Storage.from_settings(Settings(data_dir=base / "data"))
    storage.collections.add("default")
    for name in PEOPLE:
        storage.users.add(name, PASSWORD)
        storage.collections.grant("default", name)
    storage.close()
    srv = start_server(base / "data", base / "server.log")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def signed_in(request: pytest.FixtureRequest, browser: Any, people: Server) -> Iterator[Any]:  # noqa: F811
    """A page signed in as the person named by the test's parameter."""
    ctx, page, errors = sign_in(browser, people.url, request.param, PASSWORD)
    yield page
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def address(page: Any) -> str:
    """The conversation id in the address bar, or ""."""
    found = re.search(r"[?&]c=([0-9a-f]+)", page.url)
    return found.group(1) if found else ""


def nothing_open(page: Any) -> None:
    """A new chat: an empty chat, nothing marked in the list, no `?c=` in the address."""
    expect(bots(page)).to_have_count(0)
    expect(page.locator(OPEN_ITEM)).to_have_count(0)
    expect(page).to_have_url(re.compile(r"^[^?]*(\?(?!.*\bc=).*)?$"))


@pytest.mark.browser
@pytest.mark.parametrize("signed_in", ["ann"], indirect=True)
def test_a_reload_keeps_the_conversation_and_a_rename(signed_in: Any) -> None:
    page = signed_in
    first = ask(page, VIENTIANE)
    assert "Vientiane" in first and MARKER.search(first), first
    expect(page.locator(OPEN_ITEM)).to_have_text(LAVROV)
    expect(page.locator("#conversation-list")).to_contain_text("Today")
    expect(page).to_have_url(WITH_ID)
    opened = address(page)
    shot(page, "50-sidebar-after-a-question")

    page.reload()
    expect(page.locator('#chatbot [data-testid="user"]')).to_have_text(VIENTIANE)
    expect(bots(page)).to_have_count(1)
    expect(bots(page).first).to_contain_text("Vientiane")
    expect(page.locator(OPEN_ITEM)).to_have_text(LAVROV)
    assert address(page) == opened

    title = page.locator("#conversation-title textarea")
    expect(title).to_have_value(LAVROV)
    title.fill(RENAMED)
    page.locator("#rename-conversation").click()
    expect(page.locator(OPEN_ITEM)).to_have_text(RENAMED)
    page.reload()
    expect(bots(page).first).to_contain_text("Vientiane")
    expect(page.locator(OPEN_ITEM)).to_have_text(RENAMED)
    expect(page.locator(ITEMS)).to_have_count(1)
    assert address(page) == opened


@pytest.mark.browser
@pytest.mark.parametrize("signed_in", ["ben"], indirect=True)
def test_new_chat_and_clear_start_a_second_conversation_and_search_finds_by_title(signed_in: Any) -> None:
    page = signed_in
    ask(page, VIENTIANE)
    expect(page).to_have_url(WITH_ID)  # once the list is read again after the answer
    first = address(page)
    page.locator("#new-chat").click()
    nothing_open(page)
    expect(page.locator(ITEMS)).to_have_count(1)

    ask(page, MINE_ACTION)
    expect(page.locator(ITEMS)).to_have_count(2)
    expect(page.locator(ITEMS).first).to_have_text(re.compile("Mine Action Centre"))  # newest first
    expect(page.locator(OPEN_ITEM)).to_have_text(re.compile("Mine Action Centre"))
    expect(page).to_have_url(WITH_ID)
    second = address(page)
    assert second and second != first
    shot(page, "51-sidebar-two-conversations")

    page.locator(ITEMS, has_text=LAVROV).click()
    expect(bots(page)).to_have_count(1)
    expect(bots(page).first).to_contain_text("Vientiane")
    expect(page.locator(OPEN_ITEM)).to_have_text(LAVROV)
    expect(page).to_have_url(re.compile(rf"[?&]c={first}$"))

    page.locator("#clear").click()
    nothing_open(page)

    search = page.locator("#conversation-search textarea")
    search.fill("mine action")
    expect(page.locator(ITEMS)).to_have_count(1)
    expect(page.locator(ITEMS)).to_have_text(re.compile("Mine Action Centre"))
    search.fill("zorbulon")
    expect(page.locator(ITEMS)).to_have_count(0)
    expect(page.locator("#conversation-list")).to_contain_text("No conversation matches")
    search.fill("")
    expect(page.locator(ITEMS)).to_have_count(2)


@pytest.mark.browser
@pytest.mark.parametrize("signed_in", ["cat"], indirect=True)
def test_delete_asks_for_a_confirmation_and_only_then_deletes(signed_in: Any) -> None:
    page = signed_in
    ask(page, VIENTIANE)
    expect(page.locator(ITEMS)).to_have_count(1)
    confirm = page.locator("#confirm-delete-chat")
    expect(confirm).to_have_count(0)

    page.locator("#delete-conversation").click()
    expect(confirm).to_be_visible()
    expect(page.locator("#confirm-delete-chat-row")).to_contain_text("cannot be undone")
    shot(page, "52-sidebar-confirm-delete")
    page.locator("#cancel-delete-chat").click()
    expect(confirm).to_have_count(0)
    expect(page.locator(ITEMS)).to_have_count(1)  # Cancel deleted nothing
    expect(bots(page)).to_have_count(1)

    page.locator("#delete-conversation").click()
    confirm.click()
    nothing_open(page)
    expect(page.locator(ITEMS)).to_have_count(0)
    expect(page.locator("#conversation-list")).to_contain_text("No conversations yet")
    page.reload()
    expect(page.locator("#conversation-list")).to_contain_text("No conversations yet")


@pytest.mark.browser
def test_the_address_of_another_persons_conversation_opens_nothing(browser: Any, people: Server) -> None:  # noqa: F811
    ctx, page, errors = sign_in(browser, people.url, "dan", PASSWORD)
    try:
        ask(page, VIENTIANE)
        expect(page).to_have_url(WITH_ID)
        dans = page.url
    finally:
        ctx.close()
    assert not errors, errors
    ctx, page, errors = sign_in(browser, people.url, "eve", PASSWORD)
    try:
        page.goto(dans)
        expect(page.get_by_text(NOT_YOURS)).to_be_visible()
        expect(page.locator("#question textarea")).to_be_visible()
        nothing_open(page)
        expect(page.locator(ITEMS)).to_have_count(0)
        expect(page.get_by_text(VIENTIANE)).to_have_count(0)  # neither dan's question
        expect(page.get_by_text("Kommasith")).to_have_count(0)  # nor his answer
        shot(page, "53-sidebar-not-yours")
    finally:
        ctx.close()
    assert not errors, errors


@pytest.mark.browser
def test_on_a_phone_the_sidebar_starts_closed_and_never_scrolls_sideways(
    browser: Any,  # noqa: F811
    people: Server,
) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(people.url)
        page.locator("#name").fill("ann")
        page.locator("#key").fill(PASSWORD)
        page.locator("#sign-in").click()
        expect(page.locator("#question textarea")).to_be_in_viewport()
        expect(page.locator("#sidebar")).not_to_have_class(re.compile(r"\bopen\b"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.locator("#sidebar .toggle-button").tap()
        expect(page.locator("#new-chat")).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "54-phone-sidebar-open")
        page.locator("#new-chat").tap()
        page.locator("#sidebar .toggle-button").tap()
        expect(page.locator("#question textarea")).to_be_in_viewport()
    finally:
        ctx.close()
    assert not errors, errors


# -- without a browser: the list as HTML ------------------------------------------------------------------


def conversation(cid: str, title: str, when: datetime) -> ConversationInfo:
    return ConversationInfo(cid, title, when, when, 2)


def test_the_list_groups_by_day_marks_the_open_one_and_escapes_titles() -> None:
    today = date(2026, 12, 2)
    noon = datetime(2026, 12, 2, 12, tzinfo=UTC)
    items = [
        conversation("a" * 32, "<img src=x onerror=alert(1)> today", noon),
        conversation("b" * 32, "Yesterday's talk", noon - timedelta(days=1)),
        conversation("c" * 32, "Old ' \" one", noon - timedelta(days=30)),
    ]
    shown = list_html(items, "b" * 32, "", today)
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt; today" in shown
    assert "Old &#x27; &quot; one" in shown
    assert (
        shown.index("Today") < shown.index("&lt;img") < shown.index("Yesterday</h3>") < shown.index("Earlier")
    )
    assert f"data-current='{'b' * 32}'" in shown
    assert shown.count("aria-current") == 1 and "aria-current='page'>Yesterday&#x27;s talk" in shown
    assert "Old" not in list_html(items, None, "TALK", today) and "Yesterday" in list_html(
        items, None, "TALK"
    )
    assert "No conversation matches" in list_html(items, None, "nothing like it", today)
    assert "No conversations yet" in list_html([], None, "", today)


# -- without a browser: another person's `?c=` through the sidebar's own handlers --------------------------


def as_request(key: str, query: str = "") -> Any:
    """What Gradio hands a load event: the page's request, with its bearer and its query string."""
    import gradio as gr
    from starlette.requests import Request

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"authorization", f"Bearer {key}".encode())],
        "query_string": query.encode(),
        "client": ("127.0.0.1", 1),
        "server": ("localhost", 80),
        "scheme": "http",
    }
    return gr.Request(request=Request(scope))


def test_an_id_of_another_persons_conversation_neither_opens_nor_renames_nor_deletes(tmp_path: Path) -> None:
    from assistant.access import Gate
    from assistant.settings import Settings
    from assistant.storage import Storage
    from assistant.ui.conversations import Conversations
    from assistant.ui.sidebar import SidebarEvents

    storage = Storage.from_settings(Settings(data_dir=tmp_path))
    try:
        ann, bob = storage.users.add("ann", PASSWORD).api_key, storage.users.add("bob", PASSWORD).api_key
        gate = Gate([], b"s" * 32, users=storage.users, sessions=storage.sessions)
        conversations = Conversations(storage, gate)
        events = SidebarEvents(conversations)
        owner = conversations.principal(as_request(ann)).owner  # type: ignore[union-attr]
        anns = storage.conversations.create(owner, "Ann's secret plans")

        mine = events.on_load(None, as_request(ann, f"c={anns.id}"))  # (pickers, chat, sources, groups, id..)
        assert mine[5] == anns.id and "Ann&#x27;s secret plans" in mine[7]

        with pytest.warns(UserWarning, match="not yours"):
            theirs = events.on_load(None, as_request(bob, f"c={anns.id}"))
        assert theirs[2] == [] and theirs[5] is None and "secret" not in theirs[7]
        assert "data-current=''" in theirs[7], "the address loses ?c="
        with pytest.warns(UserWarning, match="no longer exists"):  # to bob, it does not exist
            events.renamed(anns.id, "Taken over", "", as_request(bob))
        with pytest.warns(UserWarning, match="no longer exists"):
            events.deleted(anns.id, "", as_request(bob))
        assert [c.title for c in storage.conversations.list(owner)] == ["Ann's secret plans"]
    finally:
        storage.close()


def test_a_page_loaded_without_an_address_leaves_a_chat_already_started(tmp_path: Path) -> None:
    """On a busy server the page's load event can run after the first question was sent: without `?c=` it
    fills the pickers and the list, and leaves the chat (its bubble, sources, conversation) as it is."""
    import gradio as gr

    from assistant.access import Gate
    from assistant.settings import Settings
    from assistant.storage import Storage
    from assistant.ui.conversations import Conversations
    from assistant.ui.sidebar import SidebarEvents

    storage = Storage.from_settings(Settings(data_dir=tmp_path))
    try:
        ann = storage.users.add("ann", PASSWORD).api_key
        gate = Gate([], b"s" * 32, users=storage.users, sessions=storage.sessions)
        conversations = Conversations(storage, gate)
        owner = conversations.principal(as_request(ann)).owner  # type: ignore[union-attr]
        earlier = storage.conversations.create(owner, "Earlier trip")
        started = storage.conversations.create(owner, "Asked before the page loaded")

        loaded = SidebarEvents(conversations).on_load(started.id, as_request(ann))  # (pickers, chat, sources,
        chat_outputs = loaded[2:7]  # groups, id, title, list, tools, confirm row)
        assert all(out == gr.skip() for out in chat_outputs), chat_outputs
        assert "Earlier trip" in loaded[7] and earlier.id in loaded[7]
        assert f"data-current='{started.id}'" in loaded[7], "the address would lose the open chat's ?c="
        # opened at an address: a question already sent in this page keeps its chat too
        at_address = SidebarEvents(conversations).on_load(started.id, as_request(ann, f"c={earlier.id}"))
        assert all(out == gr.skip() for out in at_address[2:7]), at_address[2:7]
        assert f"data-current='{started.id}'" in at_address[7]
    finally:
        storage.close()


@pytest.mark.browser
@pytest.mark.parametrize("signed_in", ["fay"], indirect=True)
def test_the_header_says_who_is_signed_in_and_sign_out_ends_the_session(
    signed_in: Any, people: Server
) -> None:
    page = signed_in
    expect(page.locator("#account")).to_have_text(re.compile(r"Signed in as fay \(member\)"))
    page.locator("#sign-out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(people.url)  # the session is gone: the app asks again
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator("#name")).to_be_focused()


@pytest.mark.browser
@pytest.mark.parametrize("signed_in", ["gus"], indirect=True)
def test_the_api_docs_render_with_every_request_answered_by_the_app(signed_in: Any, people: Server) -> None:
    page = signed_in
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{people.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Grounded assistant")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    page.goto(f"{people.url}/redoc")
    expect(page.get_by_role("heading", level=1).first).to_contain_text("Grounded assistant")
    shot(page, "52-redoc")
    ours = (people.url, f"blob:{people.url}", "data:")  # a blob or data URL is the page's own memory
    elsewhere = [url for url in requested if not url.startswith(ours)]
    assert requested and not elsewhere, f"requests that left the app: {elsewhere}"
