"""binn_lite.explore: choosing sites and the plots of the model's pieces."""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from binn_lite import explore  # noqa: E402
from binn_lite.clm5 import (CLM5, CLM5_PARAMETERS, ZSOI, Forcing, spin_up, system_matrix,  # noqa: E402
                            transfer_matrix)
from clm5_factory import depths_for, make_forcing  # noqa: E402

DEFAULTS = CLM5_PARAMETERS.default


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


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
    assert {ax.get_xscale() for ax in fig.axes} == {"linear"}  # no log panel beside linear ones
    assert fig.axes[0].get_ylim()[0] > fig.axes[0].get_ylim()[1]
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
    assert len(fig.axes[0].lines) == 2 and {ax.get_xscale() for ax in fig.axes} == {"linear"}
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
# spin-up
# ---------------------------------------------------------------------------------------------
def test_plot_spinup_shows_stocks_and_pools_on_a_log_time_axis():
    forcing = make_forcing(2)
    trajectory = spin_up(DEFAULTS, forcing, schedule=[(10, 1), (1_000, 100)])
    steady = CLM5().steady_state(DEFAULTS, forcing)
    fig = explore.plot_spinup(trajectory, steady, ["a", "b"])
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[1].lines) == 4  # 3 SOM pools + the 1.0 line
    assert len(fig.axes[0].lines) == 4  # a stock curve and a dashed steady state per site
