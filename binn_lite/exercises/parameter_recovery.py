"""Checkers for tutorial 03 (parameter recovery and identifiability).

Every checker recomputes the right answer from the objects it is given (a recovery table, the
recovered and true parameters, a site's sensitivity matrix, MCMC posterior spreads), so nothing
depends on the randomness of training or sampling: whatever the learner's run produced is what
the answer is checked against. Each prints one line of feedback and returns ``True`` / ``False``
(``None`` while the answer is still ``...``).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..metrics import pearson_r, r2
from ..parameters import ParameterTable
from ._feedback import correct, name_and_value, number, unanswered, wrong

__all__ = ["weakest_direction", "prior_sd", "posterior_shrinkage",
           "check_recovery_r2", "check_r2_by_hand", "check_weak_direction", "check_least_constrained"]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _frame_column(frame: Any, name: str, what: str) -> pd.Series:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a DataFrame indexed by site id, got {type(frame).__name__}")
    if name not in frame.columns:
        raise ValueError(f"parameter {name!r} is not a column of {what}; columns: {', '.join(map(str, frame.columns))}")
    return frame[name]


def _jacobian(jacobian: Any) -> np.ndarray:
    """A site's sensitivity matrix as a float array ``[n_obs, n_params]`` without NaN rows."""
    matrix = np.asarray(getattr(jacobian, "detach", lambda: jacobian)(), dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"the sensitivity matrix of one site must be 2-D [n_obs, n_params], got shape {matrix.shape}")
    matrix = matrix[np.isfinite(matrix).all(axis=1)]
    if matrix.size == 0:
        raise ValueError("the sensitivity matrix has no finite row")
    return matrix


# ---------------------------------------------------------------------------------------------
# Exercise 1 (★☆☆): read R² from a recovery table
# ---------------------------------------------------------------------------------------------
def check_recovery_r2(answer: Any, recovery: pd.DataFrame, parameter: str = "fs1s3") -> bool | None:
    """Exercise 1 (★☆☆): the R² of ``parameter`` in ``recovery`` (a :func:`~binn_lite.metrics.recovery_table`).

    Rounded answers are fine (tolerance 0.006, i.e. two decimals).
    """
    if unanswered(answer):
        return None
    if not isinstance(recovery, pd.DataFrame) or "r2" not in recovery.columns:
        raise ValueError("recovery must be the DataFrame of binn_lite.metrics.recovery_table (columns r2, r, ...)")
    if parameter not in recovery.index:
        raise ValueError(f"parameter {parameter!r} is not a row of the recovery table; rows: {', '.join(recovery.index)}")
    value = number(answer, "the R²")
    if value is None:
        return False
    right = float(recovery.loc[parameter, "r2"])
    tolerance = 0.006
    if abs(value - right) <= tolerance:
        return correct(f"R² of {parameter} on the held-out sites is {right:.3f}: the recovered values explain "
                       f"{max(right, 0):.0%} of the spread of the true ones around the 1:1 line.")
    r = float(recovery.loc[parameter, "r"])
    if abs(value - r) <= tolerance:
        return wrong(f"{value:.3f} is the Pearson correlation r (column 'r'); R² is the column 'r2'.")
    if abs(value - r * r) <= tolerance:
        return wrong("that is r squared (the R² of a fitted regression line); the table's 'r2' is "
                     "1 - SS_res/SS_tot around the 1:1 line, which also counts bias.")
    if abs(value / 100 - right) <= tolerance:
        return wrong("give R² as a fraction (e.g. 0.75), not in per cent.")
    for other in recovery.index:
        if other != parameter and abs(value - float(recovery.loc[other, "r2"])) <= tolerance:
            return wrong(f"that is the R² of {other}; read the row {parameter!r}: recovery.loc[{parameter!r}, 'r2'].")
    return wrong(f"find the row {parameter!r} and the column 'r2' of the recovery table "
                 f"(recovery.loc[{parameter!r}, 'r2']).")


# ---------------------------------------------------------------------------------------------
# Exercise 2 (★★☆): R² by hand
# ---------------------------------------------------------------------------------------------
def check_r2_by_hand(answer: Any, predicted: pd.DataFrame, true: pd.DataFrame,
                     parameter: str = "w_scaling") -> bool | None:
    """Exercise 2 (★★☆): ``R² = 1 - SS_res / SS_tot`` of ``parameter``, computed by hand.

    ``predicted`` and ``true`` are indexed by site id (rows are matched by id); relative
    tolerance 1e-4.
    """
    if unanswered(answer):
        return None
    p = _frame_column(predicted, parameter, "predicted")
    t = _frame_column(true, parameter, "true").loc[p.index]
    value = number(answer, "R²")
    if value is None:
        return False
    right = r2(p.to_numpy(float), t.to_numpy(float))
    close = lambda x: abs(value - x) <= 1e-4 * max(1.0, abs(x))  # noqa: E731
    if close(right):
        ss_res = float(((p - t) ** 2).sum())
        ss_tot = float(((t - t.mean()) ** 2).sum())
        return correct(f"SS_res = {ss_res:.4g}, SS_tot = {ss_tot:.4g}, R² = 1 - SS_res/SS_tot = {right:.4f} "
                       f"(same as binn_lite.metrics.r2).")
    r = pearson_r(p.to_numpy(float), t.to_numpy(float))
    if close(r * r):
        return wrong("that is the squared Pearson correlation; R² here is 1 - SS_res/SS_tot with "
                     "SS_res = sum((recovered - true)^2) and SS_tot = sum((true - mean(true))^2).")
    if close(1.0 - float(((p - t) ** 2).sum()) / float(((p - p.mean()) ** 2).sum())):
        return wrong("SS_tot is the spread of the TRUE values around their mean, not of the recovered ones.")
    if close(float(((p - t) ** 2).sum()) / float(((t - t.mean()) ** 2).sum())):
        return wrong("that is SS_res/SS_tot; R² is one minus it.")
    return wrong("compute SS_res = sum((recovered - true)^2) and SS_tot = sum((true - mean(true))^2) over the "
                 "held-out sites, then R² = 1 - SS_res/SS_tot.")


# ---------------------------------------------------------------------------------------------
# Exercise 3 (★★★): the weakest direction of one site
# ---------------------------------------------------------------------------------------------
def weakest_direction(jacobian: Any) -> tuple[np.ndarray, float]:
    """The unit vector ``v`` (unit-parameter space) that changes log SOC least, and ``|J v|``.

    ``jacobian`` is one site's sensitivity ``J[k, j] = d log SOC_k / d u_j`` ``[n_obs, n_params]``
    (rows with NaN are dropped). ``v`` is the right singular vector of the smallest singular value
    ``s_min = min_{|v|=1} |J v|``; its sign is arbitrary (here: first component >= 0).
    """
    matrix = _jacobian(jacobian)
    _, s, vh = np.linalg.svd(matrix, full_matrices=True)
    v = vh[-1]
    s_min = float(s[-1]) if len(s) == matrix.shape[1] else 0.0  # fewer observations than parameters
    return (v if v[0] >= 0 else -v), s_min


def check_weak_direction(answer: Any, jacobian: Any, names: Sequence[str] | None = None) -> bool | None:
    """Exercise 3 (★★★): a direction (4 numbers, any length, either sign) that changes the site's
    log SOC the least; right when it is within about 8 degrees of :func:`weakest_direction`.
    """
    if unanswered(answer):
        return None
    matrix = _jacobian(jacobian)
    n = matrix.shape[1]
    names = list(names) if names is not None else [f"u{j}" for j in range(n)]
    try:
        v = np.asarray(getattr(answer, "detach", lambda: answer)(), dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return wrong(f"give {n} numbers (a list or array), one per parameter ({', '.join(names)}); got {answer!r}")
    if v.shape != (n,):
        return wrong(f"give {n} numbers, one per parameter ({', '.join(names)}); got {v.size}. "
                     "Hint: a row of Vh, not a column of U.")
    if not np.all(np.isfinite(v)) or np.linalg.norm(v) == 0:
        return wrong("a zero (or non-finite) change trivially leaves SOC unchanged; give a direction of length 1.")
    v = v / np.linalg.norm(v)
    right, s_min = weakest_direction(matrix)
    _, s, vh = np.linalg.svd(matrix, full_matrices=True)
    change = float(np.linalg.norm(matrix @ v))
    if abs(float(v @ right)) >= math.cos(math.radians(8.0)):
        pretty = ", ".join(f"{name} {x:+.2f}" for name, x in zip(names, right))
        return correct(f"({pretty}): a step of 1 (a whole range) along it changes log SOC by only {s_min:.4f} "
                       f"(norm over the site's observations), against {s[0]:.2f} along the strongest direction.")
    if abs(float(v @ vh[0])) >= math.cos(math.radians(8.0)):
        return wrong("that is the direction SOC is MOST sensitive to (largest singular value, first row of Vh); "
                     "you want the last row, the smallest singular value.")
    return wrong(f"your direction changes log SOC by {change:.4f} per unit step; the least possible is {s_min:.4f}. "
                 "Use U, S, Vh = np.linalg.svd(J_site) and take the row of Vh that belongs to the smallest "
                 "singular value.")


# ---------------------------------------------------------------------------------------------
# Exercise 4 (★★☆): which parameter does the per-site posterior constrain least?
# ---------------------------------------------------------------------------------------------
def prior_sd(table: ParameterTable) -> pd.Series:
    """Standard deviation of a uniform prior on each parameter's range: ``(high - low) / sqrt(12)``."""
    return pd.Series(((table.high - table.low) / math.sqrt(12.0)).numpy(), index=list(table.names))


def posterior_shrinkage(posterior_sd: pd.DataFrame, table: ParameterTable) -> pd.Series:
    """Mean over sites of ``posterior sd / prior sd`` per parameter (1: the data taught nothing)."""
    if not isinstance(posterior_sd, pd.DataFrame):
        raise ValueError(f"posterior_sd must be a DataFrame (sites x parameters), got {type(posterior_sd).__name__}")
    prior = prior_sd(table)
    missing = [c for c in posterior_sd.columns if c not in prior.index]
    if missing:
        raise ValueError(f"posterior_sd has columns {missing} that are not in the parameter table ({', '.join(table.names)})")
    return (posterior_sd / prior[posterior_sd.columns]).mean(axis=0)


def check_least_constrained(answer: Any, posterior_sd: pd.DataFrame, table: ParameterTable) -> bool | None:
    """Exercise 4 (★★☆): the parameter whose posterior is widest *relative to its prior*, and that
    ratio: ``(name, mean posterior sd / prior sd)``, the ratio within 0.02.

    ``posterior_sd``: ``MCMCResult.posterior_sd()`` (physical units); ``table``: ``MCMCResult.table``.
    A wrong name is answered without the ratios, so guessing names teaches nothing.
    """
    if unanswered(answer):
        return None
    ratio = posterior_shrinkage(posterior_sd, table)
    pair = name_and_value(answer, "parameter name", "mean ratio posterior sd / prior sd", "('beta', 0.5)")
    if pair is None:
        return False
    name, value = pair
    if name not in ratio.index:
        return wrong(f"{name!r} was not sampled; the MCMC sampled {', '.join(ratio.index)}.")
    right = str(ratio.idxmax())
    close = lambda x: abs(value - float(x)) <= 0.02  # noqa: E731
    if name == right and close(ratio[right]):
        summary = ", ".join(f"{n} {v:.2f}" for n, v in ratio.items())
        return correct(f"posterior sd / prior sd, mean over the sites: {summary}. {right} is closest to 1: "
                       "its profiles say least about it.")
    raw = posterior_sd.mean(axis=0)
    if name == str(raw.idxmax()) and name != right:
        return wrong("the raw standard deviations have different units (years, metres, ...); divide each by its "
                     "prior sd, (high - low) / sqrt(12), before comparing.")
    if name == right:
        if close(raw[name]):
            return wrong("right parameter; that number is its raw posterior sd: divide by the prior sd "
                         "(high - low) / sqrt(12) and average the ratio over the sites.")
        return wrong("right parameter, but not its ratio: posterior sd / prior sd at each site, averaged over "
                     "the sites.")
    if close(ratio[name]):
        return wrong(f"that is the right ratio for {name}, but another parameter's is larger.")
    return wrong("compute posterior sd / prior sd for every parameter at every site, average over the sites "
                 "and take the parameter with the largest mean ratio.")
