"""The guestbook in a real browser: Debian's Chromium, driven by Playwright, from the operator's machine.

What a person does: open ``http://<address>/``, type an entry, press Submit, and see it
in the list; the page is kept as a screenshot. Playwright for Python drives the system's
``/usr/bin/chromium`` (``executable_path``): it never downloads a browser of its own.
Chromium runs headless with its background services off (no sync, no component updates,
no background networking), so it sends nothing but the page's requests, and in the fresh
profile Playwright makes for each launch and deletes afterwards.
"""

from __future__ import annotations

import time
from pathlib import Path

from helpers.verdict import Verdict

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--no-default-browser-check"]


def missing_browser() -> str:
    """Why no browser test can run here ("" when Chromium and Playwright are both installed)."""
    if not Path(CHROMIUM).exists():
        return f"no {CHROMIUM}: install Debian's chromium (ci/setup.sh lists it)"
    try:
        import playwright.sync_api  # noqa: F401, PLC0415
    except ImportError:
        return "Playwright for Python is not installed: pip install -e . (pyproject.toml lists it)"
    return ""


def visit(address, screenshot: Path, entry: str | None = None, timeout: float = 20.0) -> Verdict:
    """Open the guestbook, sign it with ``entry`` and check the page lists it; save a screenshot.

    Runs in a thread of its own: Playwright's synchronous API refuses to run where an
    asyncio loop is running, which is the case in a Jupyter kernel.

    Returns:
        A verdict whose rows are the steps and what the page showed; a problem per step
        that failed (naming the step and what was on the page instead).
    """
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    with ThreadPoolExecutor(1, thread_name_prefix="chromium") as pool:
        return pool.submit(_visit, address, screenshot, entry, timeout).result()


def _visit(address, screenshot: Path, entry: str | None, timeout: float) -> Verdict:
    url = f"http://{address}/"
    entry = entry or f"signed in Chromium at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
    rows: list[tuple[str, str]] = []
    problems: list[str] = []
    why = missing_browser()
    if why:
        return Verdict(f"the guestbook in a browser ({url})", ["step", "saw"], rows, [why])
    from playwright.sync_api import Error, sync_playwright  # noqa: PLC0415

    ms = int(timeout * 1000)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS,
                                         ignore_default_args=["--enable-automation"], timeout=ms)
            try:
                page = browser.new_page(viewport={"width": 900, "height": 700})
                response = page.goto(url, timeout=ms, wait_until="load")
                rows.append(("open " + url, f"{response.status if response else 'no response'}, title {page.title()!r}"))
                if not response or response.status != 200 or page.title() != "Guestbook":
                    problems.append(f"opening {url} showed {page.title()!r} ({response.status if response else 'nothing'})")
                else:
                    before = page.locator("#entries li").count()
                    page.fill("#entry", entry, timeout=ms)
                    page.click("#submit", timeout=ms)
                    page.wait_for_load_state("load", timeout=ms)
                    listed = page.locator("#entries li", has_text=entry)
                    found = listed.count()
                    served = page.locator("#served").inner_text(timeout=ms)
                    rows.append(("type an entry, press Submit", f"{before} entries before, now {page.locator('#entries li').count()}"))
                    rows.append(("the list", f"the entry is listed: {found > 0}"))
                    rows.append(("the footer", served))
                    if not found:
                        problem = page.locator("#problem")
                        said = problem.inner_text() if problem.count() else "no error on the page"
                        problems.append(f"after Submit the page does not list {entry!r} ({said})")
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
                rows.append(("screenshot", str(screenshot)))
            finally:
                browser.close()
    except Error as err:
        problems.append(f"Chromium at {url}: {str(err).splitlines()[0][:300]}")
    return Verdict(f"the guestbook in a browser ({url})", ["step", "saw"], rows, problems)
