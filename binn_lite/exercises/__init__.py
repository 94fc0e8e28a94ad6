"""Checkers for the tutorial exercises: ``check.<name>(answer, ...)`` prints feedback and returns
``True`` (right), ``False`` (wrong) or ``None`` (not answered yet). One module per notebook.

In a notebook: ``from binn_lite import exercises as check``; ``check.hint("02.1")`` prints a hint and
``check.show_solution("02.1")`` shows the solution of exercise 1 of tutorial 02 (:mod:`.hints`).
"""
from ._feedback import correct, unanswered, wrong  # noqa: F401
from .hints import hint, show_solution  # noqa: F401
# one line per notebook module below (append only)
from .matrix_model import *  # noqa: F401,F403
from .process_models import *  # noqa: F401,F403
from .kan_interpretation import *  # noqa: F401,F403
from .binn_training import *  # noqa: F401,F403
from .parameter_recovery import *  # noqa: F401,F403
from .uncertainty import *  # noqa: F401,F403
from .byod import *  # noqa: F401,F403
