"""Tests for binn_lite.relationships: retrieval score, curve agreement and the figures of the tables."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from binn_lite.relationships import (curve_agreement, curve_correlation, plot_edge_curves, plot_importance,
                                     retrieval_score)

NAMES = ["driver", "noise1", "noise2"]


def test_retrieval_score_exact_numbers():
    importance = pd.DataFrame(
        {"p0": [3.0, 1.0, 0.0, 0.0], "p1": [1.0, 1.0, 1.0, 1.0], "p2": [0.0, 0.0, 0.0, 2.0]},
        index=["a", "b", "c", "d"],
    )
    truth = {"p0": ["a", "b"], "p1": ["d"], "p2": ["d"]}
    table, summary = retrieval_score(importance, truth, eps=1e-6)
    assert table["hits"].tolist() == [2, 0, 1]
    assert table["top_ranked"].tolist() == ["a, b", "a", "d"]  # tie in p1 broken by index order
    assert summary["hits"] == 3 and summary["possible"] == 4 and summary["text"] == "3/4"
    assert summary["fraction"] == 0.75

    def q(share, n=4, eps=1e-6):
        return (share + eps) / (1 + n * eps)

    kl_p0 = 0.5 * math.log(0.5 / q(0.75)) + 0.5 * math.log(0.5 / q(0.25))
    kl_p1 = math.log(1.0 / q(0.25))
    kl_p2 = math.log(1.0 / q(1.0))
    assert table["kl"].tolist() == pytest.approx([kl_p0, kl_p1, kl_p2], rel=1e-12)
    assert kl_p0 == pytest.approx(0.5 * math.log(2 / 3) + 0.5 * math.log(2), abs=1e-5)
    assert kl_p1 == pytest.approx(math.log(4), abs=1e-5)  # uniform importance
    assert kl_p2 == pytest.approx(0.0, abs=1e-5)  # perfect attribution
    assert summary["mean_kl"] == pytest.approx((kl_p0 + kl_p1 + kl_p2) / 3)

    # a true driver with zero importance: large but finite, about ln(1 / eps)
    _, missed = retrieval_score(pd.DataFrame({"p": [1.0, 0.0]}, index=["a", "b"]), {"p": ["b"]})
    assert missed["mean_kl"] == pytest.approx(math.log((1 + 2e-6) / 1e-6), rel=1e-9)
    # all-zero column counts as uniform
    _, flat = retrieval_score(pd.DataFrame({"p": [0.0, 0.0]}, index=["a", "b"]), {"p": ["b"]})
    assert flat["mean_kl"] == pytest.approx(math.log(2))


def test_retrieval_score_validation():
    importance = pd.DataFrame({"p": [1.0, 2.0]}, index=["a", "b"])
    with pytest.raises(ValueError, match="'q'"):
        retrieval_score(importance, {"q": ["a"]})
    with pytest.raises(ValueError, match="'zz'"):
        retrieval_score(importance, {"p": ["zz"]})
    with pytest.raises(ValueError, match=">= 0"):
        retrieval_score(-importance, {"p": ["a"]})
    with pytest.raises(ValueError, match="NaN"):
        retrieval_score(importance * np.nan, {"p": ["a"]})


def test_curve_correlation():
    x = np.linspace(-2, 2, 41)
    assert curve_correlation(3 * x + 1, x) == pytest.approx(1.0)
    assert curve_correlation(-x, x) == pytest.approx(-1.0)
    assert curve_correlation(x**2, np.abs(x)) == pytest.approx(
        np.corrcoef(x**2, np.abs(x))[0, 1], rel=1e-12
    )
    with pytest.raises(ValueError, match="constant"):
        curve_correlation(np.ones(5), np.arange(5))
    with pytest.raises(ValueError, match="same length"):
        curve_correlation(np.arange(5), np.arange(6))


def toy_curves(n: int = 30) -> pd.DataFrame:
    """A curve table: a parabola for the driver, flat curves for the two others."""
    x = np.linspace(-2.0, 2.0, n)
    return pd.concat([pd.DataFrame({"covariate": name, "parameter": "p", "x": x,
                                    "value": x**2 - 4 / 3 if name == "driver" else 0.0 * x}) for name in NAMES],
                     ignore_index=True)


def test_curve_agreement_scores_shapes_and_flat_curves():
    truth = {("driver", "p"): lambda x: x**2, ("noise1", "p"): lambda x: x}
    agreement = curve_agreement(toy_curves().sample(frac=1.0, random_state=0), truth)  # rows in any order
    assert agreement["correlation"].tolist() == pytest.approx([1.0, 0.0])  # a flat curve learned nothing
    with pytest.raises(ValueError, match="no curve for covariate 'zz'"):
        curve_agreement(toy_curves(), {("zz", "p"): np.abs})
    with pytest.raises(ValueError, match="curve DataFrame"):
        curve_agreement(pd.DataFrame({"x": [1.0]}), truth)


def test_plots_return_figures_and_write_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    importance = pd.DataFrame({"p": [1.0, 0.01, 0.02]}, index=NAMES)
    fig = plot_importance(importance, truth={"p": ["driver"]}, title="toy")
    assert isinstance(fig, Figure)
    assert sum(1 for p in fig.axes[0].patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)) == 1
    fig = plot_edge_curves(toy_curves(), truth={("driver", "p"): lambda x: x**2})
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1
    truth_line = fig.axes[0].lines[1]
    x, y = truth_line.get_data()
    assert np.ptp(y) == pytest.approx(np.ptp(x ** 2)) and truth_line.get_label() == "truth"  # its own height
    assert fig.get_supxlabel() == "covariate (z-score)"
    shape = plot_edge_curves(toy_curves(), truth={("driver", "p"): lambda x: x**2}, truth_units="shape")
    assert shape.axes[0].lines[1].get_label().startswith("truth (shape only")
    with pytest.raises(ValueError, match="truth_units"):
        plot_edge_curves(toy_curves(), truth={("driver", "p"): lambda x: x**2}, truth_units="metres")
    assert list(tmp_path.iterdir()) == []
    assert plt.fignum_exists(fig.number)  # drawn through pyplot, left open for the caller
    plt.close("all")
