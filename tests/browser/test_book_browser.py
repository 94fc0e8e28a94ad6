"""The course website: every page of the built Jupyter Book opens cleanly in headless Chromium.

What is tested
--------------
For every HTML page of ``book/_build/html`` (built by ``make book``; discovered, so new
tutorials and API pages are covered without touching this file; ``_static/`` and ``_sources/``
hold no pages), served by a local ``http.server`` on 127.0.0.1 and opened in headless Chromium:

* the page loads (for a forwarding page such as ``index.html``: the page it names), has a
  ``<title>`` and an ``<h1>``;
* no executed cell shows an error: no traceback output (myst-nb's ``.traceback`` block) and no
  ``Traceback (most recent call last)`` anywhere in the text;
* every image on the page loaded (``naturalWidth > 0``): the figures of the executed tutorials,
  the logos and the badges (outside addresses are answered locally, as in the notebook tests:
  CI has no internet, and the report lists them);
* no JavaScript console error or uncaught page error.

A screenshot of each page (its top 6,000 pixels) goes to ``outputs/browser-screenshots/book/``
(``BINN_BOOK_SCREENSHOTS`` overrides), with ``summary.txt`` listing every page and what was found.

Skips: without Chromium or playwright (as ``test_tutorials_browser.py``) and, with the reason,
while the book has not been built (``BINN_BOOK_HTML`` points at another build).
How to run: ``make book`` first, then ``.venv/bin/python -m pytest tests/browser/test_book_browser.py -rA``.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lab_harness
from private_jupyterlab import REPO_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = lab_harness.skip_module_without_browser("book browser tests")

HTML = Path(os.environ.get("BINN_BOOK_HTML", REPO_ROOT / "book" / "_build" / "html")).resolve()
if not (HTML / "index.html").is_file():
    pytest.skip(f"the book has not been built (no {HTML / 'index.html'}; run `make book`) — "
                "book browser tests skipped", allow_module_level=True)

#: every page of the book, relative to HTML
PAGES = sorted(path.relative_to(HTML).as_posix() for path in HTML.rglob("*.html")
               if path.relative_to(HTML).parts[0] not in ("_static", "_sources"))
#: screenshots are cut at this height (CSS pixels): API pages are very long
MAX_SCREENSHOT_HEIGHT = 6000

_REFRESH = re.compile(r"""<meta[^>]+http-equiv=["']refresh["'][^>]+url=([^"'>]+)""", re.IGNORECASE)
_IMAGES_JS = """
async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null
      : new Promise(done => { img.onload = img.onerror = done; setTimeout(done, 5000); })));
  return images.map(img => ({src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0}));
}
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # no request log on stderr
        pass


@pytest.fixture(scope="module")
def book_url() -> Iterator[str]:
    """The built book served on 127.0.0.1 (a free port) for the duration of the module."""
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def book_screenshots() -> Iterator[tuple[Path, list[str]]]:
    """(folder emptied of old screenshots, lines for its summary.txt written at the end)."""
    folder = Path(os.environ.get("BINN_BOOK_SCREENSHOTS",
                                 REPO_ROOT / "outputs" / "browser-screenshots" / "book")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("*.png"), folder / "summary.txt"]:
        old.unlink(missing_ok=True)
    lines: list[str] = []
    try:
        yield folder, lines
    finally:
        if lines:
            (folder / "summary.txt").write_text(f"book: {HTML}\n" + "\n".join(sorted(lines)) + "\n")


def forwards_to(relative: str) -> str | None:
    """The page a forwarding page (``<meta http-equiv="refresh" content="0; url=...">``) opens, else None."""
    match = _REFRESH.search((HTML / relative).read_text(encoding="utf-8", errors="replace"))
    return urllib.parse.urljoin(relative, match.group(1).strip()) if match else None


def check_page(page: Any, url: str) -> tuple[list[str], dict[str, Any]]:
    """Open ``url`` in ``page``; (problems, facts) per the rules in the module docstring."""
    console_errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(f"page error: {error}"))
    lab_harness.stay_offline(page, outside)
    response = page.goto(url, wait_until="load")
    problems = []
    if response is None or not response.ok:
        problems.append(f"HTTP status {response.status if response else 'none'}")
    title = page.title().strip()
    if not title:
        problems.append("no <title>")
    if page.locator("h1").count() == 0:
        problems.append("no <h1> heading")
    tracebacks = page.locator(".traceback, .output.error").count()
    if tracebacks:
        problems.append(f"{tracebacks} error output(s) of executed cells")
    if "Traceback (most recent call last)" in page.inner_text("body"):
        problems.append("the text 'Traceback (most recent call last)' is on the page")
    images = page.evaluate(_IMAGES_JS)
    problems += [f"image did not load: {image['src']}" for image in images if not image["ok"]]
    problems += [f"browser console: {message}" for message in console_errors]
    facts = {"title": title, "images": len(images), "outside": len(outside)}
    return problems, facts


@pytest.mark.parametrize("relative", PAGES, ids=[name[:-5] for name in PAGES])
def test_book_page_renders(relative, book_url, browser_context, book_screenshots):
    folder, summary = book_screenshots
    page = browser_context.new_page()
    try:
        shown = forwards_to(relative) or relative
        problems, facts = check_page(page, f"{book_url}/{shown}")
        height = page.evaluate("document.documentElement.scrollHeight")
        shot = folder / (relative[:-5].replace("/", "__") + ".png")
        page.screenshot(path=str(shot), full_page=True,
                        clip={"x": 0, "y": 0, "width": lab_harness.VIEWPORT["width"],
                              "height": min(height, MAX_SCREENSHOT_HEIGHT)})
    finally:
        page.close()
    forwarded = f" (forwards to {shown})" if shown != relative else ""
    summary.append(f"{relative}{forwarded}: {'OK' if not problems else 'PROBLEMS'} — title {facts['title']!r}, "
                   f"{facts['images']} image(s), {facts['outside']} outside request(s) answered locally; "
                   f"screenshot {shot.name}" + "".join(f"\n    {problem}" for problem in problems))
    if problems:
        pytest.fail(f"{relative}:\n  " + "\n  ".join(problems), pytrace=False)
