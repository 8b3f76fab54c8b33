"""The explanation report in a real headless browser (the OS's Chromium, driven by Playwright): it loads without
console errors or requests, its filters change the rows shown, and a screenshot is written."""

import os
import shutil
from pathlib import Path

import pytest

from self_explain.evaluation.explanation_report import ReportConfig, run_report

pytestmark = pytest.mark.slow  # a browser start and a few page loads: about 10 s

COMMITTED = Path(__file__).parents[2] / "results" / "patching"
CHROMIUM_VARIABLE = "SELF_EXPLAIN_CHROMIUM"


def find_chromium() -> str | None:
    """The Chromium to drive: ``$SELF_EXPLAIN_CHROMIUM``, else the OS package's (``apt-get install chromium``)."""
    names = (os.environ.get(CHROMIUM_VARIABLE), "chromium", "chromium-browser", "google-chrome")
    return next((shutil.which(name) for name in names if name and shutil.which(name)), None)


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            f"no Chromium found (apt-get install chromium, which `make install` tries as root; or set "
            f"{CHROMIUM_VARIABLE})"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is a dev dependency: pip install -e '.[dev]'"
    )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def opened(browser, evaluation_folder, tmp_path):
    """``open(fragment)``: the evaluation's page in a new tab; with what it logged and requested."""
    folder, expected = evaluation_folder
    page_file = run_report(
        ReportConfig(input=str(folder), output=str(tmp_path / "report.html"), experiment=str(COMMITTED))
    )
    tab = browser.new_page(viewport={"width": 1100, "height": 900})
    problems, requests = [], []
    tab.on("console", lambda message: message.type in ("error", "warning") and problems.append(message.text))
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.on("request", lambda request: requests.append(request.url))

    def open_page(fragment: str = ""):
        tab.goto(page_file.as_uri() + fragment)
        return tab

    yield open_page, expected, problems, requests
    tab.close()


def visible_rows(tab) -> int:
    return tab.locator("article.row:visible").count()


def test_the_page_loads_without_errors_and_requests_nothing_else(opened):
    open_page, expected, problems, requests = opened
    tab = open_page()
    assert problems == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert tab.evaluate("typeof window.pwned") == "undefined", "the hostile answer stayed text"
    total = sum(counts["rows"] for counts in expected.values())
    assert visible_rows(tab) == total and tab.text_content("#shown") == str(total)


def test_the_filters_change_the_rows_shown(opened, tmp_path):
    open_page, expected, problems, _ = opened
    tab = open_page()
    tab.select_option('select[data-filter="split"]', "ood")
    assert visible_rows(tab) == expected["ood"]["rows"]
    tab.select_option('select[data-filter="verdict"]', "wrong")
    wrong = expected["ood"]["rows"] - expected["ood"]["correct"]
    assert visible_rows(tab) == wrong and tab.text_content("#shown") == str(wrong)
    tab.select_option('select[data-filter="label"]', "changed")
    changed_wrong = tab.locator('article.row[data-split="ood"][data-verdict="wrong"][data-label="changed"]').count()
    assert 0 < visible_rows(tab) == changed_wrong < wrong
    tab.select_option('select[data-filter="split"]', "")
    tab.select_option('select[data-filter="verdict"]', "")
    tab.select_option('select[data-filter="label"]', "")
    assert visible_rows(tab) == sum(counts["rows"] for counts in expected.values())
    tab.screenshot(path=str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert problems == []


def test_the_fragment_presets_the_filters(opened):
    open_page, expected, problems, _ = opened
    tab = open_page("#split=test&verdict=correct")
    assert tab.input_value('select[data-filter="split"]') == "test"
    assert visible_rows(tab) == expected["test"]["correct"]
    assert problems == []
