"""binn_lite.explorer: the parameter explorer's pictures, slider grid and widget; reproducible PNG bytes."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite import explore
from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, DZ
from binn_lite.explorer import ParameterExplorer, figure_png, parameter_explorer
from clm5_factory import make_forcing

DEFAULTS = CLM5_PARAMETERS.default


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def explorer():
    observations = pd.DataFrame({"depth_m": [0.05, 0.3, 0.9], "soc_gC_m3": [30000.0, 15000.0, 8000.0]})
    return ParameterExplorer(make_forcing(1), observations, base=DEFAULTS)


def test_explorer_pictures_are_deterministic_and_follow_the_values(explorer):
    start = explorer.png()
    assert start == explorer.png() == explorer.png(**explorer.start)
    step = explorer.steps["efolding"]
    moved = explorer.png(efolding=explorer.start["efolding"] + step)
    assert moved != start
    assert explorer.png(efolding=explorer.start["efolding"] + step - step) == start
    assert start[:8] == b"\x89PNG\r\n\x1a\n" and b"Software" not in start
    # fixed size and fixed axes, whatever the values
    a = explorer.figure()
    b = explorer.figure(w_scaling=0.0001, beta=0.99)
    assert a.get_size_inches().tolist() == b.get_size_inches().tolist() == [6.5, 4.5]
    assert a.axes[0].get_xlim() == b.axes[0].get_xlim() and a.axes[0].get_ylim() == b.axes[0].get_ylim()
    assert a.axes[0].get_ylim() == (2.0, 0.0)
    # the model curve is the steady state at the slider values
    curve = b.axes[0].lines[1].get_xdata()
    expected = CLM5()(explorer.parameters({"w_scaling": 0.0001, "beta": 0.99}), explorer.forcing)[0].numpy()
    np.testing.assert_allclose(curve, expected / 1000.0)  # kgC m-3
    assert "off the chart" in " ".join(t.get_text() for t in b.axes[0].texts)  # w_scaling ~ 0 stops decay
    assert not a.axes[0].texts
    with pytest.raises(ValueError, match="no slider"):
        explorer.figure(bio=1e-4)


def test_explorer_starts_on_the_slider_grid(explorer):
    for name, value in explorer.start.items():
        p = CLM5_PARAMETERS[name]
        k = (value - p.low) / explorer.steps[name]
        assert abs(k - round(k)) < 1e-9 and p.low <= value <= p.high, name
    assert explorer.steps == {"efolding": 0.02, "tau_s3": 10.0, "fs1s3": 0.002, "w_scaling": 0.1,
                              "q10": 0.05, "beta": 0.01}
    assert explorer.snap("tau_s3", 214.0) == 210.0 and explorer.snap("tau_s3", 1e6) == 400.0
    assert math.isclose(explorer.snap("beta", 0.9999), 0.99)  # the last full step below the top


def test_parameter_explorer_widget_has_the_sliders_first():
    import ipywidgets as widgets

    box = parameter_explorer(make_forcing(1), params=["tau_s3", "efolding"], base=DEFAULTS)
    assert isinstance(box, widgets.VBox)
    sliders = [w for w in box.children if isinstance(w, widgets.FloatSlider)]
    assert [s.description for s in sliders] == ["tau_s3", "efolding"]
    assert box.children[0] is sliders[0] and not sliders[0].continuous_update
    assert sliders[0].value == 210.0 and (sliders[0].min, sliders[0].max, sliders[0].step) == (20.0, 400.0, 10.0)
    assert isinstance(box.children[-1], widgets.Output)


def test_explorer_rejects_more_than_one_site_and_bad_observations():
    with pytest.raises(ValueError, match="one site"):
        ParameterExplorer(make_forcing(2))
    with pytest.raises(ValueError, match="depth_m"):
        ParameterExplorer(make_forcing(1), pd.DataFrame({"soc": [1.0]}))
    with pytest.raises(KeyError, match="nonsense"):
        ParameterExplorer(make_forcing(1), params=["nonsense"])


def test_figure_png_is_reproducible():
    first = figure_png(explore.plot_matrix(torch.eye(3)))
    assert first == figure_png(explore.plot_matrix(torch.eye(3)))
    assert first != figure_png(explore.plot_matrix(2 * torch.eye(3) - 1))
    assert DZ.sum().item() == pytest.approx(8.6)
