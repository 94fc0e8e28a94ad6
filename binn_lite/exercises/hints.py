"""Hints and solutions of the tutorial exercises, from the installed package (Colab included).

    from binn_lite.exercises import hint, show_solution
    hint("02.1")            # prints a hint for exercise 1 of tutorial 02
    show_solution("02.1")   # the solution code: a collapsed block in Jupyter, plain text elsewhere

An exercise is named ``"NN.k"``: tutorial ``NN``, exercise ``k``. The solutions are package data,
one file per tutorial, ``binn_lite/exercises/solutions/NN_<name>.py``, read with
:mod:`importlib.resources` (so they work in any install, editable or not). Each file holds
``# %% hint-<k>`` and ``# %% exercise-<k>`` sections; an exercise section is the full replacement
of the notebook cell tagged ``exercise-<k>`` (``tests/test_tutorials.py`` runs every notebook with
them filled in).
"""
from __future__ import annotations

import html
import re
import sys
from importlib import resources

from ..errors import BinnInputError

__all__ = ["hint", "show_solution", "solution", "solution_sections"]

_SECTION = re.compile(r"^# %% ((?:exercise|hint)-\d+)\s*$", re.MULTILINE)
_NAME = re.compile(r"^(\d{2})\.(\d+)$")


def _solution_files() -> dict[str, str]:
    """Tutorial number (``"01"``) -> file name (``"01_matrix_model.py"``) in the solutions folder."""
    folder = resources.files("binn_lite.exercises") / "solutions"
    return {entry.name[:2]: entry.name for entry in folder.iterdir()
            if entry.name.endswith(".py") and entry.name[:2].isdigit()}


def solution_sections(tutorial: str) -> dict[str, str]:
    """All sections of one tutorial's solution file: ``{"exercise-1": code, "hint-1": text, ...}``.

    ``tutorial`` is its number (``"02"``) or its notebook name (``"02_binn_training"``).
    """
    files = _solution_files()
    number = str(tutorial)[:2]
    if number not in files:
        raise BinnInputError(f"no exercises for tutorial {tutorial!r}; tutorials with exercises: "
                             f"{', '.join(sorted(files))}")
    text = (resources.files("binn_lite.exercises") / "solutions" / files[number]).read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    return {tag: body.strip() + "\n" for tag, body in zip(parts[1::2], parts[2::2])}


def _lookup(name: str, kind: str) -> str:
    match = _NAME.match(str(name).strip())
    if not match:
        raise BinnInputError(f"name an exercise as 'NN.k' (tutorial NN, exercise k), e.g. '02.1'; got {name!r}")
    tutorial, k = match.group(1), int(match.group(2))
    sections = solution_sections(tutorial)
    if f"{kind}-{k}" not in sections:
        known = sorted(int(tag.split("-")[1]) for tag in sections if tag.startswith("exercise-"))
        raise BinnInputError(f"tutorial {tutorial} has no exercise {k}; its exercises: "
                             f"{', '.join(f'{tutorial}.{j}' for j in known)}")
    return sections[f"{kind}-{k}"]


def solution(name: str) -> str:
    """The solution code of exercise ``name`` (``"NN.k"``) as text: the whole exercise cell."""
    return _lookup(name, "exercise")


def hint(name: str) -> None:
    """Print a hint for exercise ``name`` (``"NN.k"``), a step towards the answer, not the answer."""
    text = _lookup(name, "hint")
    lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.splitlines()]
    print(f"💡 Hint for exercise {name}:\n" + "\n".join(lines))


def _in_notebook() -> bool:
    """True in a Jupyter or Colab kernel, which can show HTML."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and type(shell).__name__ in ("ZMQInteractiveShell", "Shell")


def show_solution(name: str) -> None:
    """Show the solution of exercise ``name`` (``"NN.k"``): in Jupyter or Colab a collapsed block
    (click to open; the code can be selected and copied), elsewhere plain text."""
    code = solution(name)
    if _in_notebook():
        from IPython.display import HTML, display

        display(HTML(f"<details><summary>Solution of exercise {html.escape(name)} (click to open; "
                     "try it yourself first)</summary>\n<pre><code>" + html.escape(code)
                     + "</code></pre></details>"))
    else:
        print(f"# Solution of exercise {name}: paste it into the exercise cell\n{code}")
