"""Look inside the CLM5 matrix model: pictures of its pieces.

Everything here serves tutorial 01 (``tutorials/01_matrix_model.ipynb``). The model is

    dX/dt = B I + A xi K X - V X                                   (time in days)

with ``X`` [gC m-3] the 7 pools in each of 20 layers; the physics (matrices, steady state,
:func:`~binn_lite.clm5.spin_up`, :func:`~binn_lite.clm5.soc_stock`) lives in :mod:`binn_lite.clm5`,
the sensitivity analysis in :mod:`binn_lite.sensitivity` and the slider widget in
:mod:`binn_lite.explorer`. Figures follow the convention of :mod:`binn_lite.plots`.

* forcing and building blocks: :func:`contrasting_sites`, :func:`plot_forcing`, :func:`plot_matrix`,
  :func:`plot_sparsity`, :func:`plot_turnover`, :func:`plot_scalars_with_depth`,
  :func:`plot_diffusivity`, :func:`plot_input_profile`;
* steady state and spin-up: :func:`plot_spinup`, :func:`plot_pools_profile`, :func:`plot_soc_profiles`.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import SymLogNorm, TwoSlopeNorm
from matplotlib.figure import Figure

from .errors import BinnInputError
from .clm5 import (CLM5_PARAMETERS, DAYS_PER_YEAR, DZ, N_LAYERS, N_POOLS, POOLS, SOM_POOLS, ZISOI, ZSOI,
                   Forcing, Trajectory, base_turnover, diffusivity, environmental_scalars, input_profile,
                   soc_stock)

__all__ = [
    "POOL_LABELS", "contrasting_sites", "plot_forcing", "plot_matrix", "plot_sparsity", "plot_turnover",
    "plot_scalars_with_depth", "plot_diffusivity", "plot_input_profile",
    "plot_spinup", "plot_pools_profile", "plot_soc_profiles",
]

#: short readable pool names, in the order of :data:`binn_lite.clm5.POOLS`
POOL_LABELS = ("CWD", "litter 1", "litter 2", "litter 3", "SOM 1", "SOM 2", "SOM 3")
_SOM = [POOLS.index(p) for p in SOM_POOLS]
_KELVIN = 273.15
_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def _params_for(params: torch.Tensor, forcing: Forcing) -> torch.Tensor:
    """Physical parameters as a float64 ``[len(forcing), 21]`` tensor (a ``[21]`` vector is repeated)."""
    params = torch.as_tensor(params, dtype=torch.float64)
    if params.ndim == 1:
        params = params.expand(len(forcing), -1)
    if params.ndim != 2 or params.shape != (len(forcing), len(CLM5_PARAMETERS)):
        raise BinnInputError(f"params must have shape [{len(forcing)}, {len(CLM5_PARAMETERS)}] (sites, parameters) "
                         f"or [{len(CLM5_PARAMETERS)}]; got {tuple(params.shape)}")
    return params


def _labels(labels: Sequence[str] | None, n: int) -> list[str]:
    if labels is None:
        return [f"site {i}" for i in range(n)]
    labels = list(labels)
    if len(labels) != n:
        raise BinnInputError(f"got {len(labels)} labels for {n} sites")
    return labels


def _depth_axis(ax, max_depth: float, label: bool = True) -> None:
    ax.set_ylim(max_depth, 0.0)
    if label:
        ax.set_ylabel("depth (m)")


# ---------------------------------------------------------------------------------------------
# Choosing sites and looking at their forcing
# ---------------------------------------------------------------------------------------------
def contrasting_sites(dataset, min_obs: int = 4) -> dict[str, int]:
    """Three contrasting sites of a :class:`~binn_lite.dataset.SiteDataset` (positions).

    * ``"warm wet forest"``: the forest site with the largest z-scored BIO1 + BIO12,
    * ``"cold permafrost site"``: the site with the shallowest permafrost active layer
      (``0 < ALT <= 2`` m; ALT = 12-month maximum of ``altmax``); if there is none, the coldest site
      (label ``"coldest site"``),
    * ``"dry grassland"``: the grassland site with the lowest BIO12 (annual precipitation).

    Only sites with at least ``min_obs`` observations are considered where enough exist (fewer
    are accepted for the permafrost site, which is rare). Needs site columns ``bio1``, ``bio12`` and
    ``land_cover``; without a ``land_cover`` column every site counts as forest and grassland.
    """
    sites = dataset.sites
    for column in ("bio1", "bio12"):
        if column not in sites.columns:
            raise BinnInputError(f"contrasting_sites needs the site column {column!r}; have {list(sites.columns)}")
    n_obs = _numpy(dataset.n_obs) if hasattr(dataset, "n_obs") else np.full(len(sites), min_obs)
    enough = n_obs >= min_obs
    cover = sites["land_cover"].to_numpy() if "land_cover" in sites.columns else None
    z = ((sites[["bio1", "bio12"]] - sites[["bio1", "bio12"]].mean()) / sites[["bio1", "bio12"]].std()).sum(axis=1)

    def best(score: np.ndarray, allowed: np.ndarray) -> int:
        pool = allowed & enough if (allowed & enough).any() else allowed
        if not pool.any():
            pool = np.ones(len(score), dtype=bool)
        return int(np.flatnonzero(pool)[np.argmax(score[pool])])

    everyone = np.ones(len(sites), dtype=bool)
    forest = cover == "forest" if cover is not None else everyone
    grass = cover == "grassland" if cover is not None else everyone
    chosen = {"warm wet forest": best(z.to_numpy(), forest)}
    alt = _numpy(torch.maximum(dataset.forcing.altmax, dataset.forcing.altmax_lastyear).max(dim=1).values)
    permafrost = (alt > 0) & (alt <= 2.0)
    if permafrost.any():
        chosen["cold permafrost site"] = best(-alt + 1e-3 * n_obs, permafrost)
    else:
        chosen["coldest site"] = best(-sites["bio1"].to_numpy(), everyone)
    chosen["dry grassland"] = best(-sites["bio12"].to_numpy(), grass)
    return chosen


def plot_forcing(forcing: Forcing, labels: Sequence[str] | None = None) -> Figure:
    """Four panels of the monthly forcing of a few sites.

    (a) total litter and CWD input per month (gC m-2 month-1); (b) soil temperature (degC) with
    depth: 12-month mean (line) and range (band); (c) the water scalar ``w`` (12-month mean) with
    depth; (d) the active-layer depth ``max(altmax, altmax_lastyear)`` per month (m), with the 2 m
    limit below which CLM5 treats the site as permafrost (cryoturbation).
    """
    labels = _labels(labels, len(forcing))
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), constrained_layout=True)
    months = np.arange(1, 13)
    z = _numpy(ZSOI)
    litter = _numpy(forcing.litter_input.sum(dim=2))
    temp = _numpy(forcing.soil_temperature) - _KELVIN
    water = _numpy(forcing.water_scalar.mean(dim=1))
    alt = _numpy(torch.maximum(forcing.altmax, forcing.altmax_lastyear))
    for i, label in enumerate(labels):
        color = _COLORS[i % len(_COLORS)]
        axes[0].plot(months, litter[i], "o-", color=color, label=label)
        axes[1].plot(temp[i].mean(axis=0), z, color=color, label=label)
        axes[1].fill_betweenx(z, temp[i].min(axis=0), temp[i].max(axis=0), color=color, alpha=0.2)
        axes[2].plot(water[i], z, color=color, label=label)
        axes[3].plot(months, np.minimum(alt[i], 8.6), "o-", color=color, label=label)
    axes[0].set(xlabel="month", ylabel="input (gC m$^{-2}$ month$^{-1}$)", title="(a) litter + CWD input")
    axes[1].axvline(0.0, color="grey", lw=0.8, ls=":")
    axes[1].set(xlabel="soil temperature (°C)", title="(b) temperature: mean and range")
    axes[2].set(xlabel="water scalar w (-)", title="(c) water scalar, annual mean")
    for ax in axes[1:3]:
        _depth_axis(ax, 3.0)
    axes[3].axhline(2.0, color="grey", lw=0.8, ls="--")
    axes[3].text(1, 2.1, "permafrost below this line", fontsize=8, color="grey")
    axes[3].set(xlabel="month", ylabel="active-layer depth (m)", title="(d) active layer", ylim=(0, 9))
    axes[0].legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# The matrices
# ---------------------------------------------------------------------------------------------
def plot_matrix(matrix, labels: Sequence[str] | None = None, title: str = "", unit: str = "",
                scale: str = "linear", annotate: bool | None = None, ax=None) -> Figure:
    """Heat map of a square matrix (e.g. ``A`` 7 x 7 or ``V`` 20 x 20), zero in white.

    Parameters
    ----------
    matrix : [n, n] tensor or array.
    labels : row/column labels (default 0..n-1: Python's indices, e.g. layer 0 is the top layer).
    unit : text for the colour bar (``"day$^{-1}$"``, ``"-"``).
    scale : ``"linear"`` (blue negative, red positive, white zero) or ``"symlog"`` (for entries spanning
        orders of magnitude, e.g. ``V``: linear within 1e-3 of the largest magnitude).
    annotate : write the values in the cells (default: when n <= 10).
    """
    m = _numpy(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise BinnInputError(f"plot_matrix needs a square matrix; got shape {m.shape}")
    n = m.shape[0]
    fig = ax.figure if ax is not None else plt.figure(figsize=(5.2, 4.4), constrained_layout=True)
    ax = ax if ax is not None else fig.add_subplot()
    vmax = float(np.abs(m).max()) or 1.0
    if scale == "symlog":
        norm = SymLogNorm(linthresh=1e-3 * vmax, vmin=-vmax, vmax=vmax)
    elif scale == "linear":
        norm = TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
    else:
        raise BinnInputError(f"scale must be 'linear' or 'symlog'; got {scale!r}")
    image = ax.imshow(m, cmap="RdBu_r", norm=norm)
    bar = fig.colorbar(image, ax=ax, label=unit, shrink=0.85)
    if scale == "symlog":  # decades only, none inside the linear band around 0 (their labels would overlap)
        decades = 10.0 ** np.arange(np.ceil(np.log10(10 * norm.linthresh)), np.floor(np.log10(vmax)) + 1)
        bar.set_ticks(np.concatenate([-decades[::-1], [0.0], decades]))
    ticks = np.arange(n)
    names = list(labels) if labels is not None else [str(i) for i in ticks]
    step = 1 if n <= 10 else 2
    ax.set_xticks(ticks[::step], names[::step], rotation=90 if n <= 10 else 0)
    ax.set_yticks(ticks[::step], names[::step])
    ax.set(xlabel="from (column)", ylabel="to (row)", title=title)
    if annotate if annotate is not None else n <= 10:
        for i in range(n):
            for j in range(n):
                if m[i, j] != 0:
                    ax.text(j, i, f"{m[i, j]:.2g}", ha="center", va="center", fontsize=7,
                            color="white" if abs(m[i, j]) > 0.6 * vmax else "black")
    return fig


def plot_sparsity(matrix, block: int = N_POOLS, title: str = "") -> Figure:
    """Magnitudes ``log10 |M_ij|`` of a large matrix with its block structure (zeros left white).

    For the steady-state matrix ``V - A xi K`` [140, 140] ordered layer by layer the grid lines
    separate the 20 layers of 7 pools: 7 x 7 blocks on the diagonal (decomposition and transfer
    within a layer, plus mixing out of it) and diagonal blocks beside them (mixing between
    neighbouring layers) -- block-tridiagonal.
    """
    m = _numpy(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise BinnInputError(f"plot_sparsity needs a square matrix; got shape {m.shape}")
    n = m.shape[0]
    magnitude = np.where(m != 0, np.log10(np.abs(m) + 1e-300), np.nan)
    fig, ax = plt.subplots(figsize=(6.2, 5.2), constrained_layout=True)
    image = ax.imshow(magnitude, cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="log$_{10}$ |entry| (day$^{-1}$)", shrink=0.85)
    for k in range(block, n, block):
        ax.axhline(k - 0.5, color="0.85", lw=0.4)
        ax.axvline(k - 0.5, color="0.85", lw=0.4)
    nonzero = int((m != 0).sum())
    ax.set(title=title or f"{n} x {n}: {nonzero} non-zero of {n * n} ({100 * nonzero / n / n:.1f} %)",
           xlabel="column (layer by layer, 7 pools each)", ylabel="row")
    return fig


def plot_turnover(params, xi_k=None, labels: Sequence[str] | None = None) -> Figure:
    """Turnover times of the 7 pools (years, log scale): base ``tau_p = 1 / (365 k_p)``.

    With ``xi_k`` (effective rates [7] or [n, 7] in day-1, e.g. :func:`~binn_lite.clm5.decomposition_rates`
    of one layer) the effective turnover ``1 / (365 xi k)`` is drawn next to the base value. The
    base values are those of ``params`` (its first row): with ``labels``, the first label names them.
    """
    params = torch.as_tensor(params, dtype=torch.float64).reshape(-1, len(CLM5_PARAMETERS))[:1]
    tau = 1.0 / (DAYS_PER_YEAR * _numpy(base_turnover(params)[0]))
    fig, ax = plt.subplots(figsize=(9.5, 3.6), constrained_layout=True)  # room for the legend beside
    x = np.arange(N_POOLS)
    series = [("base (K only)", tau)]
    if xi_k is not None:
        rates = np.atleast_2d(_numpy(xi_k))
        names = _labels(labels, rates.shape[0])
        if labels is not None:
            series = [(f"base (K only) of the {names[0]}", tau)]
        series += [(f"{name} (ξ K)", 1.0 / (DAYS_PER_YEAR * r)) for name, r in zip(names, rates)]
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=name, color=_COLORS[k % len(_COLORS)])
    ax.set_yscale("log")
    ax.set_xticks(x, POOL_LABELS)
    ax.set(ylabel="turnover time (years)", title="turnover time 1 / (365 k) of each pool")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, not on them
    return fig


def plot_scalars_with_depth(params, forcing: Forcing, labels: Sequence[str] | None = None,
                            max_depth: float = 3.0) -> Figure:
    """The environmental scalars ``xi`` (12-month means) against depth, one line per site.

    Panels: ``xi_T = Q10^((T - 298.15)/10)``, ``xi_W = min(1, w w_scaling)``, ``xi_O``, ``xi_N``,
    ``xi_depth = exp(-z / efolding)`` and their product for the SOM pools,
    ``mean_months(xi_T xi_W xi_O) xi_depth`` (the factor that multiplies ``k_p`` in
    :func:`~binn_lite.clm5.decomposition_rates`). All dimensionless, all on linear axes.
    """
    params = _params_for(params, forcing)
    labels = _labels(labels, len(forcing))
    xi = environmental_scalars(params, forcing.to(dtype=torch.float64))
    panels = {
        "temperature ξ$_T$": xi["temperature"].mean(dim=1),
        "water ξ$_W$": xi["water"].mean(dim=1),
        "oxygen ξ$_O$": xi["oxygen"].mean(dim=1),
        "nitrogen ξ$_N$ (litter only)": xi["nitrogen"].mean(dim=1),
        "depth ξ$_{depth}$": xi["depth"],
        "product for SOM": (xi["temperature"] * xi["water"] * xi["oxygen"]).mean(dim=1) * xi["depth"],
    }
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 3.8), sharey=True, constrained_layout=True)
    z = _numpy(ZSOI)
    for ax, (title, values) in zip(axes, panels.items()):
        v = _numpy(values)
        for i, label in enumerate(labels):
            ax.plot(v[i], z, "o-", ms=3, color=_COLORS[i % len(_COLORS)], label=label)
        ax.set(title=title, xlabel="scalar (-)")
        _depth_axis(ax, max_depth, label=ax is axes[0])
    axes[0].legend(fontsize=8)
    return fig


def plot_diffusivity(params, forcing: Forcing, labels: Sequence[str] | None = None,
                     max_depth: float = 4.0) -> Figure:
    """Mixing diffusivity ``D`` at the layer bottoms (12-month mean, m2 yr-1) against depth.

    Bioturbation (``bio``, constant) where the active layer is deeper than 2 m; cryoturbation
    (``cryo``, fading to zero at 3 m) on permafrost; no mixing below bedrock (marked with a
    horizontal line per site).
    """
    params = _params_for(params, forcing)
    labels = _labels(labels, len(forcing))
    d = _numpy(diffusivity(params, forcing.to(dtype=torch.float64)).mean(dim=1))
    d = np.where(d < 1e-20, 0.0, d)  # the 1e-30 floor is "no mixing"
    fig, ax = plt.subplots(figsize=(4.8, 4.2), constrained_layout=True)
    z = _numpy(ZISOI)
    for i, label in enumerate(labels):
        color = _COLORS[i % len(_COLORS)]
        ax.plot(1e4 * d[i], z, "o-", ms=3, lw=max(3.0 - i, 1.0), color=color, label=label)
        bedrock = int(forcing.bedrock[i])
        if bedrock < N_LAYERS:
            ax.axhline(float(ZISOI[bedrock - 1]), color=color, ls=":", lw=1)
    ax.set(xlabel="D (10$^{-4}$ m$^2$ yr$^{-1}$)", title="vertical mixing diffusivity")
    _depth_axis(ax, max_depth)
    ax.legend(fontsize=8)
    return fig


def plot_input_profile(params, forcing: Forcing, betas: Sequence[float] = (0.9, 0.95, 0.97, 0.99),
                       max_depth: float = 2.0) -> Figure:
    """Where the litter input enters: the Jackson et al. (1996) profile for several ``beta``.

    Left: input density per metre ``f_j / dz_j`` (m-1; multiply by an input in gC m-2 day-1 to get
    ``B I`` in gC m-3 day-1). Right: cumulative fraction of the input above each layer bottom,
    ``1 - beta^(100 z)`` (normalised over the 8.6 m column). Uses the first site of ``forcing``.
    """
    forcing = forcing[[0]].to(dtype=torch.float64)
    base = _params_for(params, forcing)[:1]
    column = CLM5_PARAMETERS.index("beta")
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True, constrained_layout=True)
    z, zb = _numpy(ZSOI), _numpy(ZISOI)
    for k, beta in enumerate(betas):
        p = base.clone()
        p[:, column] = beta
        f = _numpy(input_profile(p, forcing)[0])
        color = _COLORS[k % len(_COLORS)]
        axes[0].plot(f / _numpy(DZ), z, "o-", ms=3, color=color, label=f"β = {beta:g}")
        axes[1].plot(np.concatenate([[0.0], np.cumsum(f)]), np.concatenate([[0.0], zb]), "o-", ms=3, color=color)
    axes[0].set_xlim(0, None)  # linear, like the cumulative panel beside it
    axes[0].set(xlabel="input density f / dz (m$^{-1}$)", title="share of the input per metre")
    axes[1].axvline(0.5, color="grey", ls=":", lw=1)
    axes[1].set(xlabel="cumulative fraction of input (-)", title="input entering above depth z", xlim=(0, 1))
    _depth_axis(axes[0], max_depth)
    axes[0].legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# Steady state and spin-up (computed by binn_lite.clm5: CLM5.steady_state, spin_up)
# ---------------------------------------------------------------------------------------------
def plot_spinup(trajectory: Trajectory, steady: torch.Tensor, labels: Sequence[str] | None = None,
                max_depth: float | None = 1.2) -> Figure:
    """Spin-up against the steady state (log time axis).

    Left: SOC stock (kgC m-2, layers down to ``max_depth``) over time, steady state dashed. Right:
    fraction of the steady-state stock reached by SOM 1, SOM 2 and SOM 3 of the first site: the
    fast pools fill within years, the passive pool needs millennia.
    """
    years = _numpy(trajectory.years)
    pools = trajectory.pools
    labels = _labels(labels, pools.shape[0])
    stock = _numpy(soc_stock(pools, max_depth)) / 1000.0
    target = _numpy(soc_stock(steady, max_depth)) / 1000.0
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    shown = years > 0
    for i, label in enumerate(labels):
        color = _COLORS[i % len(_COLORS)]
        axes[0].plot(years[shown], stock[i, shown], color=color, label=label)
        axes[0].axhline(target[i], color=color, ls="--", lw=1)
    where = "whole column" if max_depth is None else f"top {max_depth:g} m"
    axes[0].set(xscale="log", xlabel="years since bare soil", ylabel="SOC stock (kgC m$^{-2}$)",
                title=f"spin-up ({where}); dashed: steady state")
    axes[0].legend(fontsize=8)
    dz = DZ.to(pools) if max_depth is None else torch.where(ZISOI.to(pools) <= max_depth + 1e-9, DZ.to(pools), 0.0)
    for k, pool in zip(_SOM, SOM_POOLS):
        reached = _numpy((pools[0, :, k] * dz).sum(-1) / (steady[0, k] * dz).sum(-1))
        axes[1].plot(years[shown], reached[shown], label=POOL_LABELS[k])
    axes[1].axhline(1.0, color="grey", ls="--", lw=1)
    axes[1].set(xscale="log", xlabel="years since bare soil", ylabel="fraction of steady state",
                title=f"{labels[0]}: pools fill at their own pace", ylim=(0, 1.05))
    axes[1].legend(fontsize=8)
    return fig


def plot_pools_profile(pools: torch.Tensor, labels: Sequence[str] | None = None, max_depth: float = 3.0) -> Figure:
    """All 7 steady-state pools against depth (gC m-3, log x axis); one panel per site.

    ``pools``: ``[7, 20]`` or ``[batch, 7, 20]`` (e.g. :meth:`binn_lite.clm5.CLM5.steady_state`).
    """
    p = _numpy(pools)
    if p.ndim == 2:
        p = p[None]
    if p.shape[1:] != (N_POOLS, N_LAYERS):
        raise BinnInputError(f"pools must have shape [batch, {N_POOLS}, {N_LAYERS}]; got {p.shape}")
    labels = _labels(labels, p.shape[0])
    fig, axes = plt.subplots(1, p.shape[0], figsize=(4.2 * p.shape[0], 4), sharey=True,
                             squeeze=False, constrained_layout=True)
    z = _numpy(ZSOI)
    for ax, site, label in zip(axes[0], p, labels):
        for k in range(N_POOLS):
            ax.plot(np.maximum(site[k], 1e-3), z, "-", marker="o", ms=2.5, lw=2 if k in _SOM else 1,
                    color=_COLORS[k % len(_COLORS)], label=POOL_LABELS[k])
        ax.set(xscale="log", xlabel="carbon (gC m$^{-3}$)", title=label)
        ax.set_xlim(left=max(1.0, float(p[:, :, z <= max_depth].min()) / 2))
        _depth_axis(ax, max_depth, label=ax is axes[0, 0])
    axes[0, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # beside the panels
    return fig


def plot_soc_profiles(soc: torch.Tensor, depths=None, observed=None, labels: Sequence[str] | None = None,
                      max_depth: float = 2.0) -> Figure:
    """Modelled SOC profiles (line, gC m-3 at the 20 nodes) with observations (dots) if given.

    ``soc`` [batch, 20]; ``depths``, ``observed`` [batch, n_obs] NaN-padded (m, gC m-3), e.g.
    ``dataset.depth[idx]`` and ``dataset.soc[idx]``.
    """
    s = np.atleast_2d(_numpy(soc))
    labels = _labels(labels, s.shape[0])
    fig, axes = plt.subplots(1, s.shape[0], figsize=(4 * s.shape[0], 4), sharey=True,
                             squeeze=False, constrained_layout=True)
    z = _numpy(ZSOI)
    for i, (ax, label) in enumerate(zip(axes[0], labels)):
        ax.plot(s[i] / 1000.0, z, "o-", ms=3, label="model (steady state)")
        if depths is not None and observed is not None:
            d, o = _numpy(depths)[i], _numpy(observed)[i]
            keep = ~np.isnan(d)
            ax.plot(o[keep] / 1000.0, d[keep], "s", color="black", ms=5, label="observed")
        ax.set(xlabel="SOC (kgC m$^{-3}$)", title=label)
        ax.set_xlim(left=0)
        _depth_axis(ax, max_depth, label=i == 0)
    axes[0, 0].legend(fontsize=8)
    return fig
