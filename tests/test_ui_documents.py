"""The Documents tab (issue 21) in a real headless Chromium against the session's real server: an upload's
progress shows a percentage and chunk counts that move while it embeds; the table shows each document's
collection, date added and size; on a phone the table is a list of cards whose controls fit the screen.
(A row's Delete, its confirmation and Cancel: tests/test_ui_browser.py.) Screenshots: test-artifacts/ui/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from assistant.ui.documents_view import format_size
from tests.conftest import Server
from tests.test_jobs import big_text

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

from tests.test_ui_browser import (  # noqa: E402  (after the skip: these need Playwright)
    PHONE,
    browser,  # noqa: F401  (the fixture)
    go_to,
    open_page,
    shot,
)

pytestmark = pytest.mark.browser

# Every text the status shows, as it changes: the poll of an upload rewrites it every half second at most.
RECORD_STATUS = """() => {
  window.__statusSeen = [];
  const status = document.querySelector('#documents-status');
  const record = () => {
    const text = status.innerText;
    if (window.__statusSeen.at(-1) !== text) window.__statusSeen.push(text);
  };
  new MutationObserver(record).observe(status, { childList: true, subtree: true, characterData: true });
}"""


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:  # noqa: F811  (browser: the imported fixture)
    ctx, page, errors = open_page(browser, server.url)
    yield page
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_an_upload_shows_a_moving_percentage_then_the_table_shows_collection_date_and_size(
    page: Any, tmp_path: Path
) -> None:
    name = "delta_register.txt"
    data = big_text("delta", 1500)  # about 750 chunks: 250 took 1.6 s here when quiet, two progress polls
    doc = tmp_path / name
    doc.write_bytes(data)
    go_to(page, "Documents")
    table = page.locator("#documents-table")
    expect(table).to_contain_text("000_78f4c420c5d86458.txt")
    page.evaluate(RECORD_STATUS)
    page.locator("#upload input[type=file]").set_input_files([str(doc)])
    status = page.locator("#documents-status")
    expect(status).to_contain_text(re.compile(r"embedding [1-9][\d,]* of [\d,]+ chunks \(\d+%\)"))
    shot(page, "18-upload-progress")
    expect(status).to_contain_text(f"{name} added")
    report = status.inner_text()
    seen: list[str] = page.evaluate("window.__statusSeen")

    percents = [int(m.group(1)) for t in seen if (m := re.search(r"Adding 1 file: (\d+)%", t))]
    embedded = [int(m.group(1)) for t in seen if (m := re.search(r"embedding (\d+) of", t))]
    assert len(set(percents)) >= 3 and any(0 < p < 100 for p in percents), seen
    assert percents == sorted(percents), "the percentage only goes up"
    assert len(set(embedded)) >= 3, f"the chunk count moves while it embeds: {seen}"
    # the stages before the chunks (reading, extracting, splitting) can be over within one half-second poll:
    # their order is tested in test_ingest.py, their wording in test_ui_unit.py

    chunks = int(re.search(r"(\d+) new chunks", report).group(1))  # type: ignore[union-attr]
    row = table.locator(f"tr[data-source='{name}']")
    today = datetime.now(UTC)
    expect(row.locator("td[data-label='Collection']")).to_have_text("default")
    expect(row.locator("td[data-label='Added']")).to_have_text(f"{today.day} {today:%b %Y}")
    expect(row.locator("td[data-label='Size']")).to_have_text(format_size(len(data)))
    expect(row.locator("td[data-label='Chunks']")).to_have_text(f"{chunks:,}")
    headers = table.locator("thead th").all_inner_texts()
    assert headers[:5] == ["Document", "Collection", "Added", "Size", "Chunks"], headers
    shot(page, "19-documents-table", full_page=True)

    # the session's server is shared: leave its store as found (the row's Delete, confirmed)
    row.get_by_role("button", name=f"Delete {name}").click()
    page.locator("#confirm-delete").click()
    expect(status).to_contain_text(f"Deleted {name}")
    expect(table.locator(f"tr[data-source='{name}']")).to_have_count(0)


def test_the_documents_table_is_a_list_of_cards_on_a_phone(browser: Any, server: Server) -> None:  # noqa: F811
    ctx, page, errors = open_page(browser, server.url, **PHONE)
    try:
        go_to(page, "Documents")
        rows = page.locator("#documents-table tbody tr")
        expect(rows.first).to_contain_text("000_78f4c420c5d86458.txt")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scroll"
        for i in range(rows.count()):
            card = rows.nth(i).bounding_box()
            assert card and card["x"] >= 0 and card["x"] + card["width"] <= 390, card
            for cell in rows.nth(i).locator("td").all():
                box = cell.bounding_box()
                assert box and box["x"] >= card["x"] and box["x"] + box["width"] <= card["x"] + card["width"]
            delete = rows.nth(i).locator("button.delete-doc")
            button = delete.bounding_box()
            assert button and button["height"] >= 40 and button["width"] >= card["width"] * 0.8, button
        label = page.evaluate(
            """() => getComputedStyle(document.querySelector(
                 "#documents-table td[data-label='Collection']"), '::before').content"""
        )
        assert label == '"Collection"', "each value is labelled on a phone (the header row is hidden)"
        expect(page.locator("#documents-table thead")).to_be_hidden()
        shot(page, "20-phone-documents-table", full_page=True)

        rows.first.locator("button.delete-doc").tap()
        confirm = page.locator("#confirm-row")
        expect(confirm).to_be_in_viewport()
        box = confirm.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        shot(page, "21-phone-confirm-delete")
        page.locator("#cancel-delete").tap()
        expect(confirm).to_be_hidden()
        expect(rows.first).to_contain_text("000_78f4c420c5d86458.txt")
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
