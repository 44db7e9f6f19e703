"""The test tiers a contributor relies on: `make test-fast` leaves out what needs Chromium, llama.cpp or the
eval corpora, and a missing prerequisite skips its tests on a laptop but fails them in CI."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, clean_env

# Each test runs pytest in a child process that imports the whole suite: 20-70 s apiece on two cores.
pytestmark = pytest.mark.slow


def pytest_run(*args: str, code: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """pytest in a child process, after `code` (run first, e.g. to hide a prerequisite)."""
    script = f"{code}\nimport pytest, sys\nsys.exit(pytest.main({list(args)!r}))"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=str(ROOT),
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_make_test_fast_collects_no_browser_llm_or_eval_test() -> None:
    expression = re.search(r'^test-fast:.*\n\t.*pytest -m "([^"]+)"', (ROOT / "Makefile").read_text(), re.M)
    assert expression, "the Makefile's test-fast target selects by marker"
    listed = pytest_run("--collect-only", "-q", "-p", "no:cacheprovider", "-m", expression.group(1)).stdout
    selected = [line for line in listed.splitlines() if "::" in line]
    assert len(selected) > 100, listed[-2000:]
    needing_more = [
        t for t in selected if t.startswith(("tests/test_ui_browser.py", "tests/test_local_models.py"))
    ]
    assert not needing_more and not any("test_eval_on_the_dev_sets" in t for t in selected)


HIDE_CHROMIUM = (
    "import tests.conftest as c\nfrom pathlib import Path\nc.CHROMIUM = Path('/nonexistent/chromium')"
)
ONE_BROWSER_TEST = ("tests/test_ui_browser.py", "-k", "stop_ends_it", "-q", "-rs", "-p", "no:cacheprovider")


def test_without_chromium_a_browser_test_is_skipped_saying_what_to_install() -> None:
    run = pytest_run(*ONE_BROWSER_TEST, code=HIDE_CHROMIUM, CI="")
    assert run.returncode == 0, run.stdout[-2000:]
    assert "1 skipped" in run.stdout and "make browser" in run.stdout


def test_in_ci_a_missing_prerequisite_fails_instead_of_skipping() -> None:
    run = pytest_run(*ONE_BROWSER_TEST, code=HIDE_CHROMIUM, CI="true")
    assert run.returncode != 0, run.stdout[-2000:]
    assert "CI is set" in run.stdout and "make browser" in run.stdout and "skipped" not in run.stdout
