"""Symbolic fitting: replace a KAN head's learned edges by closed-form functions (pykan).

Every edge ``phi_ij`` is replaced by its best fit ``c f(a x + b) + d`` with ``f`` from a small
library (``x``, ``x^2``, ``exp``, ...); summing the edges into each output node gives a formula
for the pre-activation ``u_j`` (Liu et al. 2024, section 2.5.1).
:func:`binn_lite.interpret.symbolic_formulas` is the user-facing entry point.
"""
from __future__ import annotations

import warnings
from typing import Sequence

from torch import Tensor

from ..errors import BinnInputError
from .base import quiet

__all__ = ["KANSymbolic", "round_floats"]


def round_floats(expr, n_digits: int = 3):
    """A sympy expression with every float rounded to ``n_digits`` significant digits."""
    import sympy

    return expr.xreplace({f: sympy.Float(float(f"{float(f):.{n_digits}g}")) for f in expr.atoms(sympy.Float)})


class KANSymbolic:
    """Mixin of :class:`~binn_lite.heads.kan.KANHead`: :meth:`auto_symbolic` and
    :meth:`symbolic_formula`.

    Uses the head's ``kan`` (the pykan network), ``verbose``, ``n_inputs`` and
    ``collect_activations(x)``.
    """

    def auto_symbolic(
        self,
        x: Tensor,
        lib: Sequence[str] | None = ("x", "x^2", "exp", "log", "abs", "sin"),
        weight_simple: float = 0.8,
        r2_threshold: float = 0.0,
        a_range: tuple[float, float] = (-10.0, 10.0),
        b_range: tuple[float, float] = (-10.0, 10.0),
    ):
        """Replace every edge by its best fit ``c f(a x + b) + d`` from ``lib`` (in place).

        The fits use the edge activations on ``x``. Afterwards the symbolic branch is on and
        the numerical splines are masked, so the head computes the symbolic model. Use
        ``copy.deepcopy(head)`` (or ``head.copy()``) first to keep the trained head. Returns self.
        """
        self.collect_activations(x)
        with quiet(self.verbose):
            self.kan.auto_symbolic(
                a_range=a_range,
                b_range=b_range,
                lib=None if lib is None else list(lib),
                verbose=1 if self.verbose else 0,
                weight_simple=weight_simple,
                r2_threshold=r2_threshold,
            )
        self.kan.symbolic_enabled = True
        return self

    def symbolic_formula(self, names: Sequence[str] | None = None, n_digits: int = 3) -> list:
        """Sympy expressions for the pre-activations ``u_j`` after :meth:`auto_symbolic`,
        in the (z-scored) input variables ``names`` (default ``x_1 .. x_n``), floats rounded to
        ``n_digits`` significant digits."""
        import sympy

        if names is not None and len(names) != self.n_inputs:
            raise BinnInputError(f"symbolic_formula: {len(names)} names given for {self.n_inputs} inputs")
        symbols = None if names is None else [sympy.Symbol(str(n)) for n in names]
        with quiet(self.verbose), warnings.catch_warnings():
            # pykan hands its trainable affine tensors straight to sympy
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")
            result = self.kan.symbolic_formula(var=symbols)
        if result is None:
            raise RuntimeError("symbolic_formula: call auto_symbolic first (some edges are not symbolic)")
        return [round_floats(expr, n_digits) for expr in result[0]]
