"""The whole school journey in a real browser: Debian's headless Chromium, driven by Playwright,
against `frs serve` on a random loopback port. Every page is checked with axe-core (no
violations) and a screenshot of each step is kept in test-artefacts/browser/."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path


from frs.testing.serve import start_serve, stop_serve
import openpyxl
import pytest

from conftest import KS5_OPEN_NOW, SCHOOL, TEST_CONFIG, make_ks5_with_errors, make_ks5_workbook

ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = ROOT / "test-artefacts" / "browser"
AXE = ROOT / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MANAGER, MANAGER_PASSWORD = "manager@a.sch.uk", "manager-password-1"
SETUP, SETUP_PASSWORD = "setup@a.sch.uk", "setup-password-1"


def _frs(env, *args, stdin: str | None = None):
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "frs"), *args], env=env, input=stdin, text=True,
                            capture_output=True, timeout=120)
    assert result.returncode == 0, f"frs {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    """`frs serve` on a fresh SQLite instance with one school, a Manage Data user and a Setup
    user, the clock inside the KS5 2021 round; Data Exchange is the real service when installed,
    else the stand-in from tests/webkit.py."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium (.ci/run does)"
    assert AXE.exists(), "axe-core is needed: bash scripts/setup.sh installs it with npm"
    home = tmp_path_factory.mktemp("portal")
    config = home / "frs.toml"
    # with the real Data Exchange service a partner must be installed to connect to (xporter)
    config.write_text(TEST_CONFIG.replace('enabled = ["ks5_alevel"]',
                                          'enabled = ["ks5_alevel", "blank", "ks5_measures", "data_exchange", "xporter"]'))
    env = {**os.environ, "FRS_HOME": str(home), "FRS_CONFIG": str(config), "FRS_NOW": KS5_OPEN_NOW,
           "PYTHONPATH": str(ROOT / "tests")}
    env.pop("FRS_DATABASE_URL", None)
    try:
        import frs.services.data_exchange  # noqa: F401
    except ImportError:
        env["FRS_DATA_EXCHANGE"] = "webkit:FakeDataExchange"
    _frs(env, "db", "init")
    _frs(env, "schools", "add", "--dfe", SCHOOL, "--name", "Test School")
    _frs(env, "users", "add", MANAGER, "--school", SCHOOL, "--permission", "manage_data")
    _frs(env, "users", "add", SETUP, "--school", SCHOOL, "--permission", "setup")
    _frs(env, "users", "set-password", MANAGER, "--password-stdin", stdin=MANAGER_PASSWORD + "\n")
    _frs(env, "users", "set-password", SETUP, "--password-stdin", stdin=SETUP_PASSWORD + "\n")
    _analyse_ks5(home, config)
    try:
        server, base = start_serve(env, timeout=30)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    files = home / "files-to-upload"
    files.mkdir()
    yield base, files
    stop_serve(server)


def _analyse_ks5(home: Path, config: Path) -> None:
    """Stored KS5 results for the school and two others (synthetic cohorts), for the dashboards."""
    import dataclasses

    from frs import config as frs_config
    from frs.analysis import runner, synthetic as syn
    from frs.kernel import Kernel
    from frs.storage import db
    from frs.storage.files import FileStore
    from frs.storage.service import Service

    cfg = frs_config.load(config)
    cfg.home = str(home)
    kernel = Kernel(cfg)
    engine = db.make_engine(f"sqlite:///{home / 'frs.db'}")
    maker = syn.SchoolMaker(kernel, pupils=24, key_stage=5, year=2021)
    cohorts = [dataclasses.replace(maker.make(0), school_dfe=SCHOOL, school_name="Test School")]
    cohorts += [maker.make(i) for i in (1, 2)]
    runner.analyse_cohorts(Service(kernel, engine, FileStore(home / "files")), cohorts, collection_id=1, pdfs=False)
    engine.dispose()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Journey:
    """A browser tab that checks accessibility and takes a screenshot at every step."""

    def __init__(self, page):
        self.page = page
        self.step = 0
        ARTEFACTS.mkdir(parents=True, exist_ok=True)

    def check(self, name: str) -> None:
        self.step += 1
        self.page.screenshot(path=str(ARTEFACTS / f"{self.step:02d}-{name}.png"), full_page=True)
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate("""async () => {
            const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa',
                                                         'best-practice']});
            return r.violations.map(v => v.id + ': ' + v.help + ' @ ' + v.nodes.map(n => n.target.join(' ')).join(', '));
        }""")
        assert result == [], f"axe-core on {name} ({self.page.url}): {result}"
        # usable at 200% zoom and on small screens: nothing scrolls sideways at 320 CSS pixels
        size = self.page.viewport_size
        self.page.set_viewport_size({"width": 320, "height": 800})
        wide = self.page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        self.page.set_viewport_size(size)
        assert not wide, f"{name} scrolls sideways at 320 CSS pixels"

    def sign_in(self, base: str, email: str, password: str) -> None:
        self.page.goto(f"{base}/sign-in")
        self.page.get_by_label("Email address").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()


def test_the_school_journey_in_a_browser(portal, browser):
    from playwright.sync_api import expect

    base, files = portal
    context = browser.new_context(bypass_csp=True, accept_downloads=True, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    journey = Journey(page)
    errors_in_console = []
    # script errors and CSP violations; refused form posts (400, 401) are expected, not errors
    page.on("console", lambda msg: errors_in_console.append(msg.text) if msg.type == "error" and not
            msg.text.startswith("Failed to load resource: the server responded with a status of 4") else None)

    # sign in (the first focusable element is the skip link, for keyboard users)
    page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/sign-in")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "govuk-skip-link"
    journey.check("sign-in")
    page.get_by_label("Email address").fill(MANAGER)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.title().startswith("Error: ") and page.locator(".govuk-error-summary").is_visible()
    journey.check("sign-in-refused")
    page.get_by_label("Password").fill(MANAGER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.url == f"{base}/school/{SCHOOL}"
    assert page.locator(".frs-status-box").is_visible()
    journey.check("home")

    # get the template
    with page.expect_download() as download:
        page.get_by_role("link", name="Get template for KS5 A-level").click()
    template = files / download.value.suggested_filename
    download.value.save_as(template)
    assert template.suffix == ".xlsx" and "KS5" in template.name
    assert "Results" in openpyxl.load_workbook(template).sheetnames

    # upload one with errors and see them, every one with its row and column
    bad = files / "results_with_mistakes.xlsx"
    bad.write_bytes(make_ks5_with_errors(_kernel()))
    page.get_by_role("link", name="Upload KS5 A-level results").click()
    journey.check("upload-form")
    page.get_by_role("button", name="Upload and check the file").click()  # nothing chosen
    assert page.title().startswith("Error: ")
    assert page.locator(".govuk-error-summary a[href='#file']").is_visible()
    journey.check("upload-no-file")
    page.get_by_label("Results file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and check the file").click()
    assert page.locator(".govuk-error-summary").is_visible()
    rows = page.get_by_role("region", name="Problems found").locator("tbody tr")
    cells = {(rows.nth(i).locator("td").nth(1).inner_text().strip(),
              rows.nth(i).locator("td").nth(2).inner_text().split()[0]) for i in range(rows.count())}
    assert {("4", "K"), ("5", "L")} <= cells
    journey.check("upload-errors")
    error_upload_url = page.url

    # download the annotated copy
    with page.expect_download() as download:
        page.get_by_role("link", name="Download your file with the mistakes marked (Excel)").click()
    marked = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert marked.active["K4"].comment is not None or any(
        c.comment for row in marked.active.iter_rows() for c in row)

    # upload a clean one
    good = files / "results.xlsx"
    good.write_bytes(make_ks5_workbook(_kernel()))
    page.get_by_role("link", name="Upload a corrected file").click()
    page.get_by_label("Results file").set_input_files(str(good))
    page.get_by_role("button", name="Upload and check the file").click()
    assert page.locator(".govuk-tag", has_text="Awaiting confirmation").is_visible()
    journey.check("upload-clean")

    # confirm without the tick: refused by the server
    page.get_by_role("button", name="Confirm submission").click()
    assert page.title().startswith("Error: ")
    assert page.locator(".govuk-error-summary a[href='#accept_terms']").is_visible()
    assert page.locator(".govuk-tag", has_text="Awaiting confirmation").is_visible()
    journey.check("confirm-without-tick")

    # tick and confirm
    page.get_by_label("I have read and accept the terms and conditions").check()
    page.get_by_role("button", name="Confirm submission").click()
    assert page.locator(".govuk-panel__title", has_text="Results submitted").is_visible()
    assert page.locator(".govuk-tag", has_text="Processing").is_visible()
    journey.check("confirmed")

    # the history
    page.get_by_role("link", name="Manage uploads").click()
    table = page.locator("table")
    assert table.locator("tr", has_text="results.xlsx").locator(".govuk-tag").inner_text() == "Processing"
    assert table.locator("tr", has_text="results_with_mistakes.xlsx").locator(".govuk-tag").inner_text() == \
        "Upload error"
    journey.check("history")

    # delete the failed upload, with a confirmation step
    error_id = error_upload_url.rsplit("/", 1)[1]
    page.locator(f"a[href='/uploads/{error_id}/delete']").click()
    journey.check("delete-confirm")
    page.get_by_role("button", name="Yes, delete this upload").click()
    # is_visible() does not wait: on a busy machine the redirect's page may still be loading
    expect(page.locator(".govuk-notification-banner--success")).to_be_visible()
    assert table.locator("tr", has_text="results_with_mistakes.xlsx").locator(".govuk-tag").inner_text() == "Deleted"
    journey.check("deleted")

    # hide deleted and overwritten uploads
    page.get_by_label("Hide deleted and overwritten uploads").check()
    page.get_by_role("button", name="Update the list").click()
    assert page.locator("table tr", has_text="results_with_mistakes.xlsx").count() == 0
    assert page.locator("table tr", has_text="results.xlsx").count() == 1
    journey.check("history-hidden")

    page.get_by_role("button", name="Sign out").click()
    assert "/sign-in" in page.url
    assert errors_in_console == [], errors_in_console

    # a Setup user enables Data Exchange
    journey.sign_in(base, SETUP, SETUP_PASSWORD)
    journey.check("setup-home")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Data Exchange").click()
    connect = page.get_by_role("button", name="Connect")
    if connect.count():
        page.get_by_role("button", name="Connect").click()  # without a partner: told what to enter
        assert page.locator(".govuk-error-summary a[href='#partner']").is_visible()
        journey.check("dx-connect-refused")
        page.get_by_label("Connection partner").fill("xporter")
        page.get_by_role("button", name="Connect").click()
    journey.check("dx-connected")
    page.get_by_role("button", name="Enable Data Exchange").click()
    assert page.locator(".frs-status-box .govuk-tag").inner_text().strip().lower() == "enabled"
    journey.check("dx-enabled")
    context.close()


def test_the_dashboards_in_a_browser(portal, browser):
    """A school user finds the reports, reads the dashboard, filters it by a pupil group, leaves
    pupils out ("what if") and downloads the Excel: every page passes axe-core and reflows at 320 px."""
    base, _files = portal
    context = browser.new_context(bypass_csp=True, accept_downloads=True, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    journey = Journey(page)
    journey.step = 50
    journey.sign_in(base, SETUP, SETUP_PASSWORD)  # neither Manage Data: reports are for any user of the school
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Reports").click()
    journey.check("reports-list")
    page.get_by_role("link", name="Key stage 5 results 2021: dashboard").click()
    assert page.locator(".frs-tile").count() >= 4 and page.locator("svg.frs-chart").count() >= 1
    journey.check("dashboard-ks5")
    page.get_by_label("Show a pupil group").select_option(index=1)
    page.get_by_role("button", name="Show", exact=True).click()
    assert "group=" in page.url and page.locator(".govuk-notification-banner").is_visible()
    journey.check("dashboard-group")
    page.get_by_role("navigation", name="Report pages").get_by_role("link", name="Pupils and “what if”").click()
    journey.check("dashboard-pupils")
    boxes = page.locator("input[name=exclude]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Recalculate without the ticked pupils").first.click()
    assert page.locator("#left-out").is_visible()
    assert page.locator("input[name=exclude]:checked").count() == 2
    journey.check("dashboard-what-if")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download these figures (Excel)").click()
    book = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert "Headlines" in book.sheetnames
    context.close()


def test_pages_work_under_their_own_content_security_policy(portal, browser):
    """Without bypass: the CSP blocks nothing the pages need (no inline script or style), and
    GOV.UK Frontend's JavaScript runs."""
    base, _files = portal
    context = browser.new_context()
    page = context.new_page()
    messages = []
    page.on("console", lambda msg: messages.append(msg.text))
    Journey(page).sign_in(base, MANAGER, MANAGER_PASSWORD)
    for path in (f"/school/{SCHOOL}", f"/school/{SCHOOL}/uploads", f"/school/{SCHOOL}/upload",
                 f"/reports/{SCHOOL}/ks5-2021", f"/reports/{SCHOOL}/ks5-2021/pupils"):
        page.goto(base + path)
        assert page.evaluate("document.body.classList.contains('govuk-frontend-supported')")
        assert page.evaluate("getComputedStyle(document.querySelector('.govuk-generic-header')).color") != ""
    assert not [m for m in messages if "Content Security Policy" in m], messages
    context.close()


_KERNEL = None


def _kernel():
    global _KERNEL
    if _KERNEL is None:
        from webkit import web_kernel

        _KERNEL = web_kernel()
    return _KERNEL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
