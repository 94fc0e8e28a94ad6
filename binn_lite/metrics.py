"""Goodness-of-fit metrics for SOC predictions and for recovered parameters.

Every function takes a prediction and an observation of the same shape (torch tensors, numpy
arrays, pandas objects or lists), flattens them and uses only the pairs where **both** are finite
(NaN padding of ragged profiles is ignored, never counted). With ``p`` the predictions, ``o`` the
observations and bars for means over the ``n`` valid pairs:

=============  =========================================================================  =========
metric         definition                                                                 perfect
=============  =========================================================================  =========
``nse``        ``1 - sum (p - o)^2 / sum (o - obar)^2``  (Nash & Sutcliffe 1970)           1
``r2``         the same ``1 - SS_res / SS_tot``: the coefficient of determination of       1
               the 1:1 line (scikit-learn's ``r2_score``). It is **not** the squared
               Pearson correlation: a biased or mis-scaled prediction has
               ``r2 < pearson_r**2``, and ``r2`` can be negative.
``pearson_r``  ``cov(p, o) / (sd(p) sd(o))``; square it for the "R² of a regression line"  1
``rmse``       ``sqrt(mean (p - o)^2)``, in the unit of the data                            0
``bias``       ``mean (p - o)``: positive when the prediction is too high                   0
``kge``        ``1 - sqrt((r - 1)^2 + (alpha - 1)^2 + (beta - 1)^2)``, ``alpha = sd(p) /    1
               sd(o)``, ``beta = pbar / obar`` (Gupta et al. 2009)
=============  =========================================================================  =========

For SOC, ``nse`` and ``r2`` coincide; ``nse`` is the hydrological name used for time series and
profiles, ``r2`` the one used for parameter recovery (Xu et al. 2025; Fan et al. 2025).

A metric that is undefined raises ``ValueError`` naming the reason (no valid pair, constant
observations, ...) instead of returning NaN silently. :func:`recovery_table` catches those per
parameter and writes NaN plus a ``note``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from .errors import BinnInputError

__all__ = ["nse", "r2", "kge", "rmse", "bias", "pearson_r", "soc_metrics", "recovery_table", "METRICS"]


def _as_array(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().to(torch.float64).numpy()
    elif isinstance(values, (pd.DataFrame, pd.Series)):
        values = values.to_numpy(dtype=float)
    return np.asarray(values, dtype=float)


def _pairs(pred: Any, obs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Flattened finite pairs of ``pred`` and ``obs`` (which must have the same shape)."""
    p, o = _as_array(pred), _as_array(obs)
    if p.shape != o.shape:
        raise BinnInputError(f"prediction has shape {p.shape} but observation has shape {o.shape}")
    p, o = p.reshape(-1), o.reshape(-1)
    valid = np.isfinite(p) & np.isfinite(o)
    if not valid.any():
        raise BinnInputError("no pair where both prediction and observation are finite")
    return p[valid], o[valid]


def _spread(values: np.ndarray, what: str) -> float:
    centred = values - values.mean()
    total = float(np.dot(centred, centred))
    if not total > 0.0:
        raise BinnInputError(f"the {what} are constant over the valid pairs; the metric is undefined")
    return total


def nse(pred: Any, obs: Any) -> float:
    """Nash-Sutcliffe efficiency ``1 - SS_res / SS_tot`` over the finite pairs."""
    p, o = _pairs(pred, obs)
    return 1.0 - float(np.sum((p - o) ** 2)) / _spread(o, "observations")


def r2(pred: Any, obs: Any) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (the 1:1 line, not ``pearson_r**2``)."""
    return nse(pred, obs)


def pearson_r(pred: Any, obs: Any) -> float:
    """Pearson correlation coefficient of the finite pairs."""
    p, o = _pairs(pred, obs)
    if p.size < 2:
        raise BinnInputError("Pearson r needs at least two valid pairs")
    cp, co = p - p.mean(), o - o.mean()
    return float(np.dot(cp, co)) / np.sqrt(_spread(p, "predictions") * _spread(o, "observations"))


def rmse(pred: Any, obs: Any) -> float:
    """Root-mean-square error, in the unit of the data."""
    p, o = _pairs(pred, obs)
    return float(np.sqrt(np.mean((p - o) ** 2)))


def bias(pred: Any, obs: Any) -> float:
    """Mean error ``mean(pred - obs)`` (positive: prediction too high)."""
    p, o = _pairs(pred, obs)
    return float(np.mean(p - o))


def kge(pred: Any, obs: Any) -> float:
    """Kling-Gupta efficiency (Gupta et al. 2009): correlation, variability and mean ratio."""
    p, o = _pairs(pred, obs)
    r = pearson_r(p, o)
    alpha = np.std(p) / np.std(o)
    if o.mean() == 0.0:
        raise BinnInputError("the observations have mean 0; the KGE bias ratio is undefined")
    beta = p.mean() / o.mean()
    return float(1.0 - np.sqrt((r - 1.0) ** 2 + (alpha - 1.0) ** 2 + (beta - 1.0) ** 2))


#: name -> metric function, in the order used by :func:`soc_metrics`
METRICS: dict[str, Callable[[Any, Any], float]] = {
    "nse": nse, "kge": kge, "r2": r2, "r": pearson_r, "rmse": rmse, "bias": bias,
}


def soc_metrics(pred: Any, obs: Any) -> pd.Series:
    """All metrics of SOC predictions against observations (e.g. ``[n_sites, n_obs]``, NaN-padded).

    Returns a Series with ``nse, kge, r2, r, rmse, bias`` (rmse and bias in the unit of the data,
    gC m-3 for SOC) and ``n``, the number of finite pairs used.
    """
    p, o = _pairs(pred, obs)
    values = {name: metric(p, o) for name, metric in METRICS.items()}
    values["n"] = int(p.size)
    return pd.Series(values, name="soc")


def recovery_table(pred_params: pd.DataFrame, true_params: pd.DataFrame,
                   parameters: list[str] | None = None) -> pd.DataFrame:
    """How well are known parameters recovered? One row per parameter.

    Parameters
    ----------
    pred_params, true_params : DataFrames indexed by site id, one column per parameter (physical
        units), e.g. the first output of ``BINN.predict_dataset`` and ``dataset.truth.params``.
        Rows are matched by site id; every predicted site must be in the truth.
    parameters : the parameters to compare; default the columns present in both frames, in the
        order of ``pred_params``.

    Returns
    -------
    DataFrame indexed by parameter with ``r2`` (1 - SS_res/SS_tot against the truth), ``r``
    (Pearson), ``rmse`` (physical unit), ``bias``, ``n`` and ``note``. A parameter whose true
    values are constant (e.g. a parameter fixed in the generator) gets NaN for ``r2`` and ``r``
    and says so in ``note``.
    """
    for frame, what in ((pred_params, "pred_params"), (true_params, "true_params")):
        if not isinstance(frame, pd.DataFrame):
            raise BinnInputError(f"{what} must be a pandas DataFrame indexed by site id, got {type(frame).__name__}")
    missing_sites = pred_params.index.difference(true_params.index)
    if len(missing_sites):
        raise BinnInputError(
            f"{len(missing_sites)} predicted site(s) have no true parameters, e.g. {list(missing_sites[:3])}"
        )
    if parameters is None:
        parameters = [c for c in pred_params.columns if c in true_params.columns]
        if not parameters:
            raise BinnInputError("pred_params and true_params share no parameter column")
    for name in parameters:
        for frame, what in ((pred_params, "pred_params"), (true_params, "true_params")):
            if name not in frame.columns:
                raise BinnInputError(f"parameter {name!r} is not a column of {what}")
    truth = true_params.loc[pred_params.index]
    rows = []
    for name in parameters:
        p, o = pred_params[name].to_numpy(float), truth[name].to_numpy(float)
        row: dict[str, Any] = {"parameter": name, "note": ""}
        for key, metric in (("r2", r2), ("r", pearson_r), ("rmse", rmse), ("bias", bias)):
            try:
                row[key] = metric(p, o)
            except ValueError as error:
                row[key] = float("nan")
                row["note"] = row["note"] or str(error)
        row["n"] = int((np.isfinite(p) & np.isfinite(o)).sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=["parameter", "r2", "r", "rmse", "bias", "n", "note"]).set_index("parameter")
