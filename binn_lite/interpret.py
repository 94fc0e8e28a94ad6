"""Interpretation tools: which covariate drives which parameter, and how.

Two families of networks, two kinds of explanation:

* **KAN heads** are explained by their own structure. In a one-layer KAN the pre-activation of
  parameter ``j`` is a sum of one-dimensional edge functions, ``u_j = sum_i phi_ij(x_i)``, so each
  ``phi_ij`` *is* the learned relationship between covariate ``i`` and parameter ``j``
  (:func:`kan_edge_functions`); its spread over the data measures its importance
  (:func:`kan_importance`); pykan can replace each edge by a closed-form guess
  (:func:`symbolic_formulas`).
* **Any head** (MLPs included) can be probed from outside with partial dependence
  (Friedman 2001): ``PD_j(v) = mean_n f_j(x_n with x_ni := v)``; the variance of that curve over
  the covariate's distribution is a model-agnostic importance (:func:`pd_importance`, after
  Greenwell et al. 2018, who use its standard deviation).

Against a known truth (synthetic data with prescribed relationships, as in ScIReN's
relationship-retrieval test) :func:`retrieval_score` counts how many true drivers are ranked on
top and measures the KL divergence between importances and the truth, and
:func:`curve_correlation` / :func:`curve_agreement` compare learned and prescribed curve shapes.

Conventions: covariate matrices are ``[n_sites, n_covariates]`` (torch, numpy or pandas; the
z-scored covariates the head was trained on); curves are returned as long DataFrames with columns
``covariate, parameter, x, value``; importance matrices as DataFrames with covariates as index and
parameters as columns. Plot helpers follow the figure convention of :mod:`binn_lite.plots`.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from .heads import KANHead, round_floats

__all__ = [
    "DEFAULT_SYMBOLIC_LIB",
    "kan_edge_functions",
    "kan_importance",
    "symbolic_formulas",
    "partial_dependence",
    "partial_dependence_curves",
    "pd_importance",
    "retrieval_score",
    "curve_correlation",
    "curve_agreement",
    "plot_importance",
    "plot_edge_curves",
    "plot_partial_dependence",
]

#: Candidate functions for :func:`symbolic_formulas` (names from pykan's SYMBOLIC_LIB).
DEFAULT_SYMBOLIC_LIB = ("x", "x^2", "exp", "log", "abs", "sin")

CURVE_COLUMNS = ("covariate", "parameter", "x", "value")


# ---------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------
def _as_matrix(X, n_columns: int | None, what: str, dtype: torch.dtype = torch.float32) -> Tensor:
    """A finite 2-D float tensor from a Tensor / ndarray / DataFrame, checked."""
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy(dtype=float)
    if isinstance(X, np.ndarray):
        X = torch.from_numpy(np.asarray(X, dtype=float))
    if not isinstance(X, Tensor):
        raise ValueError(f"{what}: expected a tensor, array or DataFrame, got {type(X).__name__}")
    if X.dim() != 2:
        raise ValueError(f"{what}: expected a 2-D [n_sites, n_covariates] matrix, got shape {tuple(X.shape)}")
    if n_columns is not None and X.shape[1] != n_columns:
        raise ValueError(f"{what}: expected {n_columns} covariate columns, got {X.shape[1]}")
    if X.shape[0] < 1:
        raise ValueError(f"{what}: no rows")
    if not torch.isfinite(X).all():
        row, col = (~torch.isfinite(X)).nonzero()[0].tolist()
        raise ValueError(f"{what}: non-finite value at row {row}, column {col}")
    return X.detach().to(dtype)


def _names(names: Sequence[str] | None, n: int, prefix: str, what: str) -> list[str]:
    if names is None:
        return [f"{prefix}{i}" for i in range(n)]
    names = [str(name) for name in names]
    if len(names) != n:
        raise ValueError(f"{what}: {len(names)} names given for {n} columns")
    if len(set(names)) != n:
        raise ValueError(f"{what}: names are not unique: {names}")
    return names


def _head_dtype(head: nn.Module) -> torch.dtype:
    for p in head.parameters():
        return p.dtype
    return torch.float32


def _check_kan(head) -> KANHead:
    if not isinstance(head, KANHead):
        raise ValueError(f"expected a KANHead, got {type(head).__name__}; use pd_importance for other heads")
    return head


class _EvalMode:
    """Context: put a module in eval mode (batch norm, dropout) and restore its mode after."""

    def __init__(self, fn) -> None:
        self.module = fn if isinstance(fn, nn.Module) else None

    def __enter__(self):
        if self.module is not None:
            self.was_training = self.module.training
            self.module.eval()
        return self

    def __exit__(self, *exc) -> None:
        if self.module is not None:
            self.module.train(self.was_training)


def _long_frame(x: np.ndarray, values: np.ndarray, names: list[str], out_names: list[str]) -> pd.DataFrame:
    """Long curve table from x [n, n_cov] and values [n, n_out, n_cov]."""
    n = x.shape[0]
    pieces = []
    for i, cov in enumerate(names):
        for j, par in enumerate(out_names):
            pieces.append(pd.DataFrame({"covariate": cov, "parameter": par, "x": x[:, i], "value": values[:, j, i]}))
    frame = pd.concat(pieces, ignore_index=True)
    assert len(frame) == n * len(names) * len(out_names)
    return frame


# ---------------------------------------------------------------------------------------------
# KAN: edge functions, importance, symbolic formulas
# ---------------------------------------------------------------------------------------------
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
    dtype = _head_dtype(head)
    X = None if data is None else _as_matrix(data, head.n_inputs, "kan_edge_functions data", dtype)
    if x_range is not None:
        rng = np.asarray(x_range, dtype=float)
        if rng.shape != (head.n_inputs, 2) or not np.all(np.isfinite(rng)) or np.any(rng[:, 1] <= rng[:, 0]):
            raise ValueError(f"kan_edge_functions: x_range must be a finite [{head.n_inputs}, 2] array with high > low")
        low, high = torch.tensor(rng[:, 0], dtype=dtype), torch.tensor(rng[:, 1], dtype=dtype)
    elif X is not None:
        low, high = X.min(dim=0).values, X.max(dim=0).values
    else:
        raise ValueError("kan_edge_functions: give covariate data or x_range")
    if n < 2:
        raise ValueError(f"kan_edge_functions: n must be >= 2, got {n}")
    names = _names(names, head.n_inputs, "x", "covariate names")
    out_names = _names(out_names, head.n_outputs, "p", "parameter names")
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
    return _long_frame(grid.numpy().astype(float), values.numpy().astype(float), names, out_names)


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
    X = _as_matrix(data, head.n_inputs, "kan_importance data", _head_dtype(head))
    names = _names(names, head.n_inputs, "x", "covariate names")
    out_names = _names(out_names, head.n_outputs, "p", "parameter names")
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
        raise ValueError(f"kan_importance: method must be 'std' or 'pykan', got {method!r}")
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
    names = _names(names, head.n_inputs, "x", "covariate names")
    out_names = _names(out_names, head.n_outputs, "p", "parameter names")
    X = _as_matrix(data, head.n_inputs, "symbolic_formulas data", torch.float32)
    unknown = [f for f in lib if f not in _pykan_symbolic_names()]
    if unknown:
        raise ValueError(f"symbolic_formulas: unknown functions {unknown}; pykan knows {sorted(_pykan_symbolic_names())}")
    if n_fit < 3:
        raise ValueError(f"symbolic_formulas: n_fit must be >= 3, got {n_fit}")
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


# ---------------------------------------------------------------------------------------------
# Partial dependence (any head)
# ---------------------------------------------------------------------------------------------
def _feature_grid(X: Tensor, feature: int, n_grid: int, kind: str) -> Tensor:
    column = X[:, feature]
    if kind == "quantile":
        return torch.quantile(column.double(), torch.linspace(0, 1, n_grid, dtype=torch.float64)).to(X.dtype)
    if kind == "linear":
        return torch.linspace(float(column.min()), float(column.max()), n_grid, dtype=X.dtype)
    raise ValueError(f"grid must be 'quantile' or 'linear', got {kind!r}")


def partial_dependence(
    fn: Callable[[Tensor], Tensor],
    X,
    feature: int,
    grid,
    batch_size: int = 65536,
) -> Tensor:
    """Partial dependence of every output of ``fn`` on covariate ``feature`` (Friedman 2001).

    ``PD(v) = (1/N) sum_n fn(x_n with x_n[feature] := v)`` for each ``v`` in ``grid``.

    Parameters
    ----------
    fn : maps covariates Tensor[b, p] to outputs Tensor[b, q] (e.g. a head: unit parameters).
        An ``nn.Module`` is evaluated in eval mode (batch norm uses running statistics) and put
        back in its previous mode.
    X : covariates [N, p] (tensor, array or DataFrame).
    feature : column index.
    grid : values of that covariate, 1-D.
    batch_size : rows per call of ``fn``.

    Returns
    -------
    Tensor[len(grid), q].
    """
    dtype = _head_dtype(fn) if isinstance(fn, nn.Module) else torch.float32
    X = _as_matrix(X, None, "partial_dependence X", dtype)
    n_sites, n_cov = X.shape
    if not 0 <= int(feature) < n_cov:
        raise ValueError(f"partial_dependence: feature {feature} out of range for {n_cov} covariates")
    grid = torch.as_tensor(np.asarray(grid, dtype=float) if not isinstance(grid, Tensor) else grid).to(dtype).reshape(-1)
    if grid.numel() == 0 or not torch.isfinite(grid).all():
        raise ValueError("partial_dependence: grid must be a non-empty finite 1-D sequence")
    sites_per_chunk = max(1, batch_size // n_sites)
    curves = []
    with torch.no_grad(), _EvalMode(fn):
        for start in range(0, len(grid), sites_per_chunk):
            values = grid[start:start + sites_per_chunk]
            block = X.repeat(len(values), 1)  # [len(values) * N, p]
            block[:, feature] = values.repeat_interleave(n_sites)
            out = fn(block)
            if out.dim() != 2 or out.shape[0] != block.shape[0]:
                raise ValueError(f"partial_dependence: fn must return [batch, n_outputs], got {tuple(out.shape)}")
            curves.append(out.reshape(len(values), n_sites, -1).mean(dim=1))
    return torch.cat(curves, dim=0)


def partial_dependence_curves(
    fn: Callable[[Tensor], Tensor],
    X,
    names: Sequence[str] | None = None,
    out_names: Sequence[str] | None = None,
    n_grid: int = 20,
    grid: str = "quantile",
    center: bool = False,
) -> pd.DataFrame:
    """PD curves of every covariate for every output, as a long DataFrame
    (columns ``covariate, parameter, x, value``; same layout as :func:`kan_edge_functions`).

    ``grid="quantile"``: ``n_grid`` evenly spaced quantiles (0 %..100 %) of each covariate;
    ``"linear"``: evenly spaced between min and max. ``center`` subtracts each curve's mean.
    """
    X = _as_matrix(X, None, "partial_dependence_curves X", torch.float64)
    if n_grid < 2:
        raise ValueError(f"n_grid must be >= 2, got {n_grid}")
    names = _names(names, X.shape[1], "x", "covariate names")
    pieces, q = [], None
    for i, cov in enumerate(names):
        g = _feature_grid(X, i, n_grid, grid)
        pd_values = partial_dependence(fn, X, i, g)
        q = pd_values.shape[1]
        if center:
            pd_values = pd_values - pd_values.mean(dim=0, keepdim=True)
        if i == 0:
            out_names = _names(out_names, q, "p", "parameter names")
        for j, par in enumerate(out_names):
            pieces.append(pd.DataFrame({"covariate": cov, "parameter": par, "x": g.double().numpy(),
                                        "value": pd_values[:, j].double().numpy()}))
    return pd.concat(pieces, ignore_index=True)


def pd_importance(
    fn: Callable[[Tensor], Tensor],
    X,
    names: Sequence[str] | None = None,
    out_names: Sequence[str] | None = None,
    n_grid: int = 20,
    grid: str = "quantile",
) -> pd.DataFrame:
    """Partial-dependence-variance importance (covariates x outputs).

    For each covariate, the PD curve on a quantile grid (so grid points are spread like the
    data) and its population variance over the grid points, per output. Large = moving this
    covariate alone changes the output a lot on average; interactions and effects that cancel in
    the average are missed (the weakness ScIReN points out for MLPs).

    Returns a DataFrame, index covariate names, columns output names (squared output units).
    """
    curves = partial_dependence_curves(fn, X, names, out_names, n_grid=n_grid, grid=grid)
    table = curves.groupby(["covariate", "parameter"], sort=False)["value"].var(ddof=0).unstack("parameter")
    covs = list(dict.fromkeys(curves["covariate"]))
    pars = list(dict.fromkeys(curves["parameter"]))
    table = table.loc[covs, pars]
    table.index.name, table.columns.name = "covariate", "parameter"
    return table


# ---------------------------------------------------------------------------------------------
# Scores against a known truth
# ---------------------------------------------------------------------------------------------
def retrieval_score(
    importance: pd.DataFrame,
    truth: Mapping[str, Sequence[str]],
    eps: float = 1e-6,
) -> tuple[pd.DataFrame, dict]:
    """Does the importance matrix point at the true drivers? (ScIReN's retrieval test.)

    For every parameter ``j`` in ``truth`` with true drivers ``T_j`` (k_j = |T_j|):

    * ``hits``: how many of the ``k_j`` highest-ranked covariates are true drivers (ties are
      broken by the order of the index, so ties never count twice).
    * ``kl``: ``KL(t_j || q_j) = sum_i t_ij ln(t_ij / q_ij)`` (nats) between the truth indicator
      normalised to sum 1 (``t_ij = 1/k_j`` on true drivers) and the importances normalised to
      sum 1. Epsilon handling: ``q = (a / sum(a) + eps) / (1 + n eps)`` with ``n`` covariates, so a
      true driver with zero importance gives a large finite KL (about ``ln(1/(k eps))``) instead
      of infinity; terms with ``t_ij = 0`` contribute 0. A column of all-zero importances is
      treated as uniform. Perfect attribution gives ``kl`` ~ 0; uniform gives ``ln(n/k)``.

    Parameters
    ----------
    importance : DataFrame, index covariates, columns parameters, values >= 0 (finite).
    truth : ``{parameter: [driver covariate, ...]}``; parameters must be columns of
        ``importance`` and drivers must be in its index. Other columns are ignored.
    eps : smoothing constant (see above).

    Returns
    -------
    (table, summary): ``table`` indexed by parameter with columns ``true_drivers``,
    ``top_ranked`` (comma-separated), ``n_true``, ``hits``, ``kl``; ``summary`` dict with
    ``hits``, ``possible``, ``fraction``, ``mean_kl`` and ``text`` (e.g. ``"8/8"``).
    """
    if not isinstance(importance, pd.DataFrame):
        raise ValueError(f"retrieval_score: importance must be a pandas DataFrame, got {type(importance).__name__}")
    if eps <= 0:
        raise ValueError(f"retrieval_score: eps must be > 0, got {eps}")
    if not truth:
        raise ValueError("retrieval_score: truth is empty")
    values = importance.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError("retrieval_score: importance contains NaN/inf")
    if np.any(values < 0):
        raise ValueError("retrieval_score: importance must be >= 0 (use magnitudes)")
    covariates = [str(c) for c in importance.index]
    rows = []
    for parameter, drivers in truth.items():
        if parameter not in importance.columns:
            raise ValueError(f"retrieval_score: parameter {parameter!r} of the truth is not a column of importance")
        drivers = [str(d) for d in drivers]
        if not drivers:
            raise ValueError(f"retrieval_score: parameter {parameter!r} has no true drivers")
        missing = [d for d in drivers if d not in covariates]
        if missing:
            raise ValueError(f"retrieval_score: drivers {missing} of {parameter!r} are not in the importance index")
        column = importance[parameter].to_numpy(dtype=float)
        k = len(set(drivers))
        order = np.argsort(-column, kind="stable")
        top = [covariates[i] for i in order[:k]]
        hits = len(set(top) & set(drivers))
        n = len(column)
        total = column.sum()
        share = column / total if total > 0 else np.full(n, 1.0 / n)
        q = (share + eps) / (1.0 + n * eps)
        is_true = np.array([c in drivers for c in covariates])
        kl = float(np.sum((1.0 / k) * np.log((1.0 / k) / q[is_true])))
        rows.append({"parameter": parameter, "true_drivers": ", ".join(drivers), "top_ranked": ", ".join(top),
                     "n_true": k, "hits": hits, "kl": kl})
    table = pd.DataFrame(rows).set_index("parameter")
    hits, possible = int(table["hits"].sum()), int(table["n_true"].sum())
    summary = {"hits": hits, "possible": possible, "fraction": hits / possible,
               "mean_kl": float(table["kl"].mean()), "text": f"{hits}/{possible}"}
    return table, summary


def curve_correlation(learned, prescribed) -> float:
    """Pearson correlation between a learned and a prescribed curve on the same grid.

    Shape agreement only (invariant to shifts and positive rescaling; -1 means mirrored).
    Raises ValueError for different lengths, non-finite values or a constant curve.
    """
    a = np.asarray(learned, dtype=float).reshape(-1)
    b = np.asarray(prescribed, dtype=float).reshape(-1)
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"curve_correlation: curves must have the same length >= 2, got {a.size} and {b.size}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("curve_correlation: curves contain NaN/inf")
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0:
        raise ValueError("curve_correlation: a curve is constant; correlation is undefined")
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def curve_agreement(
    curves: pd.DataFrame,
    truth: Mapping[tuple[str, str], Callable[[np.ndarray], np.ndarray]],
) -> pd.DataFrame:
    """Correlation of learned curves with prescribed ones, per true edge.

    ``curves`` as returned by :func:`kan_edge_functions` / :func:`partial_dependence_curves`;
    ``truth`` maps ``(covariate, parameter)`` to a function of the curve's x values (the same
    z-scored covariate scale). Returns a DataFrame with columns ``covariate, parameter,
    correlation``. A learned curve that is exactly flat gets correlation 0 (nothing learned).
    """
    _check_curves(curves)
    rows = []
    for (cov, par), fun in truth.items():
        sel = curves[(curves["covariate"] == cov) & (curves["parameter"] == par)].sort_values("x")
        if sel.empty:
            raise ValueError(f"curve_agreement: no curve for covariate {cov!r} and parameter {par!r}")
        x = sel["x"].to_numpy(dtype=float)
        learned = sel["value"].to_numpy(dtype=float)
        target = np.asarray(fun(x), dtype=float)
        if learned.std() == 0:
            corr = 0.0
        else:
            corr = curve_correlation(learned, target)
        rows.append({"covariate": cov, "parameter": par, "correlation": corr})
    return pd.DataFrame(rows)


def _check_curves(curves: pd.DataFrame) -> None:
    if not isinstance(curves, pd.DataFrame) or not set(CURVE_COLUMNS) <= set(curves.columns):
        raise ValueError(f"expected a curve DataFrame with columns {CURVE_COLUMNS}")


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------
def plot_importance(
    importance: pd.DataFrame,
    truth: Mapping[str, Sequence[str]] | None = None,
    normalise: str | None = "column",
    title: str | None = None,
    annotate: bool = True,
) -> Figure:
    """Heat map of an importance matrix (covariates x parameters).

    ``normalise="column"`` divides each parameter's column by its maximum (so colours compare
    covariates within a parameter); ``None`` shows raw values. True drivers from ``truth``
    (``{parameter: [covariates]}``) are outlined in red. Returns the Figure.
    """
    if not isinstance(importance, pd.DataFrame):
        raise ValueError("plot_importance: importance must be a DataFrame")
    values = importance.to_numpy(dtype=float)
    if normalise == "column":
        peak = np.abs(values).max(axis=0, keepdims=True)
        values = np.divide(values, peak, out=np.zeros_like(values), where=peak > 0)
    elif normalise is not None:
        raise ValueError(f"plot_importance: normalise must be 'column' or None, got {normalise!r}")
    n_cov, n_par = values.shape
    fig = plt.figure(figsize=(1.2 + 0.9 * n_par, 0.8 + 0.38 * n_cov), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="viridis", aspect="auto", vmin=0 if normalise else None)
    ax.set_xticks(range(n_par), [str(c) for c in importance.columns], rotation=45, ha="right")
    ax.set_yticks(range(n_cov), [str(i) for i in importance.index])
    ax.set_xlabel("parameter")
    ax.set_ylabel("covariate")
    fig.colorbar(image, ax=ax, label="importance / column max" if normalise else "importance")
    if annotate:
        for r in range(n_cov):
            for c in range(n_par):
                ax.text(c, r, f"{values[r, c]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if values[r, c] < 0.6 * np.nanmax(values) else "black")
    if truth:
        from matplotlib.patches import Rectangle

        rows = {str(i): r for r, i in enumerate(importance.index)}
        cols = {str(c): k for k, c in enumerate(importance.columns)}
        for parameter, drivers in truth.items():
            for driver in drivers:
                if str(parameter) in cols and str(driver) in rows:
                    ax.add_patch(Rectangle((cols[str(parameter)] - 0.5, rows[str(driver)] - 0.5), 1, 1,
                                           fill=False, edgecolor="red", linewidth=2.0))
    if title:
        ax.set_title(title)
    return fig


def plot_edge_curves(
    curves: pd.DataFrame,
    truth: Mapping[tuple[str, str], Callable[[np.ndarray], np.ndarray]] | None = None,
    covariates: Sequence[str] | None = None,
    parameters: Sequence[str] | None = None,
    sharey: bool = True,
    title: str | None = None,
) -> Figure:
    """Grid of curves: one row per covariate, one column per parameter.

    ``curves`` from :func:`kan_edge_functions` or :func:`partial_dependence_curves`, drawn in
    their own units; with ``sharey`` all panels share one y axis, so weak edges look flat.
    ``truth`` maps ``(covariate, parameter)`` to a prescribed function of x, drawn dashed on a
    shaded panel. Prescribed and learned curves have different units, so each truth curve is
    standardised and then drawn with the mean of its learned curve and the largest standard
    deviation among all learned curves in the figure: shapes compare, and a learned curve that
    missed a true relationship stays visibly flat. Returns the Figure.
    """
    _check_curves(curves)
    covariates = list(dict.fromkeys(curves["covariate"])) if covariates is None else list(covariates)
    parameters = list(dict.fromkeys(curves["parameter"])) if parameters is None else list(parameters)
    panels = {}
    for cov in covariates:
        for par in parameters:
            sel = curves[(curves["covariate"] == cov) & (curves["parameter"] == par)].sort_values("x")
            if sel.empty:
                raise ValueError(f"plot_edge_curves: no curve for covariate {cov!r} and parameter {par!r}")
            panels[cov, par] = (sel["x"].to_numpy(dtype=float), sel["value"].to_numpy(dtype=float))
    spread = max(float(y.std()) for _, y in panels.values())
    fig = plt.figure(figsize=(0.4 + 2.1 * len(parameters), 0.3 + 1.5 * len(covariates)), layout="constrained")
    axes = fig.subplots(len(covariates), len(parameters), squeeze=False, sharex="row",
                        sharey="all" if sharey else "none")
    for r, cov in enumerate(covariates):
        for c, par in enumerate(parameters):
            ax = axes[r][c]
            x, y = panels[cov, par]
            ax.plot(x, y, color="C0", lw=1.5, label="learned")
            if truth and (cov, par) in truth:
                t = np.asarray(truth[(cov, par)](x), dtype=float)
                t = (t - t.mean()) / t.std() if t.std() > 0 else t - t.mean()
                ax.plot(x, y.mean() + spread * t, color="C3", lw=1.2, ls="--", label="truth (rescaled)")
                ax.set_facecolor("#fff4f0")
            ax.tick_params(labelsize=7)
            if r == 0:
                ax.set_title(str(par), fontsize=9)
            if c == 0:
                ax.set_ylabel(str(cov), fontsize=9)
    if truth:
        handles, labels = [], []
        for ax in np.ravel(axes):
            for handle, label in zip(*ax.get_legend_handles_labels()):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        fig.legend(handles, labels, loc="outside upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_partial_dependence(
    fn: Callable[[Tensor], Tensor],
    X,
    names: Sequence[str] | None = None,
    out_names: Sequence[str] | None = None,
    covariates: Sequence[str] | None = None,
    n_grid: int = 20,
    truth: Mapping[tuple[str, str], Callable[[np.ndarray], np.ndarray]] | None = None,
) -> Figure:
    """Partial-dependence curves of ``fn`` (any head) in a covariate x output grid
    (see :func:`partial_dependence_curves` and :func:`plot_edge_curves`). Returns the Figure."""
    curves = partial_dependence_curves(fn, X, names, out_names, n_grid=n_grid)
    return plot_edge_curves(curves, truth=truth, covariates=covariates, title="partial dependence")
