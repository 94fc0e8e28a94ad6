"""Reading a KAN head: its edge functions, their importance and closed-form formulas.

In a one-layer KAN the pre-activation of parameter ``j`` is a sum of one-dimensional edge
functions, ``u_j = sum_i phi_ij(x_i)``, so each ``phi_ij`` *is* the learned relationship between
covariate ``i`` and parameter ``j`` (:func:`kan_edge_functions`); its spread over the data
measures its importance (:func:`kan_importance`); pykan can replace each edge by a closed-form
guess (:func:`symbolic_formulas`). A two-layer KAN has no single edge from a covariate to a
parameter; it is read one covariate at a time, the others held at their mean.

Other heads (MLPs) are probed from outside with partial dependence
(:mod:`binn_lite.partial_dependence`). Both return the curve tables and importance matrices of
:mod:`binn_lite.relationships`, which also draws them and scores them against a known truth.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from .errors import BinnInputError
from .heads import KANHead, round_floats
from .relationships import covariate_matrix, curve_table, parameter_dtype, table_names

__all__ = ["DEFAULT_SYMBOLIC_LIB", "kan_edge_functions", "kan_importance", "symbolic_formulas"]

#: Candidate functions for :func:`symbolic_formulas` (names from pykan's SYMBOLIC_LIB).
DEFAULT_SYMBOLIC_LIB = ("x", "x^2", "exp", "log", "abs", "sin")


def _check_kan(head) -> KANHead:
    if not isinstance(head, KANHead):
        raise BinnInputError(f"expected a KANHead, got {type(head).__name__}; use binn_lite.partial_dependence for other heads")
    return head


def _oat_response(head: KANHead, X: Tensor, values: Tensor, feature: int) -> Tensor:
    """u(x) with every covariate at its mean over X except ``feature`` set to ``values``.

    Returns Tensor[len(values), n_outputs] (one-at-a-time response, pre-activation scale).
    """
    base = X.mean(dim=0, keepdim=True).expand(len(values), -1).clone()
    base[:, feature] = values
    return head.preactivation(base)


def kan_edge_functions(
    head: KANHead,
    data=None,
    n: int = 200,
    names: Sequence[str] | None = None,
    out_names: Sequence[str] | None = None,
    x_range=None,
    center: bool = True,
) -> pd.DataFrame:
    """Learned covariate -> parameter curves of a KAN head, on a grid over each covariate.

    One-layer KAN: the edge function ``phi_ij`` itself (times the output's fixed affine scale,
    1 unless changed), i.e. covariate ``i``'s additive contribution to the pre-activation
    ``u_j``. Two-layer KAN (no single edge links a covariate to a parameter): the one-at-a-time
    response ``u_j(x)`` with covariate ``i`` varied and all others held at their mean over
    ``data`` (0, the z-score mean, when only ``x_range`` is given); interactions are not shown.

    Parameters
    ----------
    head : the trained :class:`~binn_lite.heads.KANHead`.
    data : covariates [n_sites, n_inputs] (z-scored, as trained); the grid spans each column's
        min..max. May be None when ``x_range`` is given.
    n : grid points per covariate.
    names, out_names : covariate and parameter names (default ``x0..``, ``p0..``).
    x_range : optional [n_inputs, 2] array of (low, high) per covariate, overriding ``data``'s.
    center : subtract each curve's mean over ``data`` (over the grid when ``data`` is None), so a
        value reads "contribution relative to an average site". Curves of a KAN are only defined
        up to such constants anyway (they add up across edges).

    Returns
    -------
    DataFrame with columns ``covariate, parameter, x, value`` (``n`` rows per edge), value in
    pre-activation (u) units.
    """
    head = _check_kan(head)
    dtype = parameter_dtype(head)
    X = None if data is None else covariate_matrix(data, head.n_inputs, "kan_edge_functions data", dtype)
    if x_range is not None:
        rng = np.asarray(x_range, dtype=float)
        if rng.shape != (head.n_inputs, 2) or not np.all(np.isfinite(rng)) or np.any(rng[:, 1] <= rng[:, 0]):
            raise BinnInputError(f"kan_edge_functions: x_range must be a finite [{head.n_inputs}, 2] array with high > low")
        low, high = torch.tensor(rng[:, 0], dtype=dtype), torch.tensor(rng[:, 1], dtype=dtype)
    elif X is not None:
        low, high = X.min(dim=0).values, X.max(dim=0).values
    else:
        raise BinnInputError("kan_edge_functions: give covariate data or x_range")
    if n < 2:
        raise BinnInputError(f"kan_edge_functions: n must be >= 2, got {n}")
    names = table_names(names, head.n_inputs, "x", "covariate names")
    out_names = table_names(out_names, head.n_outputs, "p", "parameter names")
    steps = torch.linspace(0.0, 1.0, n, dtype=dtype)[:, None]
    grid = low[None, :] + steps * (high - low)[None, :]  # [n, n_inputs]

    with torch.no_grad():
        if head.depth == 1:
            scale = (head.kan.subnode_scale[0] * head.kan.node_scale[0]).detach()  # [n_outputs]
            values = head.edge_functions(grid) * scale[None, :, None]  # [n, out, in]
            if center:
                ref = head.edge_functions(X) * scale[None, :, None] if X is not None else values
                values = values - ref.mean(dim=0, keepdim=True)
        else:
            background = X if X is not None else torch.zeros(1, head.n_inputs, dtype=dtype)
            values = torch.stack(
                [_oat_response(head, background, grid[:, i], i) for i in range(head.n_inputs)], dim=2
            )
            if center:
                if X is not None:
                    ref = torch.stack(
                        [_oat_response(head, X, X[:, i], i).mean(dim=0) for i in range(head.n_inputs)], dim=1
                    )[None]
                else:
                    ref = values.mean(dim=0, keepdim=True)
                values = values - ref
    return curve_table(grid.numpy().astype(float), values.numpy().astype(float), names, out_names)


def kan_importance(
    head: KANHead,
    data,
    names: Sequence[str] | None = None,
    out_names: Sequence[str] | None = None,
    method: str = "std",
) -> pd.DataFrame:
    """Covariate x parameter importance of a KAN head over the data.

    method="std" : the standard deviation over the sites of covariate ``i``'s one-at-a-time
        effect on ``u_j``. For a one-layer KAN this is exactly ``std_n phi_ij(x_ni)`` (the
        spread of the edge's output, pykan's edge scale); for a two-layer KAN, the response with
        the other covariates at their mean.
    method="pykan" : pykan's attribution score (Liu et al. 2024, KAN 2.0): edge scales
        propagated backwards from each output, normalised by node scales.

    Returns a DataFrame, index covariates, columns parameters (u units for "std").
    """
    head = _check_kan(head)
    X = covariate_matrix(data, head.n_inputs, "kan_importance data", parameter_dtype(head))
    names = table_names(names, head.n_inputs, "x", "covariate names")
    out_names = table_names(out_names, head.n_outputs, "p", "parameter names")
    if method == "std":
        with torch.no_grad():
            if head.depth == 1:
                scale = (head.kan.subnode_scale[0] * head.kan.node_scale[0]).detach()
                effects = head.edge_functions(X) * scale[None, :, None]  # [N, out, in]
                score = effects.std(dim=0, correction=0).T  # [in, out]
            else:
                score = torch.stack(
                    [_oat_response(head, X, X[:, i], i).std(dim=0, correction=0) for i in range(head.n_inputs)]
                )
    elif method == "pykan":
        score = head.attribution(X).T
    else:
        raise BinnInputError(f"kan_importance: method must be 'std' or 'pykan', got {method!r}")
    return pd.DataFrame(score.numpy().astype(float), index=pd.Index(names, name="covariate"),
                        columns=pd.Index(out_names, name="parameter"))


def symbolic_formulas(
    head: KANHead,
    data,
    lib: Sequence[str] = DEFAULT_SYMBOLIC_LIB,
    names: Sequence[str] | None = None,
    out_names: Sequence[str] | None = None,
    n_digits: int = 3,
    weight_simple: float = 0.8,
    r2_threshold: float = 0.0,
    apply_constraint: bool = False,
    n_fit: int = 101,
    seed: int = 0,
) -> pd.DataFrame:
    """Closed-form suggestions for each parameter via pykan's ``auto_symbolic``.

    Works on a copy (the head is not changed): every edge is replaced by the best
    ``c f(a x + b) + d`` with ``f`` from ``lib``, fitted to the edge's activations on ``data``;
    pykan trades fit (R^2) against complexity with ``weight_simple``.

    Returns a DataFrame indexed by parameter with columns
    ``formula`` (string; of ``u_j`` in the z-scored covariates ``names``, or of the unit parameter
    when ``apply_constraint``) and ``r2`` (agreement of the symbolic ``u_j`` with the numerical
    one over ``data``: 1 - SSE/SST). ``frame["formula"].to_dict()`` gives a plain dict.

    Speed: pykan fits every candidate on a 101 x 101 (a, b) grid for every sample, so the fits
    use ``n_fit`` points, not all of ``data``: for a one-layer KAN, ``n_fit`` evenly spaced
    quantiles of each covariate (edges see one covariate each, so columns can be sorted
    independently); for a two-layer KAN, ``n_fit`` randomly chosen sites (``seed``).
    The ``r2`` column is computed on all of ``data``.
    """
    head = _check_kan(head)
    names = table_names(names, head.n_inputs, "x", "covariate names")
    out_names = table_names(out_names, head.n_outputs, "p", "parameter names")
    X = covariate_matrix(data, head.n_inputs, "symbolic_formulas data", torch.float32)
    unknown = [f for f in lib if f not in _pykan_symbolic_names()]
    if unknown:
        raise BinnInputError(f"symbolic_formulas: unknown functions {unknown}; pykan knows {sorted(_pykan_symbolic_names())}")
    if n_fit < 3:
        raise BinnInputError(f"symbolic_formulas: n_fit must be >= 3, got {n_fit}")
    if head.depth == 1:
        levels = torch.linspace(0.0, 1.0, n_fit, dtype=torch.float64)
        X_fit = torch.quantile(X.double(), levels, dim=0).float()  # [n_fit, n_inputs]
    elif len(X) > n_fit:
        rows = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:n_fit]
        X_fit = X[rows]
    else:
        X_fit = X
    work = head.copy()
    nn.Module.to(work, dtype=torch.float32)
    with torch.no_grad():
        u_numeric = work.preactivation(X)
    work.auto_symbolic(X_fit, lib=lib, weight_simple=weight_simple, r2_threshold=r2_threshold)
    with torch.no_grad():
        u_symbolic = work.preactivation(X)
    formulas = work.symbolic_formula(names=names, n_digits=n_digits)
    if apply_constraint:
        formulas = [round_floats(work.constraint.sympy(f), n_digits) for f in formulas]
    sse = ((u_symbolic - u_numeric) ** 2).sum(dim=0)
    sst = ((u_numeric - u_numeric.mean(dim=0)) ** 2).sum(dim=0)
    r2 = torch.where(sst > 0, 1.0 - sse / sst.clamp_min(1e-30), (sse == 0).to(sse.dtype))
    return pd.DataFrame(
        {"formula": [str(f) for f in formulas], "r2": r2.numpy().astype(float)},
        index=pd.Index(out_names, name="parameter"),
    )


def _pykan_symbolic_names() -> set[str]:
    from kan.utils import SYMBOLIC_LIB

    return set(SYMBOLIC_LIB)
