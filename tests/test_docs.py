"""The documentation a newcomer reads: the README stays a front page, every relative link in it and in docs/
leads somewhere, and the generated parts of docs/configuration.md match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant import docs_settings
from tests.conftest import ROOT

README_LIMIT = 8 * 1024
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`[^`\n]*`")  # a link written inside code is an example, not a link


def prose(page: Path) -> str:
    return CODE.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))


def anchors(page: Path) -> set[str]:
    """GitHub's ids for a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", FENCE.sub("", page.read_text(encoding="utf-8")), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):  # http(s):, mailto: — not ours to check offline
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no {resolved.relative_to(ROOT)})")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    assert not broken_links(page), broken_links(page)


def test_the_readme_is_a_front_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= README_LIMIT, (
        f"README.md is {len(readme.encode())} bytes: move detail to docs/"
    )
    assert "make run" in readme and "make test" in readme


def test_the_generated_settings_and_file_types_are_up_to_date(tmp_path: Path) -> None:
    assert docs_settings.main(["--check"]) == 0, "run python -m assistant.docs_settings"
    stale = tmp_path / "configuration.md"
    stale.write_text(docs_settings.CONFIGURATION.read_text(encoding="utf-8").replace("`.pdf`, ", ""))
    assert docs_settings.main(["--check"], stale) == 1  # the check notices a type missing from the list


def test_the_documented_data_dir_is_the_one_the_code_uses() -> None:
    from assistant.settings import Settings

    default = Settings.model_fields["data_dir"].get_default()
    assert default == ROOT / "data"
    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert "| `RAG_DATA_DIR` | `data/` in the project folder |" in documented
    assert "(default `./data`)" not in (ROOT / "README.md").read_text(encoding="utf-8")
