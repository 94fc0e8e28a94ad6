"""End-to-end: every tutorial notebook runs cleanly in JupyterLab in Chromium.

What is tested
--------------
For every ``tutorials/*.ipynb`` (discovered, so a new notebook is tested
without touching this file), in a real JupyterLab 4 in headless Chromium:

* *Run > Run All Cells* finishes within ``BINN_BROWSER_TIMEOUT_S`` (240 s);
* every code cell has an execution count and no cell raised;
* no JavaScript console error or uncaught page error;
* every ipywidget rendered (no "Error displaying widget");
* figures where the notebook draws them: a code cell that calls a plotting
  function at top level (``plt.…(``, ``ax.plot(``, ``plot_something(``; not
  inside a ``def``), or a cell tagged ``figure``, shows at least one image --
  tag a cell ``no-figure`` to exempt it; and a notebook that plots anywhere
  shows at least one image in all (this catches plotting done only inside
  functions, e.g. behind ``interact``).

For ``01_matrix_model.ipynb`` also the parameter explorer: the explorer cell
is the cell tagged ``parameter-explorer``, or else the first cell holding an
ipywidgets slider; its first slider (``.widget-slider [role=slider]``) is moved
two key presses, one at a time (the plot must change at each), then back (the
plot must come back to exactly the same PNG at each step).

Screenshots of each notebook's final state, and of every cell with a figure
or widget, go to ``outputs/browser-screenshots/`` (printed by each test, with
timings; also written to ``summary.txt`` there).

The run is hermetic: JupyterLab serves a temporary copy of ``tutorials/``
(outputs stripped, kernelspec set to this environment's ``python3``) with its
own temporary configuration, and the page never reaches the internet --
requests to outside addresses (e.g. the Colab/Binder badges) are answered
locally and listed in the report.

Skips: without ``/usr/bin/chromium`` (Debian package ``chromium``), without
the ``playwright`` package, and, as one skipped module, while ``tutorials/``
holds no notebooks.  ``conftest.py`` lists the environment variables.

How to run: ``.venv/bin/python -m pytest tests/browser -rA``.  All browser
tests live in this one file so that ``pytest -n 2 --dist loadfile`` keeps them
on one worker with one server and one browser.
"""

from __future__ import annotations

import sys

import pytest

import lab_harness
from lab_harness import close_kept_page
from private_jupyterlab import discover_notebooks, tutorials_dir

pytestmark = pytest.mark.browser

CHROMIUM = lab_harness.skip_module_without_browser("browser tests")

NOTEBOOKS = [path.name for path in discover_notebooks(tutorials_dir())]
if not NOTEBOOKS:
    pytest.skip(f"no tutorials found in {tutorials_dir()} — browser tests skipped",
                allow_module_level=True)

#: The notebook with the parameter explorer.
EXPLORER_NOTEBOOK = "01_matrix_model.ipynb"


def _report(run: lab_harness.NotebookRun) -> str:
    lines = [run.summary()]
    if run.screenshots:
        lines.append(f"screenshots in {run.screenshots[0].parent}: "
                     + ", ".join(path.name for path in run.screenshots))
    return "\n".join(lines)


def _fail_if(problems: list[str], title: str, details: str = "") -> None:
    """Fail with a readable list (no traceback into the harness)."""
    if problems:
        pytest.fail(title + ":\n  " + "\n  ".join(problems) + ("\n" + details if details else ""),
                    pytrace=False)


def test_kernel_is_this_environment(lab_server):
    """The server's ``python3`` kernelspec runs the interpreter running pytest."""
    argv = lab_server.kernelspec_argv("python3")
    assert argv[:3] == [sys.executable, "-m", "ipykernel_launcher"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[name[:-6] for name in NOTEBOOKS])
def test_tutorial_runs_cleanly(notebook, notebook_runner, browser_report):
    run = notebook_runner(notebook, keep_open=(notebook == EXPLORER_NOTEBOOK))
    browser_report(_report(run))
    _fail_if(run.problems, f"{notebook} in JupyterLab", _report(run))


def test_parameter_explorer_slider(notebook_runner, lab_server, screenshot_dir, browser_report):
    if EXPLORER_NOTEBOOK not in NOTEBOOKS:
        pytest.skip(f"{EXPLORER_NOTEBOOK} not in {tutorials_dir()} yet")
    run = notebook_runner(EXPLORER_NOTEBOOK, keep_open=True)
    assert run.page is not None, "the explorer notebook's page was already closed"
    errors_before = len(run.console_errors)
    try:
        moved = screenshot_dir / f"{EXPLORER_NOTEBOOK[:-6]}-explorer-slider-moved.png"
        problems, steps = lab_harness.check_slider_explorer(
            run.page, run.content, moved_screenshot=moved)
        lines = [f"{EXPLORER_NOTEBOOK} explorer: slider {step.key} {step.value_before} -> "
                 f"{step.value_after}, new plot after {step.seconds:.2f} s" for step in steps]
        back = screenshot_dir / f"{EXPLORER_NOTEBOOK[:-6]}-explorer-slider-back.png"
        run.page.screenshot(path=str(back))
        lines.append(f"screenshots: {moved}, {back}")
        browser_report("\n".join(lines))
        problems += [f"browser console: {message}"
                     for message in run.console_errors[errors_before:]]
    finally:
        close_kept_page(lab_server, run)
    _fail_if(problems, f"{EXPLORER_NOTEBOOK}: parameter explorer")
