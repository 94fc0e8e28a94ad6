"""Drive the tutorial notebooks in a real JupyterLab inside headless Chromium.

This module holds the browser machinery; ``private_jupyterlab.py`` the server and
the notebook copies; ``conftest.py`` turns both into session fixtures and
``test_tutorials_browser.py`` states what must hold.  Nothing here knows about
pytest, so the pieces can also be tried by hand from a Python prompt.

* :func:`launch_chromium` starts Debian's Chromium through Playwright.
* :func:`run_notebook` opens one notebook (its kernel is started through the
  REST API while the page loads), waits until the status bar says ``| Idle``,
  clicks *Run > Run All Cells*, waits for every cell, saves from the browser,
  and returns a :class:`NotebookRun` listing every problem found (the rules
  are in :func:`find_problems`).
* :func:`check_slider_explorer` moves the explorer's slider one key press at
  a time and checks that the plot changes and comes back pixel-identical.

Facts this relies on were measured on the project machines (project notes,
``browser_testing.md``): wait for the status-bar text ``| Idle`` before *Run
All*; press one slider key per step and wait for the new plot; look for output
only inside ``.jp-OutputArea-output``; collect ``console`` and ``pageerror``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from private_jupyterlab import HarnessError, JupyterLabServer

#: Debian's Chromium; override with the environment variable ``BINN_CHROMIUM``.
DEFAULT_CHROMIUM = "/usr/bin/chromium"

#: Chromium flags that keep a headless run quiet and self-contained.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: Browser window size in CSS pixels; tall, because JupyterLab scrolls inside
#: its own panel and a ``full_page`` screenshot does not see below the fold.
VIEWPORT = {"width": 1280, "height": 1300}

#: Cell tags the notebooks may use to steer the checks (see ``find_problems``).
TAG_FIGURE = "figure"
TAG_NO_FIGURE = "no-figure"
TAG_EXPLORER = "parameter-explorer"

#: Top-level source lines that draw something with matplotlib, e.g.
#: ``plt.plot(...)``, ``fig, ax = plt.subplots()``, ``ax.plot(...)``,
#: ``plot_soc_profile(...)``, ``binn_lite.plotting.plot_fit(...)``.
_DRAWING_CALL = re.compile(
    r"\bplt\.\w+\(|\.(plot|scatter|imshow|hist|bar|barh|fill_between|errorbar"
    r"|contourf?|pcolormesh|step|semilogx|semilogy|loglog)\(|\b\w*plot\w*\("
)
#: Lines that mention a plotting name without drawing anything.
_NOT_DRAWING = re.compile(r"^(def |class |import |from |@|#|print\()")
#: Any plotting at all, indented or not (the notebook-wide rule).
_ANY_PLOTTING = re.compile(r"\bplt\.|\.plot\(|\b\w*plot\w*\(")

#: Prompts of code cells, read in page order (``[ ]:``, ``[*]:``, ``[12]:``).
_PROMPTS_JS = """
() => Array.from(
    document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell'),
    cell => cell.classList.contains('jp-CodeCell')
        ? (cell.querySelector('.jp-InputPrompt')?.textContent || '').trim()
        : null)
"""

#: Per cell: number of images (and how many failed to decode), widget views,
#: widget errors and still-loading widgets.
_CELL_OUTPUTS_JS = """
() => Array.from(
    document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell'),
    cell => {
        const outs = Array.from(cell.querySelectorAll('.jp-OutputArea-output'));
        const imgs = Array.from(cell.querySelectorAll('.jp-OutputArea-output img'));
        const views = outs.filter(o =>
            o.getAttribute('data-mime-type') === 'application/vnd.jupyter.widget-view+json');
        const text = outs.map(o => o.textContent || '').join('\\n');
        return {
            images: imgs.length,
            broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length,
            widget_views: views.length,
            empty_widget_views: views.filter(v => !v.querySelector('.jupyter-widgets')).length,
            widget_errors: (text.match(/Error displaying widget[^\\n]*/g) || []),
            loading_widgets: (text.match(/Loading widget/g) || []).length,
        };
    })
"""

#: ``src`` of every output image inside one cell element.
_IMAGE_SOURCES_JS = """
cell => Array.from(cell.querySelectorAll('.jp-OutputArea-output img'),
                   img => (img.complete && img.naturalWidth > 0) ? img.src : '')
"""


# ---------------------------------------------------------------------------
# Reading notebook cells
# ---------------------------------------------------------------------------


def cell_source(cell: dict[str, Any]) -> str:
    """A notebook cell's source as one string (nbformat allows a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def cell_tags(cell: dict[str, Any]) -> set[str]:
    """The ``metadata.tags`` of a notebook cell."""
    return set(cell.get("metadata", {}).get("tags", []))


def draws_figure(source: str) -> bool:
    """Whether a code cell draws a figure at top level (the per-cell rule).

    True when a line that is not indented (so not inside a function body)
    calls a plotting function: ``plt.<anything>(``, ``<x>.plot(`` and the other
    common Axes drawing methods, or any function whose name contains ``plot``
    (``plot_soc_profile(...)``).  Definitions, imports, decorators, comments and
    ``print(...)`` lines do not count.
    """
    for line in source.splitlines():
        if not line or line[0].isspace():
            continue
        if _NOT_DRAWING.match(line):
            continue
        code = line.split("#", 1)[0]
        if _DRAWING_CALL.search(code):
            return True
    return False


def mentions_plotting(sources: list[str]) -> bool:
    """Whether any code cell plots at all (the notebook-wide rule)."""
    return any(_ANY_PLOTTING.search(source) for source in sources)


# ---------------------------------------------------------------------------
# Browser
# ---------------------------------------------------------------------------


def chromium_path() -> Path:
    """Where Chromium is expected (``$BINN_CHROMIUM`` or ``/usr/bin/chromium``)."""
    return Path(os.environ.get("BINN_CHROMIUM", DEFAULT_CHROMIUM))



def skip_module_without_browser(what: str) -> Path:
    """Skip the calling test module unless Chromium and Playwright are there; return Chromium's path."""
    import pytest

    chromium = chromium_path()
    if not chromium.exists():
        pytest.skip(f"no Chromium at {chromium} (apt-get install chromium) — {what} skipped", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", exc_type=ImportError,
                        reason=f"playwright is not importable (pip install -e '.[browser]') — {what} skipped")
    return chromium

def launch_chromium(playwright: Any, executable: Path) -> Any:
    """Start headless Chromium through an already started Playwright."""
    return playwright.chromium.launch(
        executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)


@dataclass
class NotebookRun:
    """What happened when one notebook was run in the browser.

    Attributes
    ----------
    name
        Notebook file name, e.g. ``01_matrix_model.ipynb``.
    problems
        Human-readable failures; empty means the notebook passed.
    seconds_open, seconds_run, seconds_check
        Wall-clock time to open it and get an idle kernel, to run all cells,
        and to save, check and take screenshots (s).
    screenshots
        Files written for a reviewer.
    console_errors
        Console errors and uncaught page errors (also in ``problems``).
    outside_requests
        Addresses outside 127.0.0.1 the page asked for (answered locally).
    page
        The still open Playwright page, or None once closed.
    content
        The notebook JSON as saved after the run.
    """

    name: str
    problems: list[str] = field(default_factory=list)
    seconds_open: float = 0.0
    seconds_run: float = 0.0
    seconds_check: float = 0.0
    screenshots: list[Path] = field(default_factory=list)
    page: Any = None
    content: dict[str, Any] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.name}: open {self.seconds_open:.1f} s, run {self.seconds_run:.1f} s, "
                f"check {self.seconds_check:.1f} s, {len(self.problems)} problem(s)")
        if self.outside_requests:
            text += f"; answered locally: {', '.join(sorted(set(self.outside_requests)))}"
        return text


def _wait_for_idle_kernel(page: Any, timeout_s: float) -> None:
    """Wait for the status bar's ``| Idle`` (the kernel exists and is idle)."""
    page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\|\s*Idle")).first.wait_for(
        state="visible", timeout=timeout_s * 1000)


def _dialog_text(page: Any) -> str | None:
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        return " ".join(dialog.first.inner_text().split())
    return None


def _click_menu(page: Any, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).first.click()


def _prompts(page: Any) -> list[str | None]:
    return page.evaluate(_PROMPTS_JS)


def _run_all_and_wait(page: Any, timeout_s: float) -> list[str | None]:
    """Click Run All, wait until no cell is queued or running; return prompts.

    Done means: no ``[*]`` prompt, at least one numbered prompt, status bar
    ``| Idle``, and no widget still loading -- seen twice 0.3 s apart.  When a
    cell raises, the kernel aborts the cells queued after it (their prompts go
    back to ``[ ]``), so a failing notebook ends early instead of timing out.
    """
    idle = page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\|\s*Idle")).first
    _click_menu(page, "Run", "Run All Cells")
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    clicked_again = False
    stable = 0
    while time.monotonic() < deadline:
        prompts = [p for p in _prompts(page) if p is not None]
        running = any("*" in p for p in prompts)
        numbered = any(re.search(r"\d", p) for p in prompts)
        if not running and not numbered:
            if not clicked_again and time.monotonic() - started > 10:
                _click_menu(page, "Run", "Run All Cells")  # the first click went nowhere
                clicked_again = True
            stable = 0
        elif not running and idle.is_visible():
            loading = sum(c["loading_widgets"] for c in page.evaluate(_CELL_OUTPUTS_JS))
            stable = stable + 1 if loading == 0 else 0
            if stable >= 2:
                return _prompts(page)
        else:
            stable = 0
        dialog = _dialog_text(page)
        if dialog:
            raise HarnessError(f"a JupyterLab dialog appeared while running: {dialog!r}")
        time.sleep(0.3)
    prompts = _prompts(page)
    stuck = [i for i, p in enumerate(prompts) if p is not None and "*" in p]
    raise TimeoutError(
        f"cells still queued or running after {timeout_s:.0f} s "
        f"(cell indices {stuck}; raise BINN_BROWSER_TIMEOUT_S if the notebook is just slow)")


def _is_save_of(relative_path: str) -> Any:
    quoted = urllib.parse.quote(relative_path)

    def matches(response: Any) -> bool:
        return (response.request.method == "PUT"
                and urllib.parse.urlparse(response.url).path.endswith(f"/api/contents/{quoted}"))
    return matches


def _save(page: Any, server: JupyterLabServer, relative_path: str) -> dict[str, Any]:
    """Save the notebook from the browser (*File > Save Notebook*) and return
    the saved JSON, read back through the contents API once the save's PUT
    request has been answered (reading earlier may see a half-written file)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _attempt in range(2):
        try:
            with page.expect_response(_is_save_of(relative_path), timeout=15_000) as saved:
                _click_menu(page, "File", "Save Notebook")
            if saved.value.ok:
                return server.notebook_content(relative_path)["content"]
            raise HarnessError(f"{relative_path}: saving failed with HTTP {saved.value.status}")
        except PlaywrightTimeout:
            dialog = _dialog_text(page)
            if dialog:
                raise HarnessError(f"{relative_path}: a dialog appeared on saving: {dialog!r}")
    raise HarnessError(f"{relative_path}: JupyterLab sent no save request")


def find_problems(content: dict[str, Any], cell_outputs: list[dict[str, Any]],
                  console_errors: list[str]) -> list[str]:
    """Every rule a finished notebook must satisfy, as a list of failures.

    Rules
    -----
    * Every code cell with source finished with an execution count.
    * No output of type ``error`` (a traceback).  Warnings on stderr are allowed.
    * No JavaScript console error and no uncaught page error.
    * Every widget rendered: no "Error displaying widget", every widget
      output holds a rendered widget, no widget still "Loading".
    * Every output image decoded (``naturalWidth > 0``).
    * Figures: a code cell tagged ``figure``, or one that draws at top level
      (see :func:`draws_figure`) and is not tagged ``no-figure``, shows at least
      one image in its output (widget outputs included); and a notebook
      that plots anywhere shows at least one image in all.

    Parameters
    ----------
    content
        The saved notebook JSON (cells in order).
    cell_outputs
        Per cell, in the same order, the DOM summary from ``_CELL_OUTPUTS_JS``.
    console_errors
        Console ``error`` messages and page errors collected while open.
    """
    problems: list[str] = []
    cells = content.get("cells", [])
    if len(cells) != len(cell_outputs):
        problems.append(f"page shows {len(cell_outputs)} cells but the notebook has {len(cells)}")
    code_sources = []
    for index, (cell, dom) in enumerate(zip(cells, cell_outputs)):
        if cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        code_sources.append(source)
        first_line = next((line for line in source.splitlines() if line.strip()), "")
        where = f"cell {index} ({first_line[:60]!r})"
        if source.strip() and cell.get("execution_count") is None:
            problems.append(f"{where} did not run (no execution count)")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(
                    f"{where} raised {output.get('ename')}: {output.get('evalue')}")
        for message in dom["widget_errors"]:
            problems.append(f"{where}: {message}")
        if dom["empty_widget_views"]:
            problems.append(
                f"{where}: {dom['empty_widget_views']} widget output(s) rendered nothing")
        if dom["loading_widgets"]:
            problems.append(f"{where}: widget still 'Loading widget...'")
        if dom["broken_images"]:
            problems.append(f"{where}: {dom['broken_images']} image(s) failed to load")
        tags = cell_tags(cell)
        wants_figure = TAG_FIGURE in tags or (draws_figure(source) and TAG_NO_FIGURE not in tags)
        if wants_figure and dom["images"] == 0 and cell.get("execution_count") is not None:
            problems.append(
                f"{where} draws a figure but shows no image "
                f"(tag the cell '{TAG_NO_FIGURE}' if that is intended)")
    if mentions_plotting(code_sources) and sum(d["images"] for d in cell_outputs) == 0:
        problems.append("the notebook plots but no figure appeared anywhere")
    problems.extend(f"browser console: {message}" for message in console_errors)
    return problems


#: Any http(s) address that is not this machine's loopback server.
_OUTSIDE = re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])")
#: Served instead of an outside image (a notebook's Colab/Binder badges).
_BLANK_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'


def stay_offline(page: Any, requested: list[str]) -> None:
    """Answer every request for an outside address locally and note it.

    CI machines have no internet; the badges in a tutorial's first cell
    would then log ``net::ERR_NAME_NOT_RESOLVED`` console errors.  Images get
    a blank 1 x 1 SVG, anything else an empty 204 answer; ``requested``
    collects the addresses so the report can list them.
    """
    def answer(route: Any) -> None:
        requested.append(route.request.url)
        if route.request.resource_type == "image":
            route.fulfill(status=200, content_type="image/svg+xml", body=_BLANK_SVG)
        else:
            route.fulfill(status=204, body="")

    page.route(_OUTSIDE, answer)


def _shorten(message: str, lines: int = 3) -> str:
    """First lines of a console message (stack traces can be long)."""
    kept = message.splitlines()[:lines]
    return "\n    ".join(kept) + (" ..." if len(message.splitlines()) > lines else "")


def open_notebook(page: Any, server: JupyterLabServer, relative_path: str,
                  timeout_s: float, console_errors: list[str],
                  outside_requests: list[str] | None = None) -> None:
    """Open one notebook in an empty page and wait for an idle kernel.

    The kernel is started through the REST API first, so it boots while
    JupyterLab loads.  Console errors and page errors go to
    ``console_errors``; requests to outside addresses are answered locally
    (see :func:`stay_offline`) and listed in ``outside_requests``.
    """
    stay_offline(page, outside_requests if outside_requests is not None else [])

    def on_console(message: Any) -> None:
        if message.type == "error":
            console_errors.append(_shorten(message.text))

    page.on("console", on_console)
    page.on("pageerror", lambda error: console_errors.append(f"page error: {_shorten(str(error))}"))
    server.start_session(relative_path)
    page.goto(server.notebook_url(relative_path), timeout=timeout_s * 1000)
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(
        state="visible", timeout=timeout_s * 1000)
    _wait_for_idle_kernel(page, timeout_s)


def screenshot_cells(page: Any, run: NotebookRun, folder: Path, stem: str) -> None:
    """One screenshot per cell that shows an image or a widget."""
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
    summary = page.evaluate(_CELL_OUTPUTS_JS)
    for index, dom in enumerate(summary):
        if dom["images"] or dom["widget_views"]:
            path = folder / f"{stem}-cell{index:02d}.png"
            cells.nth(index).screenshot(path=str(path))
            run.screenshots.append(path)


def run_notebook(context: Any, server: JupyterLabServer, relative_path: str,
                 timeout_s: float, screenshot_dir: Path, keep_open: bool = False) -> NotebookRun:
    """Open, run, save and check one notebook; take screenshots.

    The page is closed and the notebook's kernel shut down afterwards, unless
    ``keep_open`` (the caller then owns ``run.page`` and closes it with
    :func:`close_kept_page`).  Failures of the notebook
    are returned in ``run.problems``; only harness failures raise.
    """
    stem = Path(relative_path).stem
    run = NotebookRun(name=relative_path)
    page = context.new_page()
    try:
        t0 = time.monotonic()
        open_notebook(page, server, relative_path, timeout_s, run.console_errors,
                      run.outside_requests)
        t1 = time.monotonic()
        run.seconds_open = t1 - t0
        try:
            _run_all_and_wait(page, timeout_s)
        except TimeoutError as err:
            run.problems.append(str(err))
        t2 = time.monotonic()
        run.seconds_run = t2 - t1
        run.content = _save(page, server, relative_path)
        cell_outputs = page.evaluate(_CELL_OUTPUTS_JS)
        run.problems.extend(find_problems(run.content, cell_outputs, run.console_errors))
        final = screenshot_dir / f"{stem}-final.png"
        page.screenshot(path=str(final))
        run.screenshots.append(final)
        screenshot_cells(page, run, screenshot_dir, stem)
        run.seconds_check = time.monotonic() - t2
    except Exception:
        with contextlib.suppress(Exception):  # evidence for the reviewer, if possible
            page.screenshot(path=str(screenshot_dir / f"{stem}-harness-error.png"))
        page.close()
        server.shutdown_session_soon(relative_path)
        raise
    if keep_open:
        run.page = page
    else:
        page.close()
        server.shutdown_session_soon(relative_path)
    return run


def close_kept_page(server: JupyterLabServer, run: NotebookRun) -> None:
    """Close a page kept open by ``run_notebook(keep_open=True)``; stop its kernel."""
    if run.page is None:
        return
    try:
        run.page.close()
    finally:
        run.page = None
        server.shutdown_session_soon(run.name)


# ---------------------------------------------------------------------------
# The parameter explorer
# ---------------------------------------------------------------------------


@dataclass
class SliderStep:
    """One key press on the explorer slider and what the plot did."""

    key: str
    value_before: str
    value_after: str
    images_after: list[str]
    seconds: float


def _explorer_cell_index(content: dict[str, Any], page: Any) -> int:
    """Index of the explorer cell: tagged ``parameter-explorer``, else the
    first cell holding a ``.widget-slider``; -1 when there is none."""
    for index, cell in enumerate(content.get("cells", [])):
        if TAG_EXPLORER in cell_tags(cell):
            return index
    index = page.evaluate(
        """() => Array.from(document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell'))
               .findIndex(cell => cell.querySelector('.widget-slider [role=slider]'))""")
    return int(index)


def check_slider_explorer(page: Any, content: dict[str, Any], steps: int = 2,
                          step_timeout_s: float = 60.0, moved_screenshot: Path | None = None
                          ) -> tuple[list[str], list[SliderStep]]:
    """Move the explorer's first slider ``steps`` key presses away and back.

    The slider is the first ``.widget-slider [role=slider]`` in the explorer
    cell (see :func:`_explorer_cell_index`).  It moves towards the end with
    more room; after each key press the test waits until the value changed,
    the kernel is idle and the cell's images differ from the previous ones.
    Moving back must reproduce, step by step, exactly the images seen on the
    way out (same PNG data), ending with the original plot.

    If ``moved_screenshot`` is given, the explorer cell is photographed there
    when the slider is farthest from its start.

    Returns
    -------
    problems, steps
        Failures (empty when all is well) and the record of each key press.
    """
    problems: list[str] = []
    record: list[SliderStep] = []
    index = _explorer_cell_index(content, page)
    if index < 0:
        return ["no ipywidgets slider (.widget-slider [role=slider]) in the notebook"], record
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)
    handle = cell.locator(".widget-slider [role=slider]").first
    if handle.count() == 0:
        return [f"explorer cell {index} holds no ipywidgets slider"], record
    idle = page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\|\s*Idle")).first
    cell_element = cell.element_handle()

    def images() -> list[str]:
        return page.evaluate(_IMAGE_SOURCES_JS, cell_element)

    def value() -> str:
        # aria-valuetext is the full value; noUiSlider rounds aria-valuenow to
        # one decimal, which hides steps such as 0.05.
        return handle.get_attribute("aria-valuetext") or ""

    original = images()
    if not original or "" in original:
        return [f"explorer cell {index} shows no (loaded) plot before the slider moves"], record
    low, high = handle.evaluate(
        """handle => {
            const slider = handle.closest('.noUi-target')?.noUiSlider;
            if (slider) return [slider.options.range.min, slider.options.range.max];
            return [Number(handle.getAttribute('aria-valuemin')),
                    Number(handle.getAttribute('aria-valuemax'))];
        }""")
    start_value = value()
    forward, back = ("ArrowRight", "ArrowLeft")
    if float(start_value) - float(low) > float(high) - float(start_value):
        forward, back = back, forward

    seen = [original]
    plan = [forward] * steps + [back] * steps
    for number, key in enumerate(plan):
        before_value, before_images = value(), images()
        going_back = number >= steps
        target = seen[steps - (number - steps) - 1] if going_back else None
        t0 = time.monotonic()
        handle.focus()
        page.keyboard.press(key)
        deadline = t0 + step_timeout_s
        while True:
            now_images = images()
            settled = (value() != before_value and idle.is_visible()
                       and len(now_images) == len(original) and "" not in now_images)
            if settled and going_back and now_images == target:
                break
            if settled and not going_back and now_images != before_images:
                break
            if time.monotonic() > deadline:
                what = "restore the earlier plot" if going_back else "change the plot"
                problems.append(
                    f"slider key {key} (step {number + 1} of {len(plan)}, value "
                    f"{before_value} -> {value()}) did not {what} within {step_timeout_s:.0f} s")
                return problems, record
            time.sleep(0.2)
        record.append(SliderStep(key, before_value, value(), now_images, time.monotonic() - t0))
        if not going_back:
            seen.append(now_images)
        if number == steps - 1 and moved_screenshot is not None:
            cell.screenshot(path=str(moved_screenshot))
    if value() != start_value:
        problems.append(f"slider ended at {value()} instead of {start_value}")
    if images() != original:
        problems.append("moving the slider back did not restore the original plot exactly")
    return problems, record
