"""binn_lite.explore: sites, plots, spin-up, sensitivity analysis and the parameter explorer."""
from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from binn_lite import explore  # noqa: E402
from binn_lite.clm5 import (CLM5, CLM5_PARAMETERS, DZ, MOST_INFLUENTIAL, N_LAYERS, ZSOI, Forcing,  # noqa: E402
                            system_matrix, transfer_matrix)
from clm5_factory import make_forcing  # noqa: E402

DEFAULTS = CLM5_PARAMETERS.default


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def depths_for(n_sites: int) -> torch.Tensor:
    d = torch.tensor([[0.05, 0.2, 0.5, 1.0]], dtype=torch.float64).repeat(n_sites, 1)
    d[0, -1] = float("nan")  # padding is ignored
    return d


# ---------------------------------------------------------------------------------------------
# choosing sites
# ---------------------------------------------------------------------------------------------
def test_contrasting_sites_picks_by_climate_and_permafrost():
    forcing = Forcing.concat([make_forcing(1, alt=a, seed=i) for i, a in enumerate([3.0, 1.2, 0.8, 3.0, 3.0])])
    sites = pd.DataFrame({"bio1": [20.0, 5.0, -2.0, 12.0, 10.0], "bio12": [1500.0, 900.0, 600.0, 250.0, 400.0],
                          "land_cover": ["forest", "forest", "forest", "grassland", "grassland"]},
                         index=[f"S{i}" for i in range(5)])
    dataset = SimpleNamespace(sites=sites, forcing=forcing, n_obs=torch.tensor([5, 5, 5, 5, 5]))
    chosen = explore.contrasting_sites(dataset)
    assert chosen == {"warm wet forest": 0, "cold permafrost site": 2, "dry grassland": 3}
    no_permafrost = SimpleNamespace(sites=sites, forcing=make_forcing(5, alt=3.0), n_obs=torch.full((5,), 5))
    assert explore.contrasting_sites(no_permafrost)["coldest site"] == 2
    with pytest.raises(ValueError, match="bio12"):
        explore.contrasting_sites(SimpleNamespace(sites=sites.drop(columns="bio12"), forcing=forcing))


# ---------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------
def test_plot_matrix_annotates_every_nonzero_entry_of_A():
    a = transfer_matrix(DEFAULTS[None])[0]
    fig = explore.plot_matrix(a, explore.POOL_LABELS, unit="-")
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # heat map and colour bar
    assert len(ax.texts) == int((a != 0).sum()) == 7 + 10  # diagonal + 10 transfers (CWD splits in two)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(explore.POOL_LABELS)
    with pytest.raises(ValueError, match="square"):
        explore.plot_matrix(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="scale"):
        explore.plot_matrix(a, scale="log")


def test_plot_sparsity_counts_the_block_tridiagonal_nonzeros():
    forcing = make_forcing(1)
    m = system_matrix(DEFAULTS[None], forcing)[0]
    fig = explore.plot_sparsity(m)
    nonzero = int((m != 0).sum())
    # at most 20 dense 7x7 blocks and 2 x 19 diagonal coupling blocks of the 6 mobile pools
    assert nonzero <= 20 * 49 + 2 * 19 * 6
    assert f"{nonzero} non-zero of 19600" in fig.axes[0].get_title()


def test_scalars_turnover_diffusivity_and_input_profile_figures():
    forcing = make_forcing(3)
    params = DEFAULTS.expand(3, -1)
    fig = explore.plot_scalars_with_depth(params, forcing, ["a", "b", "c"])
    assert len(fig.axes) == 6 and all(len(ax.lines) == 3 for ax in fig.axes)
    assert fig.axes[-1].get_xscale() == "log" and fig.axes[0].get_ylim()[0] > fig.axes[0].get_ylim()[1]
    depth_line = fig.axes[4].lines[0].get_xdata()
    np.testing.assert_allclose(depth_line, np.exp(-ZSOI.numpy() / DEFAULTS[CLM5_PARAMETERS.index("efolding")].item()))

    fig = explore.plot_turnover(DEFAULTS, None)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights[-1] == pytest.approx(CLM5_PARAMETERS["tau_s3"].default)  # SOM 3 base turnover time (yr)

    fig = explore.plot_diffusivity(params, make_forcing(3, alt=1.0))
    d = fig.axes[0].lines[0].get_xdata()  # 1e-4 m2 yr-1 at the layer bottoms
    assert d[0] == pytest.approx(1e4 * CLM5_PARAMETERS["cryo"].default) and d[-1] == 0.0

    fig = explore.plot_input_profile(DEFAULTS, make_forcing(1), betas=(0.9, 0.99))
    cumulative = fig.axes[1].lines[0].get_xdata()
    assert cumulative[0] == 0.0 and cumulative[-1] == pytest.approx(1.0)
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="labels"):
        explore.plot_scalars_with_depth(params, forcing, ["only one"])


def test_pools_and_soc_profiles():
    forcing = make_forcing(2)
    model = CLM5()
    pools = model.steady_state(DEFAULTS, forcing)
    fig = explore.plot_pools_profile(pools, ["a", "b"])
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 7 and fig.axes[0].get_xscale() == "log"
    np.testing.assert_allclose(fig.axes[1].lines[6].get_xdata(), np.maximum(pools[1, 6].numpy(), 1e-3))
    depths = depths_for(2)
    observed = torch.full_like(depths, 1000.0)
    fig = explore.plot_soc_profiles(model(DEFAULTS, forcing), depths, observed)
    assert len(fig.axes[0].lines[1].get_xdata()) == 3  # the NaN padding is not drawn
    with pytest.raises(ValueError, match="pools"):
        explore.plot_pools_profile(torch.zeros(2, 6, 20))


# ---------------------------------------------------------------------------------------------
# stocks and spin-up
# ---------------------------------------------------------------------------------------------
def test_soc_stock_sums_som_pools_times_thickness():
    pools = torch.zeros(1, 7, N_LAYERS, dtype=torch.float64)
    pools[0, 4:7] = 1000.0  # gC m-3 in each SOM pool
    pools[0, 0:4] = 5e5  # litter and CWD are not SOC
    assert float(explore.soc_stock(pools)) == pytest.approx(3000.0 * 8.6)
    assert float(explore.soc_stock(pools, max_depth=1.2)) == pytest.approx(3000.0 * 1.2)


def test_spin_up_reaches_the_steady_state():
    forcing = make_forcing(2)
    trajectory = explore.spin_up(DEFAULTS, forcing, schedule=[(10, 1), (1_000, 100), (1_000_000, 10_000)])
    years = trajectory.years.numpy()
    assert len(years) == 1 + 10 + 10 + 100 and years[0] == 0 and np.all(np.diff(years) > 0)
    assert years[-1] == pytest.approx(10 + 1_000 + 1_000_000)
    steady = CLM5().steady_state(DEFAULTS, forcing)
    reached = explore.soc_stock(trajectory.pools[:, -1], 1.2) / explore.soc_stock(steady, 1.2)
    np.testing.assert_allclose(reached.numpy(), 1.0, rtol=1e-3)
    assert float(explore.soc_stock(trajectory.pools[:, 0]).abs().max()) == 0.0  # starts from bare soil
    fig = explore.plot_spinup(trajectory, steady, ["a", "b"])
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[1].lines) == 4  # 3 SOM pools + the 1.0 line
    with pytest.raises(ValueError, match="step_years"):
        explore.spin_up(DEFAULTS, forcing, schedule=[(10, 20)])


# ---------------------------------------------------------------------------------------------
# sensitivity
# ---------------------------------------------------------------------------------------------
def test_morris_design_moves_every_factor_once_by_delta():
    rng = np.random.default_rng(0)
    points, moved, direction, delta = explore._morris_design(3, CLM5_PARAMETERS.names, 2, 4, rng)
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
    no_permafrost = explore.sensitivity(make_forcing(2, alt=3.0), depths_for(2), n_trajectories=2, seed=1)
    assert no_permafrost.loc["cryo", "mu_star"] == 0.0
    assert no_permafrost.loc["bio", "mu_star"] > 0.05
    assert no_permafrost.loc["tau_cwd", "mu_star"] < 1e-9
    permafrost = explore.sensitivity(make_forcing(2, alt=1.0), depths_for(2), n_trajectories=2, seed=1)
    assert permafrost.loc["bio", "mu_star"] == 0.0 and permafrost.loc["cryo", "mu_star"] > 0.01
    assert list(no_permafrost["rank"]) == list(range(1, 22))
    assert no_permafrost.attrs["n_runs"] == 2 * 2 * 22
    # w_scaling speeds every decomposition up: SOC falls, a large negative effect everywhere
    assert no_permafrost.index[0] == "w_scaling" and no_permafrost.loc["w_scaling", "mu"] < -1.0


def test_oat_sensitivity_equals_a_central_difference():
    forcing, depths = make_forcing(2), depths_for(2)
    frame = explore.sensitivity(forcing, depths, method="oat", delta=0.1, names=["tau_s3", "q10"])
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
    with pytest.raises(ValueError, match="depths must have shape"):
        explore.sensitivity(forcing, torch.ones(3, 2))
    nan_site = depths_for(2)
    nan_site[1] = float("nan")
    with pytest.raises(ValueError, match="site 1 has no observed depth"):
        explore.sensitivity(forcing, nan_site)
    with pytest.raises(KeyError, match="tau_s4"):
        explore.sensitivity(forcing, depths_for(2), names=["tau_s4"])
    with pytest.raises(ValueError, match="method"):
        explore.sensitivity(forcing, depths_for(2), method="sobol")
    with pytest.raises(ValueError, match="levels"):
        explore.sensitivity(forcing, depths_for(2), levels=3)


def test_plot_sensitivity_highlights_the_four():
    frame = pd.DataFrame({"mu_star": np.arange(21.0), "sigma": np.ones(21)}, index=list(CLM5_PARAMETERS.names))
    fig = explore.plot_sensitivity(frame)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 21 and bars[-1].get_width() == 20.0  # largest on top
    names = [t.get_text() for t in ax.get_yticklabels()]
    colors = {name: bar.get_facecolor() for name, bar in zip(names, bars)}
    assert {n for n, c in colors.items() if c == colors["w_scaling"]} == set(MOST_INFLUENTIAL)
    with pytest.raises(ValueError, match="mu_star"):
        explore.plot_sensitivity(pd.DataFrame({"x": [1.0]}))


# ---------------------------------------------------------------------------------------------
# parameter explorer
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def explorer():
    observations = pd.DataFrame({"depth_m": [0.05, 0.3, 0.9], "soc_gC_m3": [30000.0, 15000.0, 8000.0]})
    return explore.ParameterExplorer(make_forcing(1), observations, base=DEFAULTS)


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

    box = explore.parameter_explorer(make_forcing(1), params=["tau_s3", "efolding"], base=DEFAULTS)
    assert isinstance(box, widgets.VBox)
    sliders = [w for w in box.children if isinstance(w, widgets.FloatSlider)]
    assert [s.description for s in sliders] == ["tau_s3", "efolding"]
    assert box.children[0] is sliders[0] and not sliders[0].continuous_update
    assert sliders[0].value == 210.0 and (sliders[0].min, sliders[0].max, sliders[0].step) == (20.0, 400.0, 10.0)
    assert isinstance(box.children[-1], widgets.Output)


def test_explorer_rejects_more_than_one_site_and_bad_observations():
    with pytest.raises(ValueError, match="one site"):
        explore.ParameterExplorer(make_forcing(2))
    with pytest.raises(ValueError, match="depth_m"):
        explore.ParameterExplorer(make_forcing(1), pd.DataFrame({"soc": [1.0]}))
    with pytest.raises(KeyError, match="nonsense"):
        explore.ParameterExplorer(make_forcing(1), params=["nonsense"])


def test_figure_png_is_reproducible():
    first = explore.figure_png(explore.plot_matrix(torch.eye(3)))
    assert first == explore.figure_png(explore.plot_matrix(torch.eye(3)))
    assert first != explore.figure_png(explore.plot_matrix(2 * torch.eye(3) - 1))
    assert DZ.sum().item() == pytest.approx(8.6)
