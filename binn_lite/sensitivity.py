"""Which parameters move a process model's prediction, globally and locally.

Both tools look at the prediction a BINN is trained on: the model's value at the observed
coordinates (for CLM5: SOC at the observed depths), on a log scale, as a function of the *unit*
parameters ``u = (theta - low) / (high - low)`` in [0, 1]. A number of 0.1 therefore means about
10 % more or less of the prediction, per whole parameter range; the ranking depends on the ranges as
much as on the model.

* :func:`sensitivity` -- a global screening over the unit cube: Morris elementary effects
  (Morris 1991; Campolongo et al. 2007) or one-at-a-time changes, summarised per parameter
  (``mu_star``, ``mu``, ``sigma``); :func:`plot_sensitivity` draws it.
* :func:`jacobian` -- the local derivative ``J_kj = d log y_k / d u_j`` at given parameters, by
  automatic differentiation; its singular values say which parameter *combinations* one site's
  observations can and cannot see (tutorial 03).

Any :class:`~binn_lite.process.ProcessModel` works (default :class:`~binn_lite.clm5.CLM5`): its
``parameter_table`` gives names and ranges, ``predict(params, forcing, coords)`` the prediction at
NaN-padded coordinates ``[n_sites, n_obs]``. The figure follows the convention of
:mod:`binn_lite.plots`.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from .errors import BinnInputError
from .clm5 import CLM5, MOST_INFLUENTIAL
from .process import ProcessModel

__all__ = ["jacobian", "sensitivity", "plot_sensitivity"]


# ---------------------------------------------------------------------------------------------
# Local: the Jacobian
# ---------------------------------------------------------------------------------------------
def jacobian(model: ProcessModel, params: torch.Tensor, forcing, coords: torch.Tensor, *,
             names: Sequence[str] | None = None, log: bool = True, unit: bool = True) -> torch.Tensor:
    """Derivative of the prediction at the observed coordinates with respect to the parameters.

    ``J[s, k, j] = d y_sk / d p_sj`` at the physical parameters ``params`` [n_sites, n_params],
    where ``y_sk = model.predict(params, forcing, coords)[s, k]``:

    * ``log=True`` differentiates ``log y`` (relative change; for CLM5: log SOC, SOC in gC m-3);
    * ``unit=True`` differentiates with respect to the unit parameter ``u_j`` (so the physical
      derivative is multiplied by the range ``high_j - low_j``); ``False``: per physical unit.

    ``names`` picks the parameters (columns of J; default all, in table order). Returns a Tensor
    ``[n_sites, n_obs, len(names)]`` in the dtype of ``params``; rows of missing observations (NaN
    coordinates) are NaN.

    Computed by reverse-mode autograd, one backward pass per observation column: a process model
    computes every site from its own parameters and forcing only, so the gradient of the column
    sum gives all sites' rows at once.
    """
    table = model.parameter_table
    names = list(table.names if names is None else names)
    columns = [table.index(name) for name in names]
    coords = torch.as_tensor(coords)
    theta = torch.as_tensor(params).detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = model.predict(theta, forcing, coords)
        if log:
            y = torch.log(y)
        rows = []
        for k in range(y.shape[1]):
            (gradient,) = torch.autograd.grad(y[:, k].sum(), theta, retain_graph=k < y.shape[1] - 1)
            rows.append(gradient[:, columns])
    j = torch.stack(rows, dim=1)  # [sites, n_obs, len(names)]
    if unit:
        j = j * (table.high - table.low)[columns].to(j)
    missing = torch.isnan(coords).to(j.device)[:, :, None]
    return torch.where(missing, torch.full_like(j, float("nan")), j)


# ---------------------------------------------------------------------------------------------
# Global: Morris elementary effects and one-at-a-time changes
# ---------------------------------------------------------------------------------------------
def _morris_design(n_sites: int, names: Sequence[str], n_trajectories: int, levels: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Morris (1991) trajectories in the unit cube for each site.

    Returns points [sites, r, k+1, k] (unit values of the ``names``), the moved factor [sites, r, k]
    of each step, its direction (+1/-1) and the step ``delta = levels / (2 (levels - 1))``.
    """
    k = len(names)
    delta = levels / (2.0 * (levels - 1))
    grid = np.arange(levels) / (levels - 1)
    low_starts = grid[grid <= 1 - delta + 1e-12]
    points = np.empty((n_sites, n_trajectories, k + 1, k))
    moved = np.empty((n_sites, n_trajectories, k), dtype=int)
    direction = np.empty((n_sites, n_trajectories, k))
    for s in range(n_sites):
        for t in range(n_trajectories):
            up = rng.random(k) < 0.5
            x = rng.choice(low_starts, size=k) + np.where(up, 0.0, delta)
            order = rng.permutation(k)
            points[s, t, 0] = x
            for step, factor in enumerate(order):
                x = x.copy()
                x[factor] += delta if up[factor] else -delta
                points[s, t, step + 1] = x
            moved[s, t] = order
            direction[s, t] = np.where(up[order], 1.0, -1.0)
    return points, moved, direction, delta


def _check_coords(coords, n_sites: int) -> torch.Tensor:
    coords = torch.as_tensor(coords, dtype=torch.float64)
    if coords.ndim != 2 or coords.shape[0] != n_sites:
        raise BinnInputError(f"coords must have shape [{n_sites} sites, n_obs] (NaN-padded, e.g. depths in m); "
                         f"got {tuple(coords.shape)}")
    empty = torch.isnan(coords).all(dim=1)
    if bool(empty.any()):
        site = int(empty.nonzero()[0, 0])
        raise BinnInputError(f"site {site} has no observation (all coordinates NaN); give at least one per site")
    return coords


def sensitivity(forcing, coords: torch.Tensor, *, method: str = "morris",
                names: Sequence[str] | None = None, base=None, n_trajectories: int = 4, levels: int = 4,
                delta: float = 0.1, seed: int = 0, model: ProcessModel | None = None,
                max_batch: int = 4096) -> pd.DataFrame:
    """How strongly each parameter moves the log prediction at the observed coordinates.

    The output at site s is ``y = log model.predict(params, forcing, coords)[s]`` (natural log; for
    CLM5 log SOC at the observed depths, SOC in gC m-3), so an effect of 0.1 means about 10 % more
    or less. Parameters move in unit values (0 = low, 1 = high end of ``model.parameter_table``).

    ``method="morris"`` (elementary effects, Morris 1991; Campolongo et al. 2007): per site,
    ``n_trajectories`` random paths through a ``levels``-level grid of the unit cube that move one
    parameter at a time by ``Delta = levels / (2 (levels - 1))``; every step gives, at every observed
    coordinate, one elementary effect ``EE = (y(u + Delta e_i) - y(u)) / Delta``. The whole design
    (sites x trajectories x (k + 1) points) runs as batched model calls of ``max_batch`` rows.

    ``method="oat"`` (one at a time): from ``base`` (unit values [n_params] or [sites, n_params];
    default 0.5, the middle of every range) each parameter moves to ``base - delta`` and
    ``base + delta`` (kept in [0, 1]); ``EE = (y(+) - y(-)) / (u+ - u-)``.

    Parameters not in ``names`` (default: all) stay at ``base`` (Morris: at 0.5 or ``base``).
    ``model`` defaults to :class:`~binn_lite.clm5.CLM5`.

    Returns
    -------
    DataFrame indexed by parameter, sorted by ``mu_star`` (largest first), columns
    ``mu_star`` (mean |EE| over sites, paths and observations; log prediction per unit range),
    ``mu`` (mean EE: the sign says whether the prediction rises with the parameter), ``sigma``
    (standard deviation of EE: non-linearity and interactions), ``rank`` (1 = most influential).
    ``df.attrs`` holds the settings and ``n_runs`` (the number of model runs).
    """
    model = model or CLM5()
    table = model.parameter_table
    names = list(table.names if names is None else names)
    columns = [table.index(name) for name in names]  # KeyError naming unknown parameters
    if len(set(names)) != len(names):
        raise BinnInputError(f"parameter names repeat: {names}")
    n_sites, n_par, k = len(forcing), len(table), len(names)
    coords = _check_coords(coords, n_sites)
    base_unit = torch.full((n_sites, n_par), 0.5, dtype=torch.float64)
    if base is not None:
        base_unit = torch.as_tensor(base, dtype=torch.float64).expand(n_sites, n_par).clone()
        if bool(((base_unit < 0) | (base_unit > 1)).any()):
            raise BinnInputError("base must hold unit parameter values in [0, 1]")

    # -- the design: unit parameter sets [sites, ..., n_par] ------------------------------------
    if method == "morris":
        if levels < 2 or levels % 2:
            raise BinnInputError(f"levels must be an even number >= 2; got {levels}")
        if n_trajectories < 1:
            raise BinnInputError(f"n_trajectories must be >= 1; got {n_trajectories}")
        design, moved, direction, step = _morris_design(n_sites, names, n_trajectories, levels,
                                                        np.random.default_rng(seed))
        unit = base_unit[:, None, None, :].expand(n_sites, n_trajectories, k + 1, n_par).clone()
        unit[..., columns] = torch.from_numpy(design)
    elif method == "oat":
        if not 0 < delta <= 0.5:
            raise BinnInputError(f"delta must be in (0, 0.5]; got {delta}")
        unit = base_unit[:, None, :].expand(n_sites, 2 * k, n_par).clone()
        for j, c in enumerate(columns):
            unit[:, 2 * j, c] = (base_unit[:, c] - delta).clamp(0.0, 1.0)
            unit[:, 2 * j + 1, c] = (base_unit[:, c] + delta).clamp(0.0, 1.0)
    else:
        raise BinnInputError(f"method must be 'morris' or 'oat'; got {method!r}")

    # -- run the model on every design point, in batches ----------------------------------------
    runs_per_site = unit[0].numel() // n_par
    physical = table.to_physical(unit.reshape(-1, n_par))
    site_of_run = torch.arange(n_sites).repeat_interleave(runs_per_site)
    forcing64 = forcing.to(dtype=torch.float64)
    log_y = []
    with torch.no_grad():
        for start in range(0, physical.shape[0], max_batch):
            sites = site_of_run[start:start + max_batch]
            log_y.append(torch.log(model.predict(physical[start:start + max_batch], forcing64[sites], coords[sites])))
    y = torch.cat(log_y).reshape(*unit.shape[:-1], coords.shape[1]).numpy()

    # -- elementary effects [k, everything else] -------------------------------------------------
    if method == "morris":
        steps = (y[:, :, 1:] - y[:, :, :-1]) / step * direction[..., None]  # [s, r, k, obs] in path order
        effects = np.empty_like(steps)
        np.put_along_axis(effects, moved[..., None], steps, axis=2)
        effects = effects.transpose(2, 0, 1, 3).reshape(k, -1)
    else:
        up, down = unit[:, 1::2, columns], unit[:, 0::2, columns]
        moved_by = up.diagonal(dim1=1, dim2=2) - down.diagonal(dim1=1, dim2=2)  # [s, k]
        effects = (y[:, 1::2] - y[:, 0::2]) / moved_by.numpy()[:, :, None]  # [s, k, obs]
        effects = effects.transpose(1, 0, 2).reshape(k, -1)
    frame = pd.DataFrame({
        "mu_star": np.nanmean(np.abs(effects), axis=1),
        "mu": np.nanmean(effects, axis=1),
        "sigma": np.nanstd(effects, axis=1),
    }, index=pd.Index(names, name="parameter")).sort_values("mu_star", ascending=False)
    frame["rank"] = np.arange(1, k + 1)
    settings = {"n_trajectories": n_trajectories, "levels": levels} if method == "morris" else {"delta": delta}
    frame.attrs = {"method": method, "n_sites": n_sites, "n_runs": int(physical.shape[0]),
                   "output": "log prediction at the observed coordinates", "seed": seed, **settings}
    return frame


def plot_sensitivity(frame: pd.DataFrame, highlight: Sequence[str] = MOST_INFLUENTIAL,
                     title: str = "", highlight_label: str = "the papers' four") -> Figure:
    """Horizontal bars of ``mu_star`` (largest on top), ``highlight`` in orange, ``sigma`` as grey dots.

    ``frame`` is the result of :func:`sensitivity`; the default highlight is CLM5's four most
    influential parameters (:data:`~binn_lite.clm5.MOST_INFLUENTIAL`).
    """
    for column in ("mu_star", "sigma"):
        if column not in frame.columns:
            raise BinnInputError(f"plot_sensitivity needs a {column!r} column (the result of sensitivity()); "
                             f"got {list(frame.columns)}")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    order = frame.sort_values("mu_star")
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(order) + 1.4), constrained_layout=True)
    y = np.arange(len(order))
    ax.barh(y, order["mu_star"], color=[colors[1] if name in highlight else colors[0] for name in order.index])
    ax.plot(order["sigma"], y, "o", color="0.3", ms=3)
    ax.set_yticks(y, order.index)
    method = frame.attrs.get("method", "")
    ax.set(xlabel="μ* = mean |Δ log prediction| per unit range", title=title or f"parameter sensitivity ({method})")
    bars = [plt.Rectangle((0, 0), 1, 1, color=colors[1]), plt.Rectangle((0, 0), 1, 1, color=colors[0])]
    ax.legend(bars + ax.get_lines(), [highlight_label, "other parameters", "σ (spread of the effects)"],
              fontsize=8, loc="lower right")
    return fig
