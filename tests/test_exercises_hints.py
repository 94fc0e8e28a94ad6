"""Hints and solutions from the installed package: binn_lite.exercises.hint / show_solution."""
from __future__ import annotations

import pytest

from binn_lite import exercises as check
from binn_lite.errors import BinnInputError
from binn_lite.exercises import hints


def test_hint_prints_a_hint_not_the_solution(capsys):
    check.hint("02.1")
    text = capsys.readouterr().out
    assert text.startswith("💡 Hint for exercise 02.1")
    assert "answer_1 =" not in text and "\n#" not in text  # comment markers stripped, no code


def test_show_solution_is_plain_text_outside_jupyter(capsys):
    check.show_solution("01.4")
    text = capsys.readouterr().out
    assert "Solution of exercise 01.4" in text and "check.check_soc_at_1m(answer_4" in text


def test_show_solution_is_a_collapsed_block_in_jupyter(monkeypatch):
    shown = []
    monkeypatch.setattr(hints, "_in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", shown.append)
    hints.show_solution("03.2")
    html = shown[0].data
    assert html.startswith("<details><summary>") and "</details>" in html and "<details open" not in html
    assert "ss_res" in html and "&quot;w_scaling&quot;" in html  # the code, escaped


def test_every_exercise_has_a_hint_and_a_solution():
    for tutorial in ("01", "02", "03", "04", "05"):
        sections = hints.solution_sections(tutorial)
        exercises = sorted(tag for tag in sections if tag.startswith("exercise-"))
        assert exercises and [t.replace("exercise", "hint") for t in exercises] == sorted(
            tag for tag in sections if tag.startswith("hint-"))
        for tag in exercises:
            assert hints.solution(f"{tutorial}.{tag.split('-')[1]}") == sections[tag]


@pytest.mark.parametrize("name", ["2.1", "02", "02.x", "99.1", "02.9"])
def test_unknown_exercises_are_named(name):
    with pytest.raises(BinnInputError):
        check.hint(name)
