"""How many CPU threads torch uses while binn_lite computes, and why one by default.

A BINN's tensors are small (a few hundred sites x 20 layers x 7 pools): shared out over several
threads they gain little, and when another process keeps a core busy, torch's OpenMP threads
spin-wait for the one that cannot run. Measured on the 2-core machine (2026-11-29), alone and beside
one busy process:

===========================================  ===================  ===================
what                                         2 threads            1 thread
===========================================  ===================  ===================
``fit``, 10 sparse + 2 L-BFGS epochs (KAN)   3.2 s / 26.7 s       3.3 s / 3.9 s
``per_site_mcmc``, 6 sites, 4 x 600 iter.    1.37 s / 8.00 s      1.38 s / 1.38 s
``predict_dataset`` x 3, 1,500 sites         0.11 s / 0.65 s      0.14 s / 0.16 s
===========================================  ===================  ===================

So :func:`~binn_lite.train.fit`, :func:`~binn_lite.mcmc.per_site_mcmc`,
:meth:`~binn_lite.binn.BINN.predict_dataset`, :func:`~binn_lite.projection.project` and
:func:`~binn_lite.uncertainty.mc_dropout` run on :data:`DEFAULT_THREADS` thread unless their
``num_threads`` says otherwise (None: leave torch's setting), and restore torch's setting afterwards
(:func:`with_num_threads` on the functions, :func:`torch_threads` inside ``fit``).
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import numbers
from typing import Any, Callable, Iterator, TypeVar

import torch

from .errors import BinnInputError

__all__ = ["DEFAULT_THREADS", "checked_num_threads", "torch_threads", "with_num_threads"]

#: torch CPU threads of binn_lite's heavy functions (see the table above)
DEFAULT_THREADS = 1


def checked_num_threads(n: Any) -> int | None:
    """``n`` as an ``int`` (from a numpy integer or a whole float such as 2.0 too), or None; a clear
    error for anything else (2.5, "2", True, 0)."""
    if n is None:
        return None
    whole = isinstance(n, numbers.Integral) or (isinstance(n, numbers.Real) and float(n).is_integer())
    if isinstance(n, bool) or not whole or n < 1:
        raise BinnInputError(f"num_threads must be a whole number >= 1 or None, got {n!r}")
    return int(n)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n)`` (nothing if ``n`` is None), then restore."""
    n = checked_num_threads(n)
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


_F = TypeVar("_F", bound=Callable[..., Any])


def with_num_threads(function: _F) -> _F:
    """Run ``function`` under :func:`torch_threads` with its own ``num_threads`` argument (default:
    the one in its signature), set before anything else in it runs."""
    signature = inspect.signature(function)
    default = signature.parameters["num_threads"].default

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch_threads(signature.bind(*args, **kwargs).arguments.get("num_threads", default)):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
