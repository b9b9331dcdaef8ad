"""What a person does and sees in the running app, as Playwright steps: shared by the browser
tests and the bench scripts (bench/app.py, bench/journey.py), so both walk the page the same way.

No pytest here: the bench imports it too.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["settle", "clicked", "problems", "is_question_title", "upload_through_form", "NEW_INCIDENT_LINKS"]

# true while the page is still arriving: no heading yet, the run indicator, a skeleton or a stale element
_BUSY_JS = """() => [performance.now(), !document.querySelector('[data-testid="stMain"] h1')
    || !!document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSkeleton"], [data-stale="true"]')]"""
# Titles say what failed "in"/"on" something; a lone "?" there is a name that was missing.
_QUESTION_TITLE = re.compile(r"(?:^|\s)\?(?:\s|$)")
NEW_INCIDENT_LINKS = '[data-testid="stPageLink"] a'


def settle(page: Any, since_ms: float, quiet_ms: float = 1000, timeout_ms: float = 120_000) -> float:
    """Seconds from ``since_ms`` (the page's performance.now()) until the page went quiet for ``quiet_ms``
    (heading drawn, no running indicator, no skeleton, no stale element)."""
    settled_at = None
    while True:
        now, busy = page.evaluate(_BUSY_JS)
        if busy:
            settled_at = None
        elif settled_at is None:
            settled_at = now
        elif now - settled_at >= quiet_ms:
            return (settled_at - since_ms) / 1000
        if now - since_ms > timeout_ms:
            raise TimeoutError(f"page did not settle within {timeout_ms / 1000:.0f} s: {page.url}")
        page.wait_for_timeout(25)


def clicked(page: Any, locator: Any, until: Any = None, quiet_ms: float = 1000, timeout_ms: float = 180_000) -> float:
    """Click, then the seconds until the page settled (what the person waited): first until
    ``until`` (a locator the click must bring) is drawn, then quiet. The running indicator is
    not enough on its own: a rerun can take longer than ``quiet_ms`` to start on a busy machine."""
    start = page.evaluate("performance.now()")
    locator.click()
    if until is not None:
        until.first.wait_for(timeout=timeout_ms)
    return settle(page, start, quiet_ms, timeout_ms=timeout_ms)


def pick_option(page: Any, combobox: Any, name: str, exact: bool = False, tries: int = 3) -> None:
    """Open ``combobox`` and click its option ``name``. On a loaded machine a rerun that lands while
    the list is open redraws the widget and closes the list: then open it again (a person would)."""
    for attempt in range(tries):
        combobox.click()
        option = page.get_by_role("option", name=name, exact=exact)
        try:
            option.wait_for(timeout=15_000)
            option.click(timeout=15_000)
            return
        except Exception:  # playwright's TimeoutError: the list closed or never opened
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")
            page.wait_for_timeout(1000)


def is_question_title(title: str) -> bool:
    return bool(_QUESTION_TITLE.search(title))


def problems(page: Any) -> str:
    """What a person would see as broken on the page now ("" when nothing): an exception, an
    error box, a heading with a "?" where a name belongs."""
    exc = page.locator('[data-testid="stException"]')
    if exc.count():
        return "exception: " + exc.first.inner_text()[:300].replace("\n", " ")
    err = page.locator('[data-testid="stAlertContentError"]')
    if err.count():
        return "error box: " + err.first.inner_text()[:300].replace("\n", " ")
    for h in page.locator('[data-testid="stMain"] h1, [data-testid="stMain"] h2').all_inner_texts():
        if is_question_title(h):
            return f"'?' in the heading {h!r}"
    return ""


def upload_through_form(page: Any, path: str, kind: str = "logs", mapping: str = "") -> tuple[float, str, list[tuple[str, str]]]:
    """One file through the Logs page's upload form, as a user does it: remove the last upload's
    files from the chooser, pick what the file holds, choose the file, type the column mapping,
    click Ingest. Returns (seconds waited after the click, the file's ingest report as shown,
    [(label, href)] of the "New incident" links the page shows)."""
    from pathlib import Path

    name = Path(path).name
    form = page.locator('[data-testid="stForm"]').first
    if not form.is_visible():  # the form sits in a collapsed expander
        page.get_by_text("Upload logs, spans").first.click()
        form.wait_for(state="visible", timeout=30_000)
    remove = form.locator('[data-testid="stFileChipDeleteBtn"] button')
    while remove.count():
        remove.first.click()
    form.locator('[data-testid="stButtonGroup"]').get_by_text(kind, exact=True).click()
    form.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(path)
    form.locator(f'[data-testid="stFileChipName"][title="{name}"]').first.wait_for(timeout=30_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stFileChipIconSpinner\"]')", timeout=60_000)
    box = form.get_by_role("textbox", name="Column mapping (CSV)")
    box.fill(mapping)
    box.press("Tab")
    shown = page.locator('[data-testid="stAlertContainer"]').filter(has_text=name)
    took = clicked(page, form.get_by_role("button", name="Ingest"), until=shown)
    report = shown.first.inner_text().replace("\n", " ") if shown.count() else ""
    links = page.locator(NEW_INCIDENT_LINKS).filter(has_text="New incident")
    return took, report, [(a.inner_text().strip().splitlines()[-1], a.get_attribute("href") or "") for a in links.all()]
