"""binn_lite.sensitivity: Morris and one-at-a-time screening, and the Jacobian by autograd."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite.clm5 import CLM5, CLM5_PARAMETERS, MOST_INFLUENTIAL
from binn_lite.q10 import Q10Respiration, TemperatureForcing
from binn_lite.sensitivity import _morris_design, jacobian, plot_sensitivity, sensitivity
from clm5_factory import depths_for, make_forcing


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# the Jacobian
# ---------------------------------------------------------------------------------------------
def test_jacobian_matches_central_differences_of_log_soc_per_unit_step():
    forcing, depths, model = make_forcing(3), depths_for(3), CLM5()
    theta = CLM5_PARAMETERS.to_physical(torch.rand(3, 21, generator=torch.Generator().manual_seed(2),
                                                    dtype=torch.float64) * 0.8 + 0.1)
    names = ["efolding", "tau_s3", "fs1s3", "w_scaling"]
    j = jacobian(model, theta, forcing, depths, names=names)
    assert j.shape == (3, 4, 4) and j.dtype == torch.float64
    assert torch.isnan(j[0, -1]).all() and torch.isfinite(j[1:]).all() and torch.isfinite(j[0, :-1]).all()
    h = 1e-5
    for col, name in enumerate(names):
        step = torch.zeros(21, dtype=torch.float64)
        step[CLM5_PARAMETERS.index(name)] = h * (CLM5_PARAMETERS[name].high - CLM5_PARAMETERS[name].low)
        with torch.no_grad():
            up, down = model.predict(theta + step, forcing, depths), model.predict(theta - step, forcing, depths)
        torch.testing.assert_close(j[..., col], (up.log() - down.log()) / (2 * h), rtol=1e-5, atol=1e-8,
                                   equal_nan=True)


def test_jacobian_without_log_or_unit_scaling_is_the_plain_derivative():
    # RECO = rb q10^((T - 15) / 10): d RECO / d rb = q10^((T - 15) / 10); d log RECO / d u_rb = 10 / rb
    forcing = TemperatureForcing(torch.tensor([[5.0, 25.0, 35.0]], dtype=torch.float64))
    theta = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    days = torch.tensor([[0.0, 2.0]], dtype=torch.float64)
    plain = jacobian(Q10Respiration(), theta, forcing, days, log=False, unit=False)
    torch.testing.assert_close(plain[0, :, 0], torch.tensor([3.0 ** -1, 3.0 ** 2], dtype=torch.float64))
    torch.testing.assert_close(plain[0, :, 1], 2.0 * torch.tensor([-1 / 3.0 ** 2, 2 * 3.0], dtype=torch.float64))
    scaled = jacobian(Q10Respiration(), theta, forcing, days, names=["rb"])
    torch.testing.assert_close(scaled[0, :, 0], torch.tensor([5.0, 5.0], dtype=torch.float64))  # (10 - 0) / 2
    assert not theta.requires_grad  # the caller's tensor is left alone


# ---------------------------------------------------------------------------------------------
# Morris and one-at-a-time
# ---------------------------------------------------------------------------------------------
def test_morris_design_moves_every_factor_once_by_delta():
    rng = np.random.default_rng(0)
    points, moved, direction, delta = _morris_design(3, CLM5_PARAMETERS.names, 2, 4, rng)
    assert delta == pytest.approx(2 / 3) and points.shape == (3, 2, 22, 21)
    assert points.min() >= 0 and points.max() <= 1 + 1e-12
    steps = np.diff(points, axis=2)  # [sites, paths, 21 steps, 21 factors]
    assert np.all((np.abs(steps) > 1e-12).sum(axis=3) == 1)  # one factor per step
    np.testing.assert_allclose(np.abs(steps).sum(axis=3), delta)
    assert np.all(np.sort(moved, axis=2) == np.arange(21))  # each factor exactly once per path
    changed = np.take_along_axis(steps.sum(axis=3), np.arange(21)[None, None, :].repeat(3, 0).repeat(2, 1), axis=2)
    np.testing.assert_allclose(changed, direction * delta)


def test_sensitivity_is_zero_where_a_parameter_cannot_act():
    # no permafrost (ALT 3 m): cryoturbation never acts; permafrost (ALT 1 m): bioturbation never acts;
    # CWD respires nothing and its steady-state outflow equals its input, so tau_cwd never matters
    no_permafrost = sensitivity(make_forcing(2, alt=3.0), depths_for(2), n_trajectories=2, seed=1)
    assert no_permafrost.loc["cryo", "mu_star"] == 0.0
    assert no_permafrost.loc["bio", "mu_star"] > 0.05
    assert no_permafrost.loc["tau_cwd", "mu_star"] < 1e-9
    permafrost = sensitivity(make_forcing(2, alt=1.0), depths_for(2), n_trajectories=2, seed=1)
    assert permafrost.loc["bio", "mu_star"] == 0.0 and permafrost.loc["cryo", "mu_star"] > 0.01
    assert list(no_permafrost["rank"]) == list(range(1, 22))
    assert no_permafrost.attrs["n_runs"] == 2 * 2 * 22
    # w_scaling speeds every decomposition up: SOC falls, a large negative effect everywhere
    assert no_permafrost.index[0] == "w_scaling" and no_permafrost.loc["w_scaling", "mu"] < -1.0


def test_oat_sensitivity_equals_a_central_difference():
    forcing, depths = make_forcing(2), depths_for(2)
    frame = sensitivity(forcing, depths, method="oat", delta=0.1, names=["tau_s3", "q10"])
    model = CLM5()
    unit = torch.full((2, 21), 0.5, dtype=torch.float64)
    column = CLM5_PARAMETERS.index("tau_s3")
    up, down = unit.clone(), unit.clone()
    up[:, column], down[:, column] = 0.6, 0.4

    def log_soc(u):
        return torch.log(model.observe(model(CLM5_PARAMETERS.to_physical(u), forcing), depths))

    effect = ((log_soc(up) - log_soc(down)) / 0.2).numpy()
    assert frame.loc["tau_s3", "mu"] == pytest.approx(np.nanmean(effect))
    assert frame.loc["tau_s3", "mu_star"] == pytest.approx(np.nanmean(np.abs(effect)))
    assert frame.loc["tau_s3", "mu"] > 0  # a slower passive pool holds more carbon
    assert list(frame.index) == ["tau_s3", "q10"] or list(frame.index) == ["q10", "tau_s3"]


def test_sensitivity_rejects_bad_input():
    forcing = make_forcing(2)
    with pytest.raises(ValueError, match="coords must have shape"):
        sensitivity(forcing, torch.ones(3, 2))
    nan_site = depths_for(2)
    nan_site[1] = float("nan")
    with pytest.raises(ValueError, match="site 1 has no observation"):
        sensitivity(forcing, nan_site)
    with pytest.raises(KeyError, match="tau_s4"):
        sensitivity(forcing, depths_for(2), names=["tau_s4"])
    with pytest.raises(ValueError, match="method"):
        sensitivity(forcing, depths_for(2), method="sobol")
    with pytest.raises(ValueError, match="levels"):
        sensitivity(forcing, depths_for(2), levels=3)


def test_plot_sensitivity_highlights_the_four():
    frame = pd.DataFrame({"mu_star": np.arange(21.0), "sigma": np.ones(21)}, index=list(CLM5_PARAMETERS.names))
    fig = plot_sensitivity(frame)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 21 and bars[-1].get_width() == 20.0  # largest on top
    names = [t.get_text() for t in ax.get_yticklabels()]
    colors = {name: bar.get_facecolor() for name, bar in zip(names, bars)}
    assert {n for n, c in colors.items() if c == colors["w_scaling"]} == set(MOST_INFLUENTIAL)
    with pytest.raises(ValueError, match="mu_star"):
        plot_sensitivity(pd.DataFrame({"x": [1.0]}))
