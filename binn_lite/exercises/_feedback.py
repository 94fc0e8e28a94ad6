"""Feedback helpers shared by every exercise checker.

A checker returns ``True`` (right), ``False`` (wrong, with a hint) or ``None`` (not answered yet),
and prints one line a learner can act on. Unanswered exercises never raise, so a notebook with
open exercises still runs top to bottom.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

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


def number(answer: Any, what: str, nan_hint: str = "") -> float | None:
    """The answer as one finite float, or ``None`` after a hint naming ``what`` was expected.

    Accepts Python numbers, NumPy scalars and one-element arrays or tensors; ``nan_hint`` is added
    to the message when the answer is NaN.
    """
    if isinstance(answer, (str, bytes)):
        wrong(f"{what} should be one number (a float), not text: {answer!r}")
        return None
    if isinstance(answer, torch.Tensor):
        answer = answer.detach().cpu().numpy()
    try:
        value = float(np.asarray(answer, dtype=float).reshape(()))
    except (TypeError, ValueError):
        wrong(f"{what} should be one number (a float); got {type(answer).__name__} {answer!r}")
        return None
    if not math.isfinite(value):
        wrong(f"{what} is {value}; it should be a finite number{nan_hint if math.isnan(value) else ''}")
        return None
    return value


def name_and_value(answer: Any, name: str, value: str, example: str) -> tuple[str, float] | None:
    """A choice answered as a pair ``(name, value)``: the name as text and one finite number.

    Asking for the value that decides the choice keeps a choice from being guessed. ``None``
    (after a hint that quotes ``example``, e.g. ``"('clay', 0.12)"``) when the answer is not such a pair.
    """
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__len__") or len(answer) != 2:
        wrong(f"give a pair ({name}, {value}), e.g. {example}; got {answer!r}")
        return None
    label, number_part = answer
    if not isinstance(label, str):
        wrong(f"the first element of the pair is the {name} as text; got {label!r}")
        return None
    parsed = number(number_part, f"the {value}")
    return None if parsed is None else (label, parsed)
