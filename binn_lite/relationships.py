"""Learned covariate -> parameter relationships as tables, their figures and their scores against a truth.

Every interpretation tool of binn_lite answers "which covariate drives which parameter, and how"
with the same two tables, so that a KAN's edges (:mod:`binn_lite.interpret`) and the partial
dependence of any head (:mod:`binn_lite.partial_dependence`) can be drawn and scored alike:

* a **curve table**: a long DataFrame with columns ``covariate, parameter, x, value``, one row per
  grid point of every covariate -> parameter curve (``x`` on the z-scored covariate scale the head
  was trained on, ``value`` in the unit of the tool that made it);
* an **importance matrix**: a DataFrame with the covariates as index and the parameters as columns.

Both are computed from a covariate matrix ``[n_sites, n_covariates]`` (torch, numpy or pandas; the
z-scored covariates the head was trained on), checked by :func:`covariate_matrix`.

Against a known truth (synthetic data with prescribed relationships, as in ScIReN's
relationship-retrieval test) :func:`retrieval_score` counts how many true drivers are ranked on
top and measures the KL divergence between importances and the truth, and
:func:`curve_correlation` / :func:`curve_agreement` compare learned and prescribed curve shapes.
:func:`plot_importance` and :func:`plot_edge_curves` draw the two tables, with the truth marked;
they follow the figure convention of :mod:`binn_lite.plots`.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from .errors import BinnInputError

__all__ = [
    "CURVE_COLUMNS",
    "retrieval_score",
    "curve_correlation",
    "curve_agreement",
    "plot_importance",
    "plot_edge_curves",
]

#: the columns of a curve table
CURVE_COLUMNS = ("covariate", "parameter", "x", "value")


# ---------------------------------------------------------------------------------------------
# Making and reading the tables (used by interpret and partial_dependence)
# ---------------------------------------------------------------------------------------------
def covariate_matrix(X, n_columns: int | None, what: str, dtype: torch.dtype = torch.float32) -> Tensor:
    """The covariates ``X`` as a finite 2-D tensor of ``dtype``, from a Tensor / ndarray / DataFrame.

    ``n_columns`` (if not None) is the number of covariates required; ``what`` names the input
    in the error messages.
    """
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy(dtype=float)
    if isinstance(X, np.ndarray):
        X = torch.from_numpy(np.asarray(X, dtype=float))
    if not isinstance(X, Tensor):
        raise BinnInputError(f"{what}: expected a tensor, array or DataFrame, got {type(X).__name__}")
    if X.dim() != 2:
        raise BinnInputError(f"{what}: expected a 2-D [n_sites, n_covariates] matrix, got shape {tuple(X.shape)}")
    if n_columns is not None and X.shape[1] != n_columns:
        raise BinnInputError(f"{what}: expected {n_columns} covariate columns, got {X.shape[1]}")
    if X.shape[0] < 1:
        raise BinnInputError(f"{what}: no rows")
    if not torch.isfinite(X).all():
        row, col = (~torch.isfinite(X)).nonzero()[0].tolist()
        raise BinnInputError(f"{what}: non-finite value at row {row}, column {col}")
    return X.detach().to(dtype)


def table_names(names: Sequence[str] | None, n: int, prefix: str, what: str) -> list[str]:
    """``n`` unique names for the rows or columns of a table (default ``prefix0, prefix1, ...``)."""
    if names is None:
        return [f"{prefix}{i}" for i in range(n)]
    names = [str(name) for name in names]
    if len(names) != n:
        raise BinnInputError(f"{what}: {len(names)} names given for {n} columns")
    if len(set(names)) != n:
        raise BinnInputError(f"{what}: names are not unique: {names}")
    return names


def parameter_dtype(head: nn.Module) -> torch.dtype:
    """The dtype of a module's parameters (float32 for a module without any)."""
    for p in head.parameters():
        return p.dtype
    return torch.float32


def curve_table(x: np.ndarray, values: np.ndarray, names: list[str], out_names: list[str]) -> pd.DataFrame:
    """The curve table of grid points ``x`` ``[n, n_cov]`` and curve values ``[n, n_out, n_cov]``."""
    n = x.shape[0]
    pieces = []
    for i, cov in enumerate(names):
        for j, par in enumerate(out_names):
            pieces.append(pd.DataFrame({"covariate": cov, "parameter": par, "x": x[:, i], "value": values[:, j, i]}))
    frame = pd.concat(pieces, ignore_index=True)
    assert len(frame) == n * len(names) * len(out_names)
    return frame


def check_curves(curves: pd.DataFrame) -> None:
    """Raise a ValueError unless ``curves`` is a DataFrame with the :data:`CURVE_COLUMNS`."""
    if not isinstance(curves, pd.DataFrame) or not set(CURVE_COLUMNS) <= set(curves.columns):
        raise BinnInputError(f"expected a curve DataFrame with columns {CURVE_COLUMNS}")


def curve(curves: pd.DataFrame, covariate: str, parameter: str, who: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, value)`` of one covariate -> parameter curve of a curve table, sorted by x.

    ``who`` names the caller in the error raised when the table holds no such curve.
    """
    sel = curves[(curves["covariate"] == covariate) & (curves["parameter"] == parameter)].sort_values("x")
    if sel.empty:
        raise BinnInputError(f"{who}: no curve for covariate {covariate!r} and parameter {parameter!r}")
    return sel["x"].to_numpy(dtype=float), sel["value"].to_numpy(dtype=float)


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
        raise BinnInputError(f"retrieval_score: importance must be a pandas DataFrame, got {type(importance).__name__}")
    if eps <= 0:
        raise BinnInputError(f"retrieval_score: eps must be > 0, got {eps}")
    if not truth:
        raise BinnInputError("retrieval_score: truth is empty")
    values = importance.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise BinnInputError("retrieval_score: importance contains NaN/inf")
    if np.any(values < 0):
        raise BinnInputError("retrieval_score: importance must be >= 0 (use magnitudes)")
    covariates = [str(c) for c in importance.index]
    rows = []
    for parameter, drivers in truth.items():
        if parameter not in importance.columns:
            raise BinnInputError(f"retrieval_score: parameter {parameter!r} of the truth is not a column of importance")
        drivers = [str(d) for d in drivers]
        if not drivers:
            raise BinnInputError(f"retrieval_score: parameter {parameter!r} has no true drivers")
        missing = [d for d in drivers if d not in covariates]
        if missing:
            raise BinnInputError(f"retrieval_score: drivers {missing} of {parameter!r} are not in the importance index")
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
        raise BinnInputError(f"curve_correlation: curves must have the same length >= 2, got {a.size} and {b.size}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise BinnInputError("curve_correlation: curves contain NaN/inf")
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0:
        raise BinnInputError("curve_correlation: a curve is constant; correlation is undefined")
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def curve_agreement(
    curves: pd.DataFrame,
    truth: Mapping[tuple[str, str], Callable[[np.ndarray], np.ndarray]],
) -> pd.DataFrame:
    """Correlation of learned curves with prescribed ones, per true edge.

    ``curves`` as returned by :func:`~binn_lite.interpret.kan_edge_functions` /
    :func:`~binn_lite.partial_dependence.partial_dependence_curves`;
    ``truth`` maps ``(covariate, parameter)`` to a function of the curve's x values (the same
    z-scored covariate scale). Returns a DataFrame with columns ``covariate, parameter,
    correlation``. A learned curve that is exactly flat gets correlation 0 (nothing learned).
    """
    check_curves(curves)
    rows = []
    for (cov, par), fun in truth.items():
        x, learned = curve(curves, cov, par, "curve_agreement")
        target = np.asarray(fun(x), dtype=float)
        if learned.std() == 0:
            corr = 0.0
        else:
            corr = curve_correlation(learned, target)
        rows.append({"covariate": cov, "parameter": par, "correlation": corr})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Figures
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
        raise BinnInputError("plot_importance: importance must be a DataFrame")
    values = importance.to_numpy(dtype=float)
    if normalise == "column":
        peak = np.abs(values).max(axis=0, keepdims=True)
        values = np.divide(values, peak, out=np.zeros_like(values), where=peak > 0)
    elif normalise is not None:
        raise BinnInputError(f"plot_importance: normalise must be 'column' or None, got {normalise!r}")
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
    truth_units: str = "same",
    xlabel: str = "covariate (z-score)",
) -> Figure:
    """Grid of curves: one row per covariate, one column per parameter.

    ``curves`` from :func:`~binn_lite.interpret.kan_edge_functions` or
    :func:`~binn_lite.partial_dependence.partial_dependence_curves`, drawn in their own units
    against the covariate (``xlabel``: the heads see z-scores); with ``sharey`` all panels share one
    y axis, so weak edges look flat. ``truth`` maps ``(covariate, parameter)`` to a prescribed
    function of x, drawn dashed on a shaded panel, shifted to the mean of its learned curve (edges
    and partial-dependence curves are defined up to a constant):

    * ``truth_units="same"`` (default): the truth is in the curves' units (e.g. both in fractions
      of the parameter's range) and keeps its own height, so heights compare too;
    * ``"shape"``: the units differ, so each truth curve is standardised and drawn with the largest
      standard deviation among the learned curves: shapes compare, heights do not.

    Returns the Figure.
    """
    if truth_units not in ("same", "shape"):
        raise BinnInputError(f"truth_units must be 'same' or 'shape', got {truth_units!r}")
    check_curves(curves)
    covariates = list(dict.fromkeys(curves["covariate"])) if covariates is None else list(covariates)
    parameters = list(dict.fromkeys(curves["parameter"])) if parameters is None else list(parameters)
    panels = {(cov, par): curve(curves, cov, par, "plot_edge_curves") for cov in covariates for par in parameters}
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
                if truth_units == "shape":
                    t = spread * ((t - t.mean()) / t.std() if t.std() > 0 else t - t.mean())
                    label = "truth (shape only, rescaled)"
                else:
                    t, label = t - t.mean(), "truth"
                ax.plot(x, y.mean() + t, color="C3", lw=1.2, ls="--", label=label)
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
    if xlabel:
        fig.supxlabel(xlabel, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig
