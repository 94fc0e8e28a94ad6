"""Checkers of tutorial 02: the solution's answer passes, wrong answers get a hint, ``...`` waits.

Small hand-made profiles stand in for the BINN's predictions (the checkers re-derive the answer from
whatever they are given). The spatial exercise uses an *untrained* BINN on 300 bundled sites: the
checker only recomputes that BINN's NSE, so no training is needed here.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite import exercises as check
from binn_lite.exercises import binn_training as bt
from binn_lite.metrics import nse, pearson_r

NAN = float("nan")


def said(capsys) -> str:
    return capsys.readouterr().out


@pytest.fixture()
def profiles():
    """Three sites, NaN-padded, gC m-3: A is 20 % too high (the largest error in gC m-3), B off by a
    factor 2 at one depth (the worst in log space), C 30 % too high everywhere."""
    observed = torch.tensor([[80000.0, 40000.0, 16000.0],
                             [30000.0, 9000.0, NAN],
                             [5000.0, 2500.0, 1000.0]], dtype=torch.float64)
    predicted = torch.tensor([[96000.0, 48000.0, 19200.0],
                              [31000.0, 18000.0, NAN],
                              [6500.0, 3250.0, 1300.0]], dtype=torch.float32)
    return predicted, observed, pd.Index(["A", "B", "C"], name="site_id")


@pytest.fixture(scope="module")
def spatial_case():
    """300 bundled sites, fold 0 of a spatial and of a random 5-fold split, an untrained BINN."""
    from binn_lite.binn import BINN
    from binn_lite.clm5 import CLM5, MOST_INFLUENTIAL
    from binn_lite.data import load_example
    from binn_lite.heads import MLPHead

    data = load_example().subset(np.arange(300))
    train, test = data.split(k=5, kind="spatial", seed=0)[0]
    binn = BINN(MLPHead(len(data.feature_names), 4, seed=0), CLM5(), learn=list(MOST_INFLUENTIAL))
    binn.normalizer = data.fit_normalizer(train)
    binn.eval()
    result = SimpleNamespace(train_idx=train[10:], val_idx=train[:10], best_val_nse=0.123)
    _, predicted = binn.predict_dataset(data.subset(test))
    right = nse(predicted, data.subset(test).soc)
    return data, binn, result, train, test, right


def test_every_checker_waits_for_an_answer(profiles, capsys):
    predicted, observed, ids = profiles
    assert check.check_nse_by_hand(..., predicted, observed) is None
    assert check.check_worst_site(None, predicted, observed, ids) is None
    assert check.check_spatial_nse(..., ..., ..., ..., ...) is None  # the notebook's placeholders
    assert said(capsys).count("⏳ Not answered yet") == 3


def test_nse_by_hand(profiles, capsys):
    predicted, observed = profiles[0], profiles[1]
    p, o = predicted.double().numpy(), observed.numpy()
    valid = np.isfinite(p) & np.isfinite(o)
    p, o = p[valid], o[valid]
    answer = 1.0 - np.sum((p - o) ** 2) / np.sum((o - o.mean()) ** 2)  # the solution's computation
    assert answer == pytest.approx(1.0 - 4.151425e8 / 5.06021875e9, rel=1e-9)  # by hand, the 8 finite pairs
    assert check.check_nse_by_hand(answer, predicted, observed) is True
    assert "✅" in said(capsys)
    assert check.check_nse_by_hand(float(answer) + 1e-3, predicted, observed) is False
    assert "is not the NSE" in said(capsys)
    ratio = np.sum((p - o) ** 2) / np.sum((o - o.mean()) ** 2)
    assert check.check_nse_by_hand(ratio, predicted, observed) is False
    assert "1 minus" in said(capsys)
    assert check.check_nse_by_hand(pearson_r(p, o) ** 2, predicted, observed) is False
    assert "correlation" in said(capsys)
    assert check.check_nse_by_hand(nse(np.log(p), np.log(o)), predicted, observed) is False
    assert "log SOC" in said(capsys)
    assert check.check_nse_by_hand(float("nan"), predicted, observed) is False
    assert "np.isfinite" in said(capsys)
    assert check.check_nse_by_hand("0.85", predicted, observed) is False
    assert "not text" in said(capsys)
    with pytest.raises(ValueError, match="shape"):
        check.check_nse_by_hand(0.5, predicted[:2], observed)


def test_site_log_rmse_and_worst_site(profiles, capsys):
    predicted, observed, ids = profiles
    scores = bt.site_log_rmse(predicted, observed, ids)
    assert scores["C"] == pytest.approx(np.log(1.3), rel=1e-6)  # 30 % too high at every depth
    assert scores["B"] == pytest.approx(np.sqrt((np.log(31 / 30) ** 2 + np.log(2) ** 2) / 2), rel=1e-6)
    assert bt.worst_site(predicted, observed, ids) == "B"
    # the solution's computation
    log_error = torch.log(predicted.double()) - torch.log(observed)
    answer = ids[int(torch.argmax(torch.sqrt(torch.nanmean(log_error ** 2, dim=1))))]
    assert check.check_worst_site(answer, predicted, observed, ids) is True
    assert "✅ Correct: B" in said(capsys)
    assert check.check_worst_site("A", predicted, observed, ids) is False  # largest error in gC m-3
    assert "gC m-3" in said(capsys)
    assert check.check_worst_site(1, predicted, observed, ids) is False
    assert "site_ids[1]" in said(capsys)
    assert check.check_worst_site("Z", predicted, observed, ids) is False
    assert "not one of the sites" in said(capsys)


def test_worst_site_hint_for_the_single_largest_miss(capsys):
    ids = ["flat", "spike"]
    observed = np.array([[1000.0, 1000.0, 1000.0, 1000.0], [100.0, 100.0, 100.0, 100.0]])
    predicted = np.array([[1700.0, 1700.0, 1700.0, 1700.0], [300.0, 100.0, 100.0, 100.0]])
    # flat: log-RMSE ln 1.7 = 0.53; spike: ln 3 / 2 = 0.55 -> spike is the worst
    assert bt.worst_site(predicted, observed, ids) == "spike"
    predicted[1, 0] = 250.0  # ln 2.5 / 2 = 0.46 < 0.53, but still the largest single miss
    assert bt.worst_site(predicted, observed, ids) == "flat"
    assert check.check_worst_site("spike", predicted, observed, ids) is False
    assert "single largest miss" in said(capsys)


def test_spatial_nse(spatial_case, capsys):
    data, binn, result, train, test, right = spatial_case
    assert bt.spatially_blocked(data, test)
    assert check.check_spatial_nse(right, result, binn, data, test, random_nse=0.97) is True
    text = said(capsys)
    assert "✅" in text and "random hold-out gave 0.970" in text
    assert check.check_spatial_nse(right + 5e-4, result, binn, data, test) is True  # tolerance 1e-3
    said(capsys)
    assert check.check_spatial_nse(right + 0.01, result, binn, data, test) is False
    assert "not" in said(capsys)
    assert check.check_spatial_nse(0.123, result, binn, data, test) is False
    assert "early stopping" in said(capsys)
    random_test = data.split(k=5, kind="random", seed=0)[0][1]
    assert not bt.spatially_blocked(data, random_test)
    assert check.check_spatial_nse(right, result, binn, data, random_test) is False
    assert "random split" in said(capsys)
    leaky = SimpleNamespace(train_idx=np.concatenate([train, test[:3]]), val_idx=train[:1], best_val_nse=0.5)
    assert check.check_spatial_nse(right, leaky, binn, data, test) is False
    assert "3 test site(s)" in said(capsys)
    assert check.check_spatial_nse("high", result, binn, data, test) is False
    said(capsys)
    assert check.check_spatial_nse(right, ..., binn, data, test) is False  # FitResult left as ...
    assert "FitResult" in said(capsys)
