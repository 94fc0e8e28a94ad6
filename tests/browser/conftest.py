"""Session fixtures for the browser tests: one JupyterLab, one Chromium.

Settings (environment variables, all optional):

``BINN_BROWSER_TIMEOUT_S``
    Seconds one notebook may take to open and run all its cells (default 240).
``BINN_BROWSER_SCREENSHOTS``
    Folder for the screenshots (default ``outputs/browser-screenshots`` in the
    repository; its old ``*.png`` files are removed at the start).
``BINN_TUTORIALS_DIR``
    Folder whose ``*.ipynb`` are tested (default ``tutorials/``).
``BINN_CHROMIUM``
    Chromium executable (default ``/usr/bin/chromium``).

Every process started here is stopped in a ``finally``, also when a test fails:
pages are closed and their kernels shut down through the REST API, the browser
and Playwright's driver are closed, and the server is shut down, terminated
and, if need be, killed by its process handle; kernels that survive it are
killed by process id (see ``private_jupyterlab.JupyterLabServer.stop``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import lab_harness
import private_jupyterlab
from lab_harness import close_kept_page
from private_jupyterlab import REPO_ROOT, tutorials_dir

#: Lines the tests reported in this process (for summary.txt).
_SESSION_LINES: list[str] = []
#: Lines the tests attached to their reports as ("browser", text); read back
#: from the reports, so the controller of pytest-xdist sees them too.
_REPORT_LINES: list[str] = []


def notebook_timeout_s() -> float:
    """Per-notebook time limit in seconds, from ``BINN_BROWSER_TIMEOUT_S``."""
    raw = os.environ.get("BINN_BROWSER_TIMEOUT_S", "240")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"BINN_BROWSER_TIMEOUT_S={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"BINN_BROWSER_TIMEOUT_S={raw!r} must be positive")
    return value


@pytest.fixture(scope="session")
def screenshot_dir() -> Iterator[Path]:
    """Folder for screenshots, emptied of old ``*.png`` at the start; at the
    end it also gets ``summary.txt`` with every line given to ``browser_report``."""
    folder = Path(os.environ.get(
        "BINN_BROWSER_SCREENSHOTS", REPO_ROOT / "outputs" / "browser-screenshots")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("*.png"), folder / "summary.txt"]:
        old.unlink(missing_ok=True)
    _SESSION_LINES.clear()
    try:
        yield folder
    finally:
        if _SESSION_LINES:
            (folder / "summary.txt").write_text("\n".join(_SESSION_LINES) + "\n")


@pytest.fixture
def browser_report(record_property: Callable[[str, object], None]) -> Callable[[str], None]:
    """``browser_report(text)``: print it, show it in the terminal summary
    (also under xdist, through the test report) and add it to summary.txt."""

    def report(text: str) -> None:
        print(text)
        record_property("browser", text)
        _SESSION_LINES.append(text)

    return report


@pytest.fixture(scope="session")
def lab_server() -> Iterator[private_jupyterlab.JupyterLabServer]:
    """JupyterLab on 127.0.0.1 serving a fresh copy of the tutorials."""
    work = Path(tempfile.mkdtemp(prefix="binn-browser-"))
    server = None
    try:
        private_jupyterlab.copy_notebooks(tutorials_dir(), work / "notebooks")
        server = private_jupyterlab.JupyterLabServer(work / "notebooks", work / "server")
        server.start()
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def browser_context() -> Iterator[Any]:
    """One headless Chromium (one browser context) for the whole session."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = context = None
    try:
        browser = lab_harness.launch_chromium(playwright, lab_harness.chromium_path())
        context = browser.new_context(viewport=lab_harness.VIEWPORT)
        yield context
    finally:
        try:
            if context is not None:
                context.close()
            if browser is not None:
                browser.close()
        finally:
            playwright.stop()


@pytest.fixture(scope="session")
def notebook_runner(lab_server: private_jupyterlab.JupyterLabServer, browser_context: Any,
                    screenshot_dir: Path
                    ) -> Iterator[Callable[..., lab_harness.NotebookRun]]:
    """``run(name, keep_open=False)``: run a notebook once, remember the result.

    A second call for the same notebook returns the first result, so a later
    test can inspect a notebook an earlier test ran.  Pages kept open are
    closed (and their kernels shut down) at the end of the session.
    """
    cache: dict[str, lab_harness.NotebookRun] = {}

    def run(name: str, keep_open: bool = False) -> lab_harness.NotebookRun:
        if name not in cache:
            cache[name] = lab_harness.run_notebook(
                browser_context, lab_server, name, notebook_timeout_s(), screenshot_dir,
                keep_open=keep_open)
        return cache[name]

    try:
        yield run
    finally:
        for result in cache.values():
            close_kept_page(lab_server, result)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _REPORT_LINES.extend(value for key, value in report.user_properties if key == "browser")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Timings and where the screenshots are, after the test summary."""
    if _REPORT_LINES:
        terminalreporter.section("browser tests")
        for line in _REPORT_LINES:
            terminalreporter.write_line(line)
