"""Evaluation figures: they return Figures with the right content and write nothing."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from binn_lite.metrics import nse
from binn_lite.plots import plot_history, plot_observed_vs_predicted, plot_profiles, plot_recovery, plot_site_map


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield
    assert list(tmp_path.iterdir()) == [], "a plot wrote into the working directory"
    plt.close("all")


def test_history_marks_the_best_epoch_by_the_monitor():
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.4],
                            "val_loss": [1.1, 0.6, 0.5], "val_nse": [0.2, 0.9, 0.8], "time": [1, 2, 3]})
    fig = plot_history(history)
    assert len(fig.axes) == 2
    assert fig.axes[1].get_legend().get_texts()[0].get_text() == "highest val NSE: epoch 2 (0.900)"
    fig = plot_history(history, monitor="val_loss")
    assert fig.axes[1].get_legend().get_texts()[0].get_text() == "lowest val loss: epoch 3 (0.5)"
    with pytest.raises(ValueError, match="monitor"):
        plot_history(history, monitor="nse")


def test_history_stage_labels_do_not_overlap():
    # PrunedFit.history: a long sparse stage, then two short refits
    epochs = np.arange(1, 171)
    history = pd.DataFrame({"epoch": epochs, "train_loss": 1.0 / epochs, "val_loss": 1.1 / epochs,
                            "val_nse": 1 - 1.0 / epochs, "time": epochs,
                            "stage": ["sparse"] * 150 + ["refit 1"] * 10 + ["refit 2"] * 10})
    fig = plot_history(history, monitor="val_loss")
    fig.canvas.draw()
    labels = [t for t in fig.axes[0].texts if t.get_text().startswith("refit")]
    assert [t.get_text() for t in labels] == ["refit 1", "refit 2"]
    first, second = (t.get_window_extent() for t in labels)
    assert not first.overlaps(second)


def test_observed_vs_predicted_reports_nse_and_ignores_padding():
    obs = np.array([[100.0, 200.0, np.nan], [300.0, 50.0, 10.0]])
    pred = obs * np.array([[1.1, 0.9, 1.0], [1.0, 1.2, 0.8]])
    fig = plot_observed_vs_predicted(obs, pred)
    title = fig.axes[0].get_title()
    assert f"NSE = {nse(pred, obs):.3f}" in title and "n = 5" in title
    fig = plot_observed_vs_predicted(obs, pred, depth=np.ones_like(obs))
    assert len(fig.axes) == 2  # scatter + depth colour bar


def test_recovery_matches_sites_by_id_and_reports_r2():
    true = pd.DataFrame({"tau_s3": [100.0, 200.0, 300.0]}, index=["a", "b", "c"])
    predicted = pd.DataFrame({"tau_s3": [300.0, 100.0, 200.0]}, index=["c", "a", "b"])
    fig = plot_recovery(predicted, true, ["tau_s3"], units={"tau_s3": "yr"})
    assert fig.axes[0].get_title() == "tau_s3: R² = 1.00"
    assert fig.axes[0].get_xlabel() == "true (yr)"


def test_profiles_and_map_draw_one_panel_per_site():
    depth = np.array([[0.1, 0.5], [0.2, 1.0]])
    soc = np.array([[2e4, 5e3], [1e4, 9e3]])
    fig = plot_profiles(depth, soc, soc * 1.1, ["site 1", "site 2"])
    assert [ax.get_title() for ax in fig.axes] == ["site 1", "site 2"]
    assert fig.axes[0].yaxis_inverted()
    assert [ax.get_xscale() for ax in fig.axes] == ["linear", "linear"]  # neither spans a decade
    wide = plot_profiles(depth, np.array([[2e4, 1e3], [1e4, 9e3]]), soc, ["site 1", "site 2"])
    assert [ax.get_xscale() for ax in wide.axes] == ["log", "log"]  # one scale for the whole figure
    assert len(wide.legends) == 1 and wide.axes[0].get_legend() is None  # beside the panels
    fig = plot_site_map([-100, -90], [40, 35], [1.0, 2.0], title="map")
    assert fig.axes[0].get_title() == "map" and fig.axes[0].get_xlim() == (-125.0, -66.5)
