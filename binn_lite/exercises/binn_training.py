"""Checkers for tutorial 02 (training a BINN).

Every checker computes the right answer itself from the objects it is given (predictions,
observations, a trained BINN), prints one line of feedback and returns ``True`` / ``False`` (or
``None`` while the answer is still ``...``). Nothing depends on training randomness: whatever the
learner's network predicted is what the answer is checked against.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ..metrics import nse, pearson_r
from ._feedback import correct, number, unanswered, wrong

_NAN_HINT = (" -- the NaN padding got into the sums: keep only the entries where both the prediction "
             "and the observation are finite (np.isfinite)")

__all__ = ["site_log_rmse", "worst_site", "spatially_blocked",
           "check_nse_by_hand", "check_worst_site", "check_spatial_nse"]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _array(values: Any, what: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().to(torch.float64).numpy()
    elif isinstance(values, (pd.DataFrame, pd.Series)):
        values = values.to_numpy(dtype=float)
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numbers (a tensor or array), got {type(values).__name__}") from None


def _profiles(predicted: Any, observed: Any) -> tuple[np.ndarray, np.ndarray]:
    """``[n_sites, n_obs]`` float arrays of the same shape (NaN padding allowed)."""
    p, o = _array(predicted, "predicted"), _array(observed, "observed")
    if p.shape != o.shape:
        raise ValueError(f"predicted has shape {p.shape} but observed has shape {o.shape}")
    if p.ndim != 2:
        raise ValueError(f"give profiles as [n_sites, n_obs] (NaN-padded); got shape {p.shape}")
    return p, o


def _close(a: float, b: float, atol: float) -> bool:
    return abs(a - b) <= atol


# ---------------------------------------------------------------------------------------------
# Exercise 1 (★☆☆): NSE by hand
# ---------------------------------------------------------------------------------------------
def check_nse_by_hand(answer: Any, predicted: Any, observed: Any) -> bool | None:
    """Exercise 1 (★☆☆): the Nash-Sutcliffe efficiency of ``predicted`` against ``observed``.

    ``NSE = 1 - sum (p - o)^2 / sum (o - mean(o))^2`` over the pairs where both are finite
    (gC m-3, NaN padding left out). Right answer: :func:`binn_lite.metrics.nse`; tolerance 1e-6.
    """
    if unanswered(answer):
        return None
    p, o = _profiles(predicted, observed)
    value = number(answer, "the NSE", _NAN_HINT)
    if value is None:
        return False
    right = nse(p, o)
    if _close(value, right, 1e-6):
        return correct(f"NSE = {right:.4f}, the same as binn_lite.metrics.nse: the model explains "
                       f"{right:.1%} of the variance of the held-out SOC around its mean.")
    valid = np.isfinite(p) & np.isfinite(o)
    pv, ov = p[valid], o[valid]
    ratio = float(np.sum((pv - ov) ** 2) / np.sum((ov - ov.mean()) ** 2))
    if _close(value, ratio, 1e-6):
        return wrong("that is SS_res / SS_tot, the unexplained fraction; the NSE is 1 minus it.")
    if _close(value, pearson_r(pv, ov) ** 2, 1e-6):
        return wrong("that is the squared Pearson correlation, which ignores bias and scale errors; "
                     "use 1 - sum (p - o)^2 / sum (o - mean(o))^2.")
    positive = valid & (p > 0) & (o > 0)
    if positive.sum() > 1 and _close(value, nse(np.log(p[positive]), np.log(o[positive])), 1e-6):
        return wrong("you computed the NSE of log SOC; compute it on SOC itself (gC m-3), like metrics.nse.")
    return wrong(f"your value {value:.6g} is not the NSE ({'higher' if value > right else 'lower'}). "
                 "Keep the finite pairs, then 1 - sum (p - o)^2 / sum (o - mean(o))^2 with the mean of the "
                 "observations.")


# ---------------------------------------------------------------------------------------------
# Exercise 2 (★★☆): the worst-fitted site
# ---------------------------------------------------------------------------------------------
def site_log_rmse(predicted: Any, observed: Any, site_ids: Sequence[str]) -> pd.Series:
    """Root-mean-square error of ``ln SOC`` over each site's observed depths.

    ``sqrt(mean_k (ln p_k - ln o_k)^2)`` for the finite, positive pairs of a site (a relative
    error: 0.1 means about 10 %). Sites without such a pair are left out. Indexed by site id.
    """
    p, o = _profiles(predicted, observed)
    ids = pd.Index(site_ids)
    if len(ids) != p.shape[0]:
        raise ValueError(f"{len(ids)} site ids for {p.shape[0]} profiles")
    valid = np.isfinite(p) & np.isfinite(o) & (p > 0) & (o > 0)
    squared = np.where(valid, (np.log(np.where(valid, p, 1.0)) - np.log(np.where(valid, o, 1.0))) ** 2, 0.0)
    count = valid.sum(axis=1)
    keep = count > 0
    rmse = np.sqrt(squared.sum(axis=1)[keep] / count[keep])
    return pd.Series(rmse, index=ids[keep], name="log_rmse")


def worst_site(predicted: Any, observed: Any, site_ids: Sequence[str]) -> str:
    """Id of the site with the largest :func:`site_log_rmse`."""
    return str(site_log_rmse(predicted, observed, site_ids).idxmax())


def check_worst_site(answer: Any, predicted: Any, observed: Any, site_ids: Sequence[str]) -> bool | None:
    """Exercise 2 (★★☆): the id of the site whose profile is fitted worst.

    "Worst" = largest root-mean-square error of ln SOC over the site's observations
    (:func:`site_log_rmse`), so a 20 % miss counts alike in carbon-rich and carbon-poor soils.
    """
    if unanswered(answer):
        return None
    scores = site_log_rmse(predicted, observed, site_ids)
    right = str(scores.idxmax())
    ids = [str(i) for i in pd.Index(site_ids)]
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        if 0 <= int(answer) < len(ids) and ids[int(answer)] == right:
            return wrong(f"{int(answer)} is the right site's position; answer with its id, e.g. "
                         f"site_ids[{int(answer)}] (here {right!r}).")
        return wrong(f"answer with the site's id (text such as {ids[0]!r}), not a number.")
    if not isinstance(answer, str):
        return wrong(f"answer with the site's id as text, e.g. {ids[0]!r}; got {type(answer).__name__}.")
    if answer == right:
        return correct(f"{right} has the largest log-RMSE, {scores[right]:.2f} "
                       f"(about {math.expm1(scores[right]):.0%} typical error; the median site has "
                       f"{scores.median():.2f}).")
    if answer not in scores.index:
        return wrong(f"{answer!r} is not one of the sites given (e.g. {ids[0]!r} ... {ids[-1]!r}).")
    p, o = _profiles(predicted, observed)
    valid = np.isfinite(p) & np.isfinite(o)
    count = np.maximum(valid.sum(axis=1), 1)
    absolute = pd.Series(np.sqrt(np.where(valid, (p - o) ** 2, 0.0).sum(axis=1) / count), index=ids)
    if answer == str(absolute.idxmax()):
        return wrong("that site has the largest error in gC m-3, which favours carbon-rich soils; rank by the "
                     "RMSE of log SOC (a relative error) instead.")
    positive = valid & (p > 0) & (o > 0)
    log_error = np.abs(np.log(np.where(positive, p, 1.0)) - np.log(np.where(positive, o, 1.0)))
    single = pd.Series(np.where(positive, log_error, 0.0).max(axis=1), index=ids)
    if answer == str(single.idxmax()):
        return wrong("that site has the single largest miss; average the squared log errors over each profile "
                     "(root-mean-square) before ranking.")
    rank = int((scores > scores[answer]).sum()) + 1
    return wrong(f"{answer} is number {rank} of {len(scores)} by log-RMSE ({scores[answer]:.2f}); "
                 f"the worst has {scores.max():.2f}.")


# ---------------------------------------------------------------------------------------------
# Exercise 3 (★★★): a spatial hold-out
# ---------------------------------------------------------------------------------------------
def spatially_blocked(dataset: Any, test_idx: Any, cell_deg: float = 2.0) -> bool:
    """True when no ``cell_deg`` grid cell holds both a test site and a site outside ``test_idx``."""
    test_idx = np.asarray(test_idx, dtype=np.int64).reshape(-1)
    cells = dataset.grid_cells(cell_deg)
    inside = np.zeros(len(dataset), dtype=bool)
    inside[test_idx] = True
    test_cells = {tuple(c) for c in cells[inside]}
    return not any(tuple(c) in test_cells for c in cells[~inside])


def check_spatial_nse(answer: Any, result: Any, binn: Any, dataset: Any, test_idx: Any,
                      cell_deg: float = 2.0, random_nse: float | None = None) -> bool | None:
    """Exercise 3 (★★★): held-out NSE of a BINN trained on a spatial (grid-cell) fold.

    Checks that ``test_idx`` holds whole ``cell_deg`` grid cells, that the fit (``result``, a
    :class:`~binn_lite.train.FitResult`) used none of the test sites, and that ``answer`` is the
    NSE of ``binn`` on the test sites (recomputed here; tolerance 1e-3). ``random_nse`` (the NSE
    of the random hold-out) only adds a comparison to the message.
    """
    if unanswered(answer):
        return None
    value = number(answer, "the held-out NSE")
    if value is None:
        return False
    if not (hasattr(result, "train_idx") and hasattr(result, "val_idx")):
        return wrong("pass the FitResult of the training (the second value train_binn returns) as the second "
                     "argument.")
    if not hasattr(binn, "predict_dataset"):
        return wrong("pass the trained BINN (the first value train_binn returns) as the third argument.")
    test_idx = np.asarray(test_idx, dtype=np.int64).reshape(-1)
    if test_idx.size == 0:
        return wrong("the test set is empty; take the test positions of a fold: data.split(k=5, kind='spatial')[0][1].")
    if not spatially_blocked(dataset, test_idx, cell_deg):
        return wrong(f"some {cell_deg:g}° grid cells have sites in both the test and the training set: that is a "
                     "random split. Use data.split(k=5, kind='spatial', seed=0).")
    for name in ("train_idx", "val_idx"):
        used = np.intersect1d(np.asarray(getattr(result, name)), test_idx)
        if used.size:
            return wrong(f"{used.size} test site(s) were used in fitting ({name}); train on the fold's training "
                         "positions only.")
    test = dataset.subset(test_idx)
    _, predicted = binn.predict_dataset(test)
    right = nse(predicted, test.soc)
    if _close(value, right, 1e-3):
        comparison = ""
        if random_nse is not None:
            change = right - float(random_nse)
            comparison = (f"; the random hold-out gave {float(random_nse):.3f} "
                          f"({'+' if change >= 0 else '-'}{abs(change):.3f})")
        return correct(f"held-out NSE {right:.3f} on {len(test)} sites in cells never seen in training{comparison}.")
    if _close(value, float(result.best_val_nse), 1e-6):
        return wrong("that is the validation NSE used for early stopping (sites drawn from the training cells); "
                     "evaluate the trained BINN on the test sites of the fold.")
    return wrong(f"the NSE of this BINN on these {len(test)} test sites is not {value:.4f}; predict with "
                 "binn.predict_dataset(data.subset(test_idx)) and compare with the test sites' .soc.")
