"""The package's own exceptions: what went wrong, named, so a script can catch exactly that.

Every public entry point of binn_lite raises one of these for a problem of the user's input or
run, never a raw pandas or torch error. Each subclasses the built-in exception a Python user
would expect (``except ValueError`` keeps working), and each message names what it can of the
file, column, site and value involved.

=======================  ============================  ==============================================
exception                also a                        raised when
=======================  ============================  ==============================================
``BinnError``            ``Exception``                 (the base: ``except BinnError`` catches all)
``BinnInputError``       ``ValueError``, ``TypeError``  a table, file, forcing, parameter or argument
                                                       is malformed, of the wrong kind, out of range
                                                       or inconsistent
``MissingFileError``     ``BinnInputError``,           an input file does not exist
                         ``FileNotFoundError``
``CheckpointError``      ``ValueError``                a saved BINN is damaged, of another format or
                                                       version, or does not fit what it is loaded into
``TrainingDiverged``     ``RuntimeError``              ``fit`` stopped because the loss or the
                                                       parameters ran away (the message says why and
                                                       what to change)
=======================  ============================  ==============================================
"""
from __future__ import annotations

__all__ = ["BinnError", "BinnInputError", "MissingFileError", "CheckpointError", "TrainingDiverged"]


class BinnError(Exception):
    """Base class of every binn_lite exception."""


class BinnInputError(BinnError, ValueError, TypeError):
    """Bad input: the message names the file, column, site and value where it can.

    Also a ``TypeError``, so code that catches a wrong kind of argument that way keeps working.
    """


class MissingFileError(BinnInputError, FileNotFoundError):
    """An input file does not exist (also a ``FileNotFoundError``)."""


class CheckpointError(BinnError, ValueError):
    """A saved BINN cannot be loaded: damaged, another format or version, or a mismatch."""


class TrainingDiverged(BinnError, RuntimeError):
    """Training stopped: the loss or the parameters diverged."""
