"""Checkers for tutorial 04 (interpreting KAN and MLP heads).

Every checker computes the right answer itself from the objects it is given (importance matrices,
curve tables, covariates), prints one line of feedback and returns ``True`` / ``False`` (or
``None`` while the answer is still ``...``). Nothing here depends on training randomness: the
objects passed in carry whatever the learner's network learned.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..parameters import ParameterTable
from ._feedback import correct, name_and_value, number, unanswered, wrong

__all__ = ["top_driver", "edge_effect_physical", "retrieval_hits", "most_confounded_covariate",
           "check_top_driver", "check_edge_effect", "check_retrieval_hits", "check_confounder"]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _importance(importance, parameter: str | None = None) -> pd.DataFrame:
    if not isinstance(importance, pd.DataFrame):
        raise ValueError(f"importance must be a DataFrame (covariates x parameters), got {type(importance).__name__}")
    if parameter is not None and parameter not in importance.columns:
        raise ValueError(f"parameter {parameter!r} is not a column of the importance matrix; "
                         f"columns: {', '.join(map(str, importance.columns))}")
    return importance


# ---------------------------------------------------------------------------------------------
# Exercise 1 (★☆☆): read the importance matrix
# ---------------------------------------------------------------------------------------------
def top_driver(importance: pd.DataFrame, parameter: str) -> str:
    """The covariate with the largest importance for ``parameter`` (the column's arg-max)."""
    return str(_importance(importance, parameter)[parameter].idxmax())


def check_top_driver(answer, importance: pd.DataFrame, parameter: str = "tau_s3") -> bool | None:
    """Exercise 1 (★☆☆): the most important covariate of ``parameter`` and its importance:
    ``(covariate, importance)``, the importance within 2 % (or 0.001).

    ``importance`` is the matrix the learner read (index covariates, columns parameters). A wrong
    name is answered without revealing the ranking, so guessing names teaches nothing.
    """
    if unanswered(answer):
        return None
    importance = _importance(importance, parameter)
    pair = name_and_value(answer, "covariate name", "its importance", "('sand', 0.05)")
    if pair is None:
        return False
    name, value = pair
    if name in importance.columns:
        return wrong(f"{name!r} is a parameter (a column); the answer is a covariate (a row name).")
    if name not in importance.index:
        return wrong(f"{name!r} is not a covariate of the matrix; rows are: {', '.join(map(str, importance.index))}.")
    right = top_driver(importance, parameter)
    column = importance[parameter]
    close = lambda x: abs(value - float(x)) <= max(0.001, 0.02 * abs(float(x)))  # noqa: E731
    if name != right:
        if close(column[name]):
            return wrong(f"that is {name}'s importance for {parameter}, but another covariate's is larger.")
        return wrong(f"find the largest value in the {parameter!r} column (e.g. importance[{parameter!r}].idxmax() "
                     f"and importance[{parameter!r}].max()).")
    if close(column[right]):
        share = float(column.max() / column.sum()) if column.sum() > 0 else float("nan")
        return correct(f"{right} has the largest importance for {parameter}, {float(column[right]):.3g} "
                       f"({share:.0%} of the column's total).")
    row = importance.loc[right]
    if close(row.max()) and str(row.idxmax()) != parameter:
        return wrong(f"right covariate; that value is from another column: read the {parameter!r} column.")
    return wrong(f"right covariate; now read its value in the {parameter!r} column "
                 f"(importance.loc[{right!r}, {parameter!r}]).")


# ---------------------------------------------------------------------------------------------
# Exercise 2 (★★☆): an edge function in physical units (hard sigmoid)
# ---------------------------------------------------------------------------------------------
def edge_effect_physical(curves: pd.DataFrame, covariate: str, parameter: str, table: ParameterTable,
                         bound: float = 3.0) -> float:
    """Range (max - min) of one learned edge function, in the parameter's physical unit.

    A one-layer KAN with the hard sigmoid ``p = clip(u / (2 bound) + 1/2, 0, 1)`` adds ``phi(x)``
    to the pre-activation ``u``; inside the linear band a change ``du`` moves the unit parameter by
    ``du / (2 bound)`` = ``du / 6`` and the physical one by ``du / 6 (high - low)``.
    """
    sel = curves[(curves["covariate"] == covariate) & (curves["parameter"] == parameter)]
    if sel.empty:
        raise ValueError(f"no curve for covariate {covariate!r} and parameter {parameter!r} in the curve table")
    du = float(sel["value"].max() - sel["value"].min())
    p = table[parameter]
    return du / (2.0 * bound) * (p.high - p.low)


def check_edge_effect(answer, curves: pd.DataFrame, covariate: str, parameter: str,
                      table: ParameterTable) -> bool | None:
    """Exercise 2 (★★☆): by how much (physical unit) does the learned edge ``covariate -> parameter``
    move the parameter over the covariate's range? 2 % tolerance.

    ``curves`` is the table of :func:`binn_lite.interpret.kan_edge_functions` (values in u units).
    """
    if unanswered(answer):
        return None
    value = number(answer, "the effect")
    if value is None:
        return False
    right = edge_effect_physical(curves, covariate, parameter, table)
    p = table[parameter]
    du = right * 6.0 / (p.high - p.low)
    if abs(abs(value) - right) <= 0.02 * right:
        return correct(f"the edge moves u by {du:.2f}, i.e. {du / 6:.3f} of the range, i.e. {right:.3g} {p.unit} "
                       f"of {parameter} (range {p.low:g}-{p.high:g} {p.unit}); with the hard sigmoid this is "
                       "exact as long as u stays inside [-3, 3].")
    if abs(value - du) <= 0.02 * du:
        return wrong("that is the change of the pre-activation u; divide by 6 (hard sigmoid: p = u/6 + 1/2) and "
                     "multiply by the width of the parameter's range (high - low).")
    if abs(value - du / 6) <= 0.02 * du / 6:
        return wrong("that is the change of the unit parameter (fraction of the range); multiply by "
                     f"high - low = {p.high - p.low:g} {p.unit}.")
    if abs(value - (p.low + du / 6 * (p.high - p.low))) <= 0.02 * right:
        return wrong("you added the lower bound; a *change* of the parameter is du / 6 (high - low), without low.")
    return wrong(f"take the {covariate} -> {parameter} rows of the curve table, the range of 'value' "
                 "(max - min, in u units), divide by 6 and multiply by high - low of the parameter.")


# ---------------------------------------------------------------------------------------------
# Exercise 3 (★★☆): the retrieval score by hand
# ---------------------------------------------------------------------------------------------
def retrieval_hits(importance: pd.DataFrame, drivers: Mapping[str, Sequence[str]]) -> int:
    """How many true drivers are among the ``k`` top-ranked covariates of their parameter
    (``k`` = number of true drivers; ties broken by row order), summed over parameters."""
    importance = _importance(importance)
    hits = 0
    for parameter, true in drivers.items():
        column = _importance(importance, parameter)[parameter].to_numpy(dtype=float)
        order = np.argsort(-column, kind="stable")[: len(set(true))]
        hits += len({str(importance.index[i]) for i in order} & {str(d) for d in true})
    return hits


def check_retrieval_hits(answer, importance: pd.DataFrame, drivers: Mapping[str, Sequence[str]]) -> bool | None:
    """Exercise 3 (★★☆): the number of hits (an int out of the number of true edges)."""
    if unanswered(answer):
        return None
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer)):
        if isinstance(answer, (float, np.floating)) and float(answer).is_integer():
            answer = int(answer)
        else:
            return wrong(f"give the number of hits as a whole number (an int); got {answer!r}")
    answer = int(answer)
    right = retrieval_hits(importance, drivers)
    possible = sum(len(set(d)) for d in drivers.values())
    if answer == right:
        return correct(f"{right}/{possible}: {right} of the {possible} true edges are ranked in the top "
                       f"{'two' if possible == 2 * len(drivers) else 'k'} of their parameter.")
    if answer > possible:
        return wrong(f"there are only {possible} true edges, so at most {possible} hits.")
    top1 = sum(int(str(importance[p].idxmax()) in {str(d) for d in true}) for p, true in drivers.items())
    if answer == top1 and top1 != right:
        return wrong("it looks like you checked only the single top covariate; take the top k of each column, "
                     "with k the number of true drivers of that parameter (2 here).")
    transposed = 0
    for p, true in drivers.items():
        for d in true:
            row = importance.loc[d]
            transposed += int(str(p) in set(map(str, row.sort_values(ascending=False).index[:len(true)])))
    if answer == transposed and transposed != right:
        return wrong("rank the covariates within each parameter's column (importance[p].nlargest(k)), "
                     "not the parameters within a covariate's row.")
    return wrong("for every parameter p: top = importance[p].nlargest(k).index with k = len(drivers[p]); "
                 "count how many of drivers[p] are in top; add up over the parameters.")


# ---------------------------------------------------------------------------------------------
# Exercise 4 (★★★): correlated inputs and partial dependence
# ---------------------------------------------------------------------------------------------
def most_confounded_covariate(covariates: pd.DataFrame, parameter: str,
                              drivers: Mapping[str, Sequence[str]]) -> tuple[str, str, float]:
    """The non-driver covariate most correlated (|Pearson r| over the sites) with a true driver of
    ``parameter``: returns ``(covariate, driver, r)``."""
    if parameter not in drivers:
        raise ValueError(f"{parameter!r} has no true drivers; known: {', '.join(drivers)}")
    true = [str(d) for d in drivers[parameter]]
    missing = [c for c in true if c not in covariates.columns]
    if missing:
        raise ValueError(f"covariates lack the driver column(s) {', '.join(missing)}")
    corr = covariates.corr()
    others = [c for c in covariates.columns if c not in true]
    best = max(((c, d) for c in others for d in true), key=lambda cd: abs(corr.loc[cd[0], cd[1]]))
    return best[0], best[1], float(corr.loc[best[0], best[1]])


def check_confounder(answer, covariates: pd.DataFrame, parameter: str,
                     drivers: Mapping[str, Sequence[str]]) -> bool | None:
    """Exercise 4 (★★★): ``(covariate, r)``: the covariate that is *not* a driver of ``parameter``
    but is most correlated with one of its drivers, and that correlation (Pearson r, 0.01 tolerance).

    ``covariates`` are the site covariates (raw or z-scored: r does not change).
    """
    if unanswered(answer):
        return None
    if isinstance(answer, str) or not hasattr(answer, "__len__") or len(answer) != 2:
        return wrong("give a pair (covariate name, r), e.g. ('sand', -0.3).")
    name, r = answer
    if not isinstance(name, str):
        return wrong(f"the first element is the covariate's name as text; got {name!r}")
    value = number(r, "the correlation r")
    if value is None:
        return False
    right, driver, r_right = most_confounded_covariate(covariates, parameter, drivers)
    true = [str(d) for d in drivers[parameter]]
    if name in true:
        return wrong(f"{name} is a true driver of {parameter}; look for a covariate that is NOT a driver but moves "
                     "together with one.")
    if name not in covariates.columns:
        return wrong(f"{name!r} is not a covariate; columns are {', '.join(covariates.columns)}.")
    corr = covariates.corr()
    if name != right:
        best_own = max(true, key=lambda d: abs(corr.loc[name, d]))
        return wrong(f"{name} correlates with {best_own} at r = {corr.loc[name, best_own]:.2f}; another "
                     f"non-driver is more strongly correlated (by |r|) with a driver of {parameter}.")
    if abs(value - r_right) <= 0.01:
        return correct(f"{right} and {driver} correlate at r = {r_right:.2f}. A network fitted to these sites "
                       f"can use {right} in place of {driver} at almost no cost, and partial dependence, which "
                       f"sets {right} to values that never occur together with the sites' {driver}, reports "
                       f"an effect of {right} on {parameter} that the truth does not have.")
    if abs(value + r_right) <= 0.01:
        return wrong("right covariate, but the sign of r is flipped.")
    if abs(value - r_right ** 2) <= 0.01:
        return wrong("right covariate; that is r², give r (Pearson correlation, e.g. covariates.corr()).")
    return wrong(f"right covariate; now compute its Pearson correlation with the driver it follows "
                 f"(covariates.corr().loc[{right!r}, ...]).")
