"""The running app in real headless Chromium (Debian's package, driven by Playwright).

Starts `streamlit run app.py` on a free loopback port against a workspace with data, opens
every page, waits for it to draw, fails on any Streamlit exception or error box, and saves
a screenshot of each page under the test's tmp dir.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import unquote

import pytest

from crashlens_core.ingest import ingest_file
from crashlens_core.rca.engine import list_runs, load_run
from crashlens_core.store import Workspace
from crashlens_core.store.logquery import group_logs, parse_log_query

from .browser_steps import pick_option, upload_through_form
from .helpers import CHROMIUM, CHROMIUM_ARGS, need_chromium, serve, serve_many

PAGES = [("", "Overview"), ("incidents", "Incidents"), ("traces", "Traces"), ("rca", "Root-cause analysis"), ("knowledge", "Knowledge"), ("logs", "Logs"), ("sources", "Sources"), ("simulate", "Simulate"), ("settings", "Settings")]

pytestmark = pytest.mark.browser


@pytest.fixture
def running_app(tmp_path):
    need_chromium()
    folder = tmp_path / "ws"
    seed = tmp_path / "seed.jsonl"
    seed.write_text("\n".join(json.dumps({"ts": f"2024-05-14T10:00:{i:02d}Z", "level": "error" if i % 4 == 0 else "info",
                                          "service": "checkout", "msg": f"<script>alert({i})</script> order {i}"})
                              for i in range(40)) + "\n")
    with Workspace.open(folder) as ws:
        ingest_file(ws, "logs", str(seed))
    with serve(folder, tmp_path) as base:
        yield base


def test_every_page_renders_in_chromium(running_app, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for url_path, title in PAGES:
            page.goto(f"{running_app}/{url_path}", wait_until="domcontentloaded")
            page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
            # wait until the script run has finished (Streamlit shows a running indicator meanwhile)
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
            if page.locator('[data-testid="stDataFrame"]').count():
                page.locator('[data-testid="stDataFrame"] canvas').first.wait_for(timeout=30_000)
            page.wait_for_timeout(1500)  # let the data grid paint before the screenshot
            page.screenshot(path=str(tmp_path / f"{url_path or 'overview'}.png"), full_page=True)
            # a modal (e.g. Streamlit's "Page not found") means the URL did not reach its page
            modals = page.locator('[role="dialog"]')
            assert modals.count() == 0, f"/{url_path}: {modals.first.inner_text()}"
            exceptions = page.locator('[data-testid="stException"]')
            assert exceptions.count() == 0, f"{url_path}: {exceptions.first.inner_text()}"
            assert page.locator('[data-testid="stAlertContentError"]').count() == 0, url_path
        # log text with markup is shown as text, never executed
        page.goto(f"{running_app}/logs", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Logs").first.wait_for(timeout=30_000)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        assert dialogs == []
        browser.close()


def _nav_titles(page) -> list[str]:
    """The page titles in the sidebar navigation (each link's last line: the icon's ligature comes first)."""
    return [link.inner_text().strip().splitlines()[-1].strip()
            for link in page.locator('[data-testid="stSidebarNav"] a').all()]


def test_a_cold_server_serves_every_deep_link_as_its_first_request(demo_folder, tmp_path):
    """pages/ sits beside app.py, so Streamlit's first script run in a fresh server process takes
    its legacy multipage path (common.leave_legacy_multipage). Each deep link is the very first
    request of its own server: it must land on its page, with its selection, through app.py
    (sidebar with the workspace, the app's nine pages and no file of pages/ listed on its own).
    The servers start and draw three at a time, each on its own copy of the demo workspace (a page run
    opens its workspace for writing, so servers sharing one would wait for each other)."""
    need_chromium()
    import shutil

    from playwright.sync_api import sync_playwright

    from crashlens_core.store import traces as tstore

    with Workspace.open(demo_folder, read_only=True) as ws:
        incident = next(i for i in ws.list_incidents() if i.title == "TypeError in checkout")
        trace_id = tstore.worst_traces(ws, limit=1)[0]["trace_id"]
    titles = ["Overview", "Incidents", "Traces", "RCA", "Knowledge", "Logs", "Sources", "Simulate", "Settings"]
    def main_text(page) -> str:
        return page.locator('[data-testid="stMain"]').inner_text()

    def picked_incident(page) -> str:  # the incident picker's input shows the chosen incident's label
        return page.get_by_role("combobox", name="Incident").input_value()

    links = [  # (first request, heading it shows, (what to read, the text only the right selection shows) or None)
        (f"/incidents?incident={incident.id}", incident.title, (main_text, str(incident.id))),
        (f"/rca?incident={incident.id}", "Root-cause analysis", (picked_incident, incident.title)),
        (f"/traces?incident={incident.id}", "Traces", (picked_incident, incident.title)),
        (f"/traces?trace={trace_id}", "Traces", None),
        ("/", "Overview", None), ("/logs", "Logs", None), ("/knowledge", "Knowledge", None),
        ("/sources", "Sources", None), ("/simulate", "Simulate", None), ("/settings", "Settings", None),
    ]
    folders = [tmp_path / f"ws-{n}" for n in range(len(links))]
    for folder in folders:
        shutil.copytree(demo_folder, folder)
    batch = 3  # servers at once: enough to keep two cores busy, few enough that none starves on a loaded machine
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for first in range(0, len(links), batch):
            group = list(range(first, min(first + batch, len(links))))
            with serve_many([folders[n] for n in group], tmp_path) as bases:
                pages = []
                for n, base in zip(group, bases):  # every first request of the group sent before any page is checked
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    _record_console(page, base)
                    page.goto(base + links[n][0], wait_until="domcontentloaded", timeout=120_000)
                    pages.append(page)
                for n, page in zip(group, pages):
                    _check_cold_deep_link(page, folders[n], links[n], titles, trace_id, tmp_path / f"cold-{n}.png")
        browser.close()


def _record_console(page, base: str) -> None:
    """Collect on ``page.noise`` what a clean console must not show: errors logged (a 404 probe, a
    failed fetch) and any request that leaves the app's own server (the app runs offline)."""
    page.noise = []
    page.on("console", lambda m: page.noise.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else page.noise.append(f"request {r.url}"))


def _check_cold_deep_link(page, folder, link_heading_selection, titles, trace_id, shot) -> None:
    link, heading, selection = link_heading_selection

    def main_text() -> str:
        return page.locator('[data-testid="stMain"]').inner_text()

    page.get_by_role("heading", name=heading).first.wait_for(timeout=120_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot))
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"{link}: {exceptions.first.inner_text()}"
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0, link
    assert _nav_titles(page) == titles, link
    assert str(folder) in page.locator('[data-testid="stSidebar"]').inner_text(), link  # app.py's sidebar
    if selection is not None:
        read, text = selection
        assert text in read(page), link
    if "?" in link:
        assert link.split("?", 1)[1] in page.url, link  # the selection stays in the URL
    if "trace=" in link:
        assert page.get_by_label("…or a trace id").input_value() == trace_id
        # the trace's summary is drawn after the pickers: wait for it (it fails if it never comes)
        page.get_by_text("Critical path").first.wait_for(timeout=120_000)
        assert "Critical path" in main_text(), link
    assert page.noise == [], link  # a clean console: no 404 probe of the deep link, nothing fetched from outside
    page.close()


def test_the_analyst_journey_on_the_demo_workspace(demo_copy, tmp_path):
    """Overview → an incident (clicked in the table) → its timeline, fingerprints with source and
    suspect commits → RCA in one click, each claim said once → approve → export the signed bundle →
    verify it → the incident's window as the sidebar's time range (in the URL) → Logs of that range
    only, a query grouped by service (the core's counts) → upload a file, find its batch on the
    Overview and delete it (its rows gone from the workspace)."""
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    folder = demo_copy
    with Workspace.open(folder) as ws:
        incidents = ws.list_incidents()
        logs_before = ws.counts()["logs"]
    row = next(n for n, i in enumerate(incidents) if i.title == "TypeError in checkout")
    shots = iter(range(1, 100))

    def settle(page, what: str) -> None:
        page.wait_for_timeout(800)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
        page.wait_for_timeout(700)
        page.screenshot(path=str(tmp_path / f"journey-{next(shots):02d}-{what}.png"), full_page=True)
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, f"{what}: {exceptions.first.inner_text()}"
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0, what

    with serve(folder, tmp_path) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 2200}, accept_downloads=True)
        page.goto(base + "/", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Overview").first.wait_for(timeout=60_000)
        settle(page, "overview")
        expect(page.get_by_text("Investigation KPIs")).to_be_visible()

        page.get_by_role("link", name="Open the incidents").click()
        page.get_by_role("heading", name="Incidents").first.wait_for(timeout=60_000)
        settle(page, "incidents")
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.locator("canvas").first.wait_for(timeout=30_000)
        box = grid.bounding_box()
        # the selection checkbox of the incident's row (header row, then one row per incident)
        page.mouse.click(box["x"] + 18, box["y"] + 35 * (row + 1) + 17)
        page.get_by_role("heading", name="TypeError in checkout").wait_for(timeout=60_000)
        settle(page, "incident")
        assert "incident=" in page.url  # the selection is in the URL: shareable
        expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible()

        page.get_by_role("tab", name="Fingerprints").click()
        settle(page, "fingerprints")
        expect(page.get_by_text("TypeError: 'NoneType' object is not subscriptable").first).to_be_visible()
        expect(page.get_by_text("discounts.py").first).to_be_visible()
        expect(page.get_by_text("Partner campaign codes at checkout").first).to_be_visible()  # the suspect commit

        page.get_by_role("link", name="Root-cause analysis").click()
        page.get_by_role("heading", name="Root-cause analysis").first.wait_for(timeout=60_000)
        settle(page, "rca-page")
        page.get_by_role("button", name="Run analysis").click()
        page.get_by_role("heading", name="Root cause").wait_for(timeout=120_000)
        settle(page, "rca-report")
        expect(page.get_by_text("discount_cents").first).to_be_visible()
        claims = _shown_claims(page)
        normalised = [re.sub(r"\W+", " ", re.sub(r"^\d+\.\s*", "", c)).strip().lower() for c in claims]  # less its number
        assert 1 <= len(claims) <= 8, claims
        assert len(set(normalised)) == len(normalised), claims  # each claim said once

        page.get_by_label("Approver").fill("alice")
        page.get_by_label("Approver").press("Enter")
        settle(page, "approver")
        page.get_by_role("button", name="Approve this RCA").click()
        settle(page, "approved")
        expect(page.get_by_text("Approved by alice").first).to_be_visible()

        page.get_by_role("button", name="Prepare signed bundle").click()
        settle(page, "bundle-prepared")
        with page.expect_download() as dl:
            page.get_by_role("button", name="Download bundle").click()
        bundle = tmp_path / "journey.bundle.tar"
        dl.value.save_as(bundle)
        assert bundle.stat().st_size > 1000

        page.get_by_text("Verify a signed bundle").click()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(bundle))
        page.get_by_text("Verified: every file matches the signed statement.").wait_for(timeout=60_000)
        settle(page, "verified")

        # the incident's window ± 10 min as the shared time range: in the URL, and still the range on Logs
        inc = incidents[row]
        lo, hi = inc.window_start - timedelta(minutes=10), inc.window_end + timedelta(minutes=10)
        sidebar = page.locator('[data-testid="stSidebar"]')
        pick_option(page, sidebar.get_by_role("combobox", name="Time range"), "The incident's window ± N min")
        settle(page, "range-incident")
        assert "range=incident" in page.url and "pad=10" in page.url
        expect(sidebar.get_by_text(f"{lo:%Y-%m-%d %H:%M:%S} – {hi:%Y-%m-%d %H:%M:%S} UTC")).to_be_visible()
        sidebar.get_by_role("link", name="Logs").click()
        page.get_by_role("heading", name="Logs").first.wait_for(timeout=60_000)
        settle(page, "logs-range")
        assert f"from={lo:%Y-%m-%dT%H:%M:%S}" in unquote(page.url) and f"to={hi:%Y-%m-%dT%H:%M:%S}" in unquote(page.url)
        with Workspace.open(folder, read_only=True) as ws:
            in_range = group_logs(ws, None, (), start=lo, end=hi)["total"]
            everything = ws.counts()["logs"]
        assert 0 < in_range < everything
        expect(page.get_by_text(f"{in_range:,} matching lines · Incident window ± 10 min")).to_be_visible()

        # a query grouped by service: the counts per group are the core's
        query = "level=ERROR,WARN"
        page.get_by_role("textbox", name="Query").fill(query)
        page.get_by_role("textbox", name="Query").press("Enter")
        settle(page, "logs-query")
        pick_option(page, page.get_by_role("combobox", name="Group by"), "service", exact=True)
        page.keyboard.press("Escape")
        settle(page, "logs-group-by")
        groups = page.locator('[data-testid="stDataFrame"]').filter(has_text="Share").first
        groups.screenshot(path=str(tmp_path / "journey-logs-groups.png"))
        shown = {cells[0]: int(cells[1]) for cells in (tr.locator("td").all_inner_texts()
                                                       for tr in groups.locator("tbody tr").all())}
        with Workspace.open(folder, read_only=True) as ws:
            want = group_logs(ws, parse_log_query(query), ["service"], start=lo, end=hi)
        assert shown == {g["service"]: g["count"] for g in want["groups"]} and len(shown) >= 2, shown
        expect(page.get_by_text(f"{want['total']:,} matching lines")).to_be_visible()

        # a wrong upload, undone: the file through the form, its batch on the Overview, deleted there
        late = tmp_path / "late.jsonl"
        late.write_text("\n".join(json.dumps({"ts": f"2024-05-14T22:00:{i:02d}Z", "level": "info", "service": "journey-upload",
                                              "msg": f"late line {i}"}) for i in range(12)) + "\n")
        _, report, _ = upload_through_form(page, str(late))
        assert "12 loaded, 0 rejected" in report, report
        settle(page, "uploaded")
        with Workspace.open(folder, read_only=True) as ws:
            batch = ws.list_batches(limit=1)[0]
            assert ws.counts()["logs"] == logs_before + 12 and batch["path"] == "late.jsonl"
        sidebar.get_by_role("link", name="Overview").click()
        page.get_by_role("heading", name="Recent ingest batches").wait_for(timeout=60_000)
        settle(page, "overview-batches")
        batches = page.locator('[data-testid="stDataFrame"]').filter(has_text="Ingested (UTC)").first
        batches.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)  # let the grid paint before its screenshot
        batches.screenshot(path=str(tmp_path / "journey-batches.png"))
        first_row = batches.locator("tbody tr").first.locator("td").all_inner_texts()
        assert first_row[:4] == [str(batch["id"]), "logs", "jsonl", "late.jsonl"], first_row
        page.get_by_text("Undo an upload").click()
        pick_option(page, page.get_by_role("combobox", name="Batch to delete"), f"{batch['id']} · logs · late.jsonl · 12 loaded")
        settle(page, "batch-chosen")
        page.get_by_role("button", name=f"Delete batch {batch['id']}").click()
        done = page.get_by_text(f"Deleted batch {batch['id']}: 12 log lines")
        done.wait_for(timeout=60_000)
        settle(page, "batch-deleted")
        expect(done).to_be_in_viewport()  # said where the person clicked, not above the scrolled-off top
        expect(page.locator('[data-testid="stMetric"]').filter(has_text="Log records")).to_contain_text(f"{logs_before:,}")
        browser.close()
    with Workspace.open(folder) as ws:
        inc = ws.get_incident(incidents[row].id)
        assert inc.status == "approved"
        assert inc.approved_by == "alice"
        assert ws.counts()["logs"] == logs_before
        assert group_logs(ws, parse_log_query("service=journey-upload"))["total"] == 0
        assert all(b["id"] != batch["id"] for b in ws.list_batches())
        run = list_runs(ws, inc.id)[0]
        assert claims == [f"{n}. {c.text}" for n, c in enumerate(load_run(ws, run["id"])[1].claims, 1)]


def _shown_claims(page) -> list[str]:
    """The report's numbered claims as the page shows them: the lines between its Claims and Remediation headings."""
    text = page.locator('[data-testid="stMain"]').inner_text()
    section = text.split("\nRemediation\n", 1)[0].rsplit("\nClaims\n", 1)[1]  # "Claims" also heads a metric
    return [line.strip() for line in section.splitlines() if re.match(r"\d+\. ", line.strip())]
