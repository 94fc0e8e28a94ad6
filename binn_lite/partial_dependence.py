"""Partial dependence: how any head's outputs follow one covariate, probed from outside.

A head is a function ``f: covariates [n, p] -> outputs [n, q]`` (an MLP, a KAN, or any callable).
Its partial dependence on covariate ``i`` (Friedman 2001) is the average output when that
covariate is set to ``v`` at every site and the others keep their values:

    PD_j(v) = (1/N) sum_n f_j(x_n with x_ni := v)

(:func:`partial_dependence`). Drawn over a grid of ``v`` it is a curve
(:func:`partial_dependence_curves`, a curve table of :mod:`binn_lite.relationships`); the
variance of that curve over the covariate's distribution is a model-agnostic importance
(:func:`pd_importance`, after Greenwell et al. 2018, who use its standard deviation;
:func:`curve_variance` computes it from curves already drawn). Averages hide interactions and
effects that cancel, the weakness ScIReN points out for MLPs; a KAN head can instead be read from
its own edges (:mod:`binn_lite.interpret`).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from .errors import BinnInputError
from .relationships import (check_curves, covariate_matrix, curve_table, parameter_dtype, plot_edge_curves,
                            table_names)

__all__ = ["curve_variance", "partial_dependence", "partial_dependence_curves", "pd_importance",
           "plot_partial_dependence"]


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


def _feature_grid(X: Tensor, feature: int, n_grid: int, kind: str) -> Tensor:
    """``n_grid`` values of covariate ``feature``: its quantiles 0 %..100 % or evenly spaced min..max."""
    column = X[:, feature]
    if kind == "quantile":
        return torch.quantile(column.double(), torch.linspace(0, 1, n_grid, dtype=torch.float64)).to(X.dtype)
    if kind == "linear":
        return torch.linspace(float(column.min()), float(column.max()), n_grid, dtype=X.dtype)
    raise BinnInputError(f"grid must be 'quantile' or 'linear', got {kind!r}")


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
    dtype = parameter_dtype(fn) if isinstance(fn, nn.Module) else torch.float32
    X = covariate_matrix(X, None, "partial_dependence X", dtype)
    n_sites, n_cov = X.shape
    if not 0 <= int(feature) < n_cov:
        raise BinnInputError(f"partial_dependence: feature {feature} out of range for {n_cov} covariates")
    grid = torch.as_tensor(np.asarray(grid, dtype=float) if not isinstance(grid, Tensor) else grid).to(dtype).reshape(-1)
    if grid.numel() == 0 or not torch.isfinite(grid).all():
        raise BinnInputError("partial_dependence: grid must be a non-empty finite 1-D sequence")
    sites_per_chunk = max(1, batch_size // n_sites)
    curves = []
    with torch.no_grad(), _EvalMode(fn):
        for start in range(0, len(grid), sites_per_chunk):
            values = grid[start:start + sites_per_chunk]
            block = X.repeat(len(values), 1)  # [len(values) * N, p]
            block[:, feature] = values.repeat_interleave(n_sites)
            out = fn(block)
            if out.dim() != 2 or out.shape[0] != block.shape[0]:
                raise BinnInputError(f"partial_dependence: fn must return [batch, n_outputs], got {tuple(out.shape)}")
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
    """PD curves of every covariate for every output, as a curve table (columns ``covariate,
    parameter, x, value``, :mod:`binn_lite.relationships`; the layout of
    :func:`~binn_lite.interpret.kan_edge_functions`).

    ``grid="quantile"``: ``n_grid`` evenly spaced quantiles (0 %..100 %) of each covariate;
    ``"linear"``: evenly spaced between min and max. ``center`` subtracts each curve's mean.
    """
    X = covariate_matrix(X, None, "partial_dependence_curves X", torch.float64)
    if n_grid < 2:
        raise BinnInputError(f"n_grid must be >= 2, got {n_grid}")
    names = table_names(names, X.shape[1], "x", "covariate names")
    grids = [_feature_grid(X, i, n_grid, grid) for i in range(X.shape[1])]
    values = torch.stack([partial_dependence(fn, X, i, g) for i, g in enumerate(grids)], dim=2)  # [n_grid, q, p]
    if center:
        values = values - values.mean(dim=0, keepdim=True)
    out_names = table_names(out_names, values.shape[1], "p", "parameter names")
    return curve_table(torch.stack(grids, dim=1).double().numpy(), values.double().numpy(), names, out_names)


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
    Holding the curves already (:func:`partial_dependence_curves`, same ``n_grid`` and ``grid``),
    :func:`curve_variance` gives the same table without computing them again.
    """
    return curve_variance(partial_dependence_curves(fn, X, names, out_names, n_grid=n_grid, grid=grid))


def curve_variance(curves: pd.DataFrame) -> pd.DataFrame:
    """Population variance of each curve of a curve table over its points: the importance of
    :func:`pd_importance` (covariates x parameters, squared output units)."""
    check_curves(curves)
    table = curves.groupby(["covariate", "parameter"], sort=False)["value"].var(ddof=0).unstack("parameter")
    covs = list(dict.fromkeys(curves["covariate"]))
    pars = list(dict.fromkeys(curves["parameter"]))
    table = table.loc[covs, pars]
    table.index.name, table.columns.name = "covariate", "parameter"
    return table


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
    (see :func:`partial_dependence_curves` and :func:`~binn_lite.relationships.plot_edge_curves`).
    Returns the Figure."""
    curves = partial_dependence_curves(fn, X, names, out_names, n_grid=n_grid)
    return plot_edge_curves(curves, truth=truth, covariates=covariates, title="partial dependence")
