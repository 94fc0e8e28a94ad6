"""The tutorial series: opening template, stripped outputs, one repository address, exercises.

The notebooks themselves run under nbval (``make test`` collects ``tutorials/*.ipynb``) and in a
real browser (``tests/browser``). Here each notebook with exercises is also executed with the
solutions of the installed package (``binn_lite/exercises/solutions/<stem>.py``, read by
:mod:`binn_lite.exercises.hints`) filled in, and every checker must say it is right.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from binn_lite import _repo
from binn_lite.exercises.hints import solution_sections

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "tutorials"
SERIES = ["00_quickstart", "01_matrix_model", "02_binn_training", "03_parameter_recovery",
          "04_kan_interpretation", "05_your_own_process_model", "06_uncertainty_and_projections",
          "07_your_own_data"]
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
EXERCISE_TAG = re.compile(r"^exercise-(\d+)$")


def load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def exercise_cells(notebook) -> dict[str, nbformat.NotebookNode]:
    cells = {}
    for cell in notebook.cells:
        for tag in cell.get("metadata", {}).get("tags", []):
            if EXERCISE_TAG.match(tag):
                assert tag not in cells, f"tag {tag} used twice"
                cells[tag] = cell
    return cells


def test_the_whole_series_is_there():
    assert [p.stem for p in NOTEBOOKS] == SERIES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stripped(path):
    notebook = load(path)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {index} has stored output"
    assert "widgets" not in notebook.metadata, "stored widget state"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opening_cells_follow_the_template(path):
    first, second = load(path).cells[:2]
    assert first.cell_type == "markdown" and second.cell_type == "code"
    lines = first.source.splitlines()
    assert lines[0] == _repo.badges(path.name), "first line must be the Colab + Binder badges"
    assert re.search(rf"^# {path.stem[:2]} · \S", first.source, re.MULTILINE), "title '# NN · ...'"
    assert re.search(r"^\*\*Learning goals\*\*", first.source, re.MULTILINE)
    assert re.search(r"^- ", first.source.split("**Learning goals**")[1], re.MULTILINE), "goals as a bullet list"
    assert re.search(r"^\*\*Estimated time:\*\* \d+ minutes", first.source, re.MULTILINE)
    assert second.source.strip() == _repo.install_cell().strip()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_installs_or_replaces_colab_packages(path):
    for cell in load(path).cells[2:]:
        assert not re.search(r"pip install", cell.source), "only the opening cell installs anything"


def test_the_install_cell_never_installs_torch():
    pip_lines = [line for line in _repo.install_cell().splitlines() if "pip install" in line]
    assert len(pip_lines) == 1 and "torch" not in pip_lines[0] and " -U" not in pip_lines[0]
    assert 'if "google.colab" in sys.modules:' in _repo.install_cell()


def test_every_copy_of_the_repository_address_agrees_with_repo_py():
    for path in [ROOT / "README.md", *NOTEBOOKS]:
        text = path.read_text()
        assert _repo._rewrite(text) == text, f"{path.name} points elsewhere: run python -m binn_lite._repo --sync"
    assert _repo.REPOSITORY in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem != "00_quickstart"], ids=lambda p: p.stem)
def test_exercises_have_checkers_and_solutions(path):
    cells = exercise_cells(load(path))
    assert 2 <= len(cells) <= 4, f"{len(cells)} exercises"
    assert sorted(cells) == [f"exercise-{k}" for k in range(1, len(cells) + 1)]
    sections = solution_sections(path.stem)
    solutions = {tag: code for tag, code in sections.items() if tag.startswith("exercise-")}
    assert sorted(solutions) == sorted(cells), "one solution section per exercise"
    assert sorted(tag for tag in sections if tag.startswith("hint-")) == [f"hint-{k}" for k in range(1, len(cells) + 1)]
    for tag, cell in cells.items():
        assert "check." in cell.source and "..." in cell.source, f"{tag}: placeholder and checker call"
        assert re.search(r"check\.\w+\(", solutions[tag]), f"{tag}: the solution calls the checker"


def filled_in(path: Path) -> nbformat.NotebookNode:
    notebook = load(path)
    solutions = solution_sections(path.stem)
    for tag, cell in exercise_cells(notebook).items():
        cell.source = solutions[tag]
    return notebook


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem != "00_quickstart"], ids=lambda p: p.stem)
def test_notebook_runs_with_solutions_and_every_checker_agrees(path, tmp_path):
    from nbclient import NotebookClient

    notebook = filled_in(path)
    shutil.copytree(TUTORIALS, tmp_path / "tutorials", ignore=shutil.ignore_patterns("*.ipynb"))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path / "tutorials")}}).execute()
    for tag, cell in exercise_cells(notebook).items():
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "✅" in text and "❌" not in text and "⏳" not in text, f"{tag} printed: {text!r}"
