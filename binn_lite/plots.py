"""Figures for training and evaluating a BINN: loss curves, observed vs predicted SOC, profiles,
recovered vs true parameters and maps of sites.

The figure convention of binn_lite (here, in :mod:`binn_lite.explore`, :mod:`binn_lite.relationships`,
:mod:`binn_lite.partial_dependence` and :mod:`binn_lite.sensitivity`): every plotting function
draws a new figure through pyplot (or onto the ``ax`` it is given) and returns the
:class:`matplotlib.figure.Figure`. It never shows, saves or closes it. In a notebook the figure
appears when the cell ends (or at ``plt.show()``); to keep it, ``fig.savefig(path)``; in a script or
test, ``plt.close(fig)`` when done. (The one exception is
:meth:`binn_lite.explorer.ParameterExplorer.figure`, which draws outside pyplot because the slider
widget redraws it as PNG bytes on every move.)

Inputs are the objects the rest of binn_lite produces: ``FitResult.history`` DataFrames, NaN-padded
``[n_sites, n_obs]`` tensors and parameter DataFrames indexed by site id.
"""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation

from .errors import BinnInputError
from .metrics import nse, r2

__all__ = ["plot_history", "plot_observed_vs_predicted", "plot_profiles", "plot_recovery", "plot_site_map",
           "CONUS_EXTENT"]

#: lon_min, lon_max, lat_min, lat_max of the conterminous US (degrees)
CONUS_EXTENT = (-125.0, -66.5, 24.0, 50.0)


def _numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=float)


def plot_history(history: pd.DataFrame, title: str = "Training history", monitor: str = "val_nse") -> Figure:
    """Training and validation loss (left) and validation NSE (right) per epoch.

    ``history`` is ``FitResult.history`` (columns epoch, train_loss, val_loss, val_nse) or
    ``PrunedFit.history`` (with a ``stage`` column: "sparse", then "refit" or "refit 1", "refit 2",
    ...; the first epoch of every later stage is marked by a red line and labelled).

    A dotted line marks the best epoch by ``monitor``: the highest ``"val_nse"`` (default, what
    :func:`~binn_lite.train.fit` monitors by default) or the lowest ``"val_loss"``. Pass the
    ``monitor`` the fit used (``FitResult.monitor``). :func:`~binn_lite.heads.sciren.fit_and_prune`
    monitors ``"val_loss"`` but keeps the *last* epoch of every stage (``restore_best=False``), so
    for its history the line only shows where the validation loss was lowest; the BINN holds the
    weights of the last epoch.
    """
    if monitor not in ("val_nse", "val_loss"):
        raise BinnInputError(f"monitor must be 'val_nse' or 'val_loss'; got {monitor!r}")
    fig, (ax_loss, ax_nse) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    ax_loss.plot(history["epoch"], history["train_loss"], label="training")
    ax_loss.plot(history["epoch"], history["val_loss"], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss")
    ax_nse.plot(history["epoch"], history["val_nse"], color="tab:green")
    ax_nse.set(xlabel="epoch", ylabel="NSE", title="Validation NSE", ylim=(max(-0.5, history["val_nse"].min()), 1.0))

    best = history.loc[history["val_nse"].idxmax() if monitor == "val_nse" else history["val_loss"].idxmin()]
    label = (f"highest val NSE: epoch {int(best['epoch'])} ({best['val_nse']:.3f})" if monitor == "val_nse"
             else f"lowest val loss: epoch {int(best['epoch'])} ({best['val_loss']:.3g})")
    for ax in (ax_loss, ax_nse):
        ax.axvline(best["epoch"], color="0.5", ls=":", label=label if ax is ax_nse else None)

    if "stage" in history:
        starts = history.index[history["stage"].ne(history["stage"].shift()) & (history.index > history.index[0])]
        for k, row in enumerate(starts):
            epoch = history.loc[row, "epoch"]
            for ax in (ax_loss, ax_nse):
                ax.axvline(epoch - 0.5, color="tab:red", lw=1, alpha=0.6)
            # one text row per stage, so labels of short stages do not overlap
            ax_loss.annotate(str(history.loc[row, "stage"]), (epoch, 1), xycoords=("data", "axes fraction"),
                             xytext=(3, -12 - 11 * k), textcoords="offset points", color="tab:red", fontsize=8)
    ax_loss.legend()
    ax_nse.legend(loc="lower right")
    fig.suptitle(title)
    return fig


def plot_observed_vs_predicted(observed: Any, predicted: Any, depth: Any | None = None,
                               title: str = "Observed vs predicted SOC", unit: str = "gC m$^{-3}$") -> Figure:
    """Scatter of predicted against observed values on log axes with the 1:1 line and the NSE.

    ``observed``, ``predicted`` (and optionally ``depth``, m, used for the colour) have the same
    shape, e.g. ``[n_sites, n_obs]`` with NaN padding, which is ignored.
    """
    obs, pred = _numpy(observed).reshape(-1), _numpy(predicted).reshape(-1)
    valid = np.isfinite(obs) & np.isfinite(pred) & (obs > 0) & (pred > 0)
    fig, ax = plt.subplots(figsize=(5, 4.6), constrained_layout=True)
    colour = _numpy(depth).reshape(-1)[valid] if depth is not None else None
    points = ax.scatter(obs[valid], pred[valid], c=colour, s=6, alpha=0.5, lw=0,
                        cmap="viridis_r" if depth is not None else None)
    if depth is not None:
        fig.colorbar(points, ax=ax, label="depth (m)")
    low, high = np.min([obs[valid].min(), pred[valid].min()]), np.max([obs[valid].max(), pred[valid].max()])
    ax.plot([low, high], [low, high], color="k", lw=1, label="1:1")
    ax.set(xscale="log", yscale="log", xlabel=f"observed ({unit})", ylabel=f"predicted ({unit})",
           title=f"{title}\nNSE = {nse(pred, obs):.3f} (n = {valid.sum()})")
    ax.legend(loc="upper left")
    return fig


def plot_profiles(depth: Any, observed: Any, predicted: Any, labels: Sequence[str],
                  model_depth: Any | None = None, model_values: Any | None = None,
                  unit: str = "gC m$^{-3}$") -> Figure:
    """Observed (points) and predicted profiles for a few sites, one panel each.

    SOC is drawn on a log axis in every panel when any panel spans more than a decade, else on linear
    axes (one scale for the whole figure); the legend sits beside the panels, off the data.

    ``depth``, ``observed``, ``predicted``: ``[n, n_obs]`` for the chosen sites (m, SOC).
    ``model_depth`` [20] and ``model_values`` [n, 20] optionally draw the model's node profile.
    """
    depth, observed, predicted = _numpy(depth), _numpy(observed), _numpy(predicted)
    n = len(labels)
    values = np.concatenate([observed[np.isfinite(depth)], predicted[np.isfinite(depth)]])
    log_axis = bool(np.nanmax(values) > 10 * np.nanmin(values))
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 4.2), sharey=True, constrained_layout=True, squeeze=False)
    for i, ax in enumerate(axes[0]):
        keep = np.isfinite(depth[i])
        if model_values is not None:
            nodes = _numpy(model_depth)
            shown = nodes <= max(2.0, float(np.nanmax(depth[i])) * 1.2)
            ax.plot(_numpy(model_values)[i][shown], nodes[shown], color="tab:blue", lw=1.5, label="model (nodes)")
        ax.plot(predicted[i][keep], depth[i][keep], "x", color="tab:blue", label="predicted")
        ax.plot(observed[i][keep], depth[i][keep], "o", mfc="none", color="k", label="observed")
        ax.set(title=str(labels[i]), xlabel=f"SOC ({unit})", xscale="log" if log_axis else "linear")
        if log_axis:
            # a panel spanning less than a decade labels some minor ticks (matplotlib picks few enough
            # not to overlap once rotated); wider panels label the decades only
            ax.xaxis.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(1, 0.5)))
            ax.tick_params(axis="x", which="both", labelrotation=45, labelsize=7)
    axes[0, 0].set_ylabel("depth (m)")
    axes[0, 0].invert_yaxis()
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    return fig


def plot_recovery(predicted: pd.DataFrame, true: pd.DataFrame, parameters: Sequence[str],
                  units: dict[str, str] | None = None, title: str = "Recovered vs true parameters") -> Figure:
    """One scatter per parameter of recovered against true values (physical units), with R².

    ``predicted`` and ``true`` are indexed by site id (rows are matched by id).
    """
    truth = true.loc[predicted.index]
    fig, axes = plt.subplots(1, len(parameters), figsize=(3.3 * len(parameters), 3.5), constrained_layout=True,
                             squeeze=False)
    for ax, name in zip(axes[0], parameters):
        t, p = truth[name].to_numpy(float), predicted[name].to_numpy(float)
        ax.scatter(t, p, s=6, alpha=0.5, lw=0)
        low, high = min(t.min(), p.min()), max(t.max(), p.max())
        ax.plot([low, high], [low, high], color="k", lw=1)
        unit = f" ({units[name]})" if units and units.get(name, "-") != "-" else ""
        ax.set(title=f"{name}: R² = {r2(p, t):.2f}", xlabel=f"true{unit}", ylabel=f"recovered{unit}")
    fig.suptitle(title)
    return fig


def plot_site_map(lon: Any, lat: Any, values: Any, title: str = "", label: str = "", cmap: str = "viridis",
                  ax: plt.Axes | None = None, vmin: float | None = None, vmax: float | None = None) -> Figure:
    """Sites coloured by a value on longitude/latitude axes over the conterminous US."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    else:
        fig = ax.figure
    points = ax.scatter(_numpy(lon), _numpy(lat), c=_numpy(values), s=8, cmap=cmap, vmin=vmin, vmax=vmax, lw=0)
    fig.colorbar(points, ax=ax, label=label, shrink=0.85)
    lon_min, lon_max, lat_min, lat_max = CONUS_EXTENT
    ax.set(xlim=(lon_min, lon_max), ylim=(lat_min, lat_max), xlabel="longitude (°)", ylabel="latitude (°)", title=title)
    ax.set_aspect(1.25)
    return fig
