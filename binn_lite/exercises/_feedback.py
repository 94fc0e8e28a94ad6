"""Feedback helpers shared by every exercise checker.

A checker returns ``True`` (right), ``False`` (wrong, with a hint) or ``None`` (not answered yet),
and prints one line a learner can act on. Unanswered exercises never raise, so a notebook with
open exercises still runs top to bottom.
"""
from __future__ import annotations

from typing import Any

CORRECT = "✅ Correct"
WRONG = "❌ Not quite"
NOT_ANSWERED = "⏳ Not answered yet"


def unanswered(answer: Any) -> bool:
    """True (and says so) when the placeholder ``...`` or ``None`` is still in place."""
    if answer is None or answer is Ellipsis:
        print(f"{NOT_ANSWERED}: replace the ... with your answer and run the cell again.")
        return True
    return False


def correct(message: str = "") -> bool:
    print(f"{CORRECT}{': ' + message if message else '.'}")
    return True


def wrong(hint: str) -> bool:
    print(f"{WRONG}: {hint}")
    return False
