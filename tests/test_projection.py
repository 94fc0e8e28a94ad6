"""Projections: a transient CLM5 run under warming and litter scenarios (binn_lite.projection)."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from binn_lite.blocksolve import BlockTridiagonal
from binn_lite.clm5 import (CLM5, CLM5_PARAMETERS, DAYS_PER_YEAR, DZ, N_LAYERS, N_POOLS, system_blocks,
                            heterotrophic_respiration, input_allocation, soc_stock, system_matrix)
from binn_lite.data import make_synthetic
from binn_lite.dataset import SiteDataset
from binn_lite.errors import BinnInputError
from binn_lite.projection import (DEPTHS, Scenario, layer_thickness_above, project, project_binn,
                                  true_projection)


@pytest.fixture(scope="module")
def sites():
    """Eight synthetic sites with their true parameters (float64)."""
    return make_synthetic(8, seed=5, noise=0.0)


def true_params(ds) -> torch.Tensor:
    return torch.tensor(ds.truth.params[list(CLM5_PARAMETERS.names)].to_numpy())


def test_constant_forcing_from_the_steady_state_stays_there(sites):
    run = true_projection(sites, Scenario(warming=0.0, litter_change=0.0, years=30), keep_pools=True)
    start = run.pools[:, :1]
    drift = (run.pools - start).abs().amax(dim=(1, 2, 3)) / start.abs().amax(dim=(1, 2, 3))
    assert run.pools.dtype == torch.float64
    assert float(drift.max()) < 1e-8
    assert float(((run.soc - run.soc[:, :1]).abs() / run.soc[:, :1]).max()) < 1e-8


def test_mass_balance_over_time(sites):
    """Every step: change of the column's carbon = dt (input - heterotrophic respiration)."""
    scenario = Scenario(warming=4.0, litter_change=0.1, years=20)
    params = true_params(sites)
    run = true_projection(sites, scenario, keep_pools=True)
    dz = DZ.to(torch.float64)
    carbon = (run.pools * dz).sum(dim=(-2, -1))  # gC m-2, all pools
    dt = DAYS_PER_YEAR
    for step in range(1, len(run.years)):
        forcing = scenario.forcing_at(sites.forcing, float(run.years[step]))
        inputs = (input_allocation(params, forcing) * dz).sum(dim=(1, 2))  # gC m-2 day-1
        respired = (heterotrophic_respiration(params, forcing, run.pools[:, step]) * dz).sum(dim=1)
        change = carbon[:, step] - carbon[:, step - 1]
        assert torch.allclose(change, dt * (inputs - respired), rtol=0, atol=1e-9 * float((dt * inputs).max()))


def test_warming_lowers_soc_when_q10_exceeds_one(sites):
    params = true_params(sites)
    assert bool((params[:, CLM5_PARAMETERS.index("q10")] > 1).all())
    two, four = (project(params, sites.forcing, Scenario(w)) for w in (2.0, 4.0))
    for depth in DEPTHS.values():
        assert bool((two.final_change(depth) < 0).all())
        assert bool((four.final_change(depth) < two.final_change(depth)).all())
    assert bool((two.stock().diff(dim=1) < 0).all()), "the stock falls every year of the ramp"
    more_litter = project(params, sites.forcing, Scenario(0.0, litter_change=0.1))
    assert bool((more_litter.final_change() > 0).all())


def test_parameters_outside_their_ranges_are_refused(sites):
    params = true_params(sites)
    params[:, CLM5_PARAMETERS.index("q10")] = 1.0  # below the table's 1.2
    with pytest.raises(BinnInputError, match="q10"):
        project(params, sites.forcing, Scenario(2.0, years=5))


def test_scaling_the_rates_equals_rebuilding_the_blocks_from_a_warmed_forcing(sites):
    """project() scales today's decomposition by Q10^(dT/10); rebuild every step from the forcing instead."""
    scenario = Scenario(warming=3.0, litter_change=-0.2, years=10)
    params = true_params(sites)
    run = project(params, sites.forcing, scenario, keep_pools=True)
    x = run.pools[:, 0].transpose(1, 2)
    eye = torch.eye(N_POOLS, dtype=torch.float64) / DAYS_PER_YEAR
    for step in range(1, 11):
        lower, diag, upper, rhs = system_blocks(params, scenario.forcing_at(sites.forcing, float(step)))
        x = BlockTridiagonal(lower, diag + eye, upper).solve(rhs + x / DAYS_PER_YEAR)
        assert torch.allclose(x.transpose(1, 2), run.pools[:, step], rtol=1e-10, atol=0)


def test_one_year_steps_against_the_matrix_exponential(sites):
    """A step change of +2 K held for 30 years: exact X(t) = X*' + exp(-M t) (X0 - X*')."""
    index = [0, 1, 2]
    ds = sites.subset(index)
    params = true_params(ds)
    years = 30
    warm = Scenario(2.0, years=years, ramp_years=1e-9).forcing_at(ds.forcing, 1.0)  # +2 K from the start
    matrix = system_matrix(params, warm)  # [3, 140, 140], day-1, layer-major
    inputs = input_allocation(params, warm).transpose(1, 2).reshape(3, -1, 1)
    new_steady = torch.linalg.solve(matrix, inputs)
    start = CLM5().steady_state(params, ds.forcing).transpose(1, 2).reshape(3, -1, 1)
    exact = new_steady + torch.linalg.matrix_exp(-matrix * years * DAYS_PER_YEAR) @ (start - new_steady)
    exact_soc = exact.reshape(3, N_LAYERS, N_POOLS)[..., 4:].sum(dim=-1)
    exact_change = ((exact_soc - start.reshape(3, N_LAYERS, N_POOLS)[..., 4:].sum(dim=-1)) * DZ).sum(dim=-1)
    errors = {}
    for dt in (1.0, 0.25):
        run = project(params, ds.forcing, Scenario(2.0, years=years, ramp_years=dt), dt_years=dt)
        errors[dt] = float(((run.final_change() - exact_change).abs() / exact_change.abs()).max())
    # measured: 0.8 % and 0.2 % (first order in dt)
    assert errors[1.0] < 0.015 and errors[0.25] < errors[1.0] / 3, errors


def test_true_parameters_project_exactly_the_true_projection(sites):
    truth = true_projection(sites, Scenario(2.0, years=10))
    members = true_params(sites).expand(3, -1, -1)  # e.g. an ensemble whose members all found the truth
    runs = project(members, sites.forcing, Scenario(2.0, years=10))
    assert runs.soc.shape == (3, len(sites), 11, N_LAYERS)
    for k in range(3):
        assert torch.equal(runs.soc[k], truth.soc)
    frame = sites.truth.params.iloc[:, ::-1]  # columns in any order: matched by name
    assert torch.equal(project(frame, sites.forcing, Scenario(2.0, years=10)).soc, truth.soc)


def test_project_binn_uses_the_binns_parameters(sites):
    from binn_lite.baselines import global_binn

    binn = global_binn()
    binn.normalizer = sites.fit_normalizer()
    run = project_binn(binn, sites, Scenario(2.0, years=5))
    params, _ = binn.predict_dataset(sites)
    assert torch.equal(run.soc, project(params, sites.forcing, Scenario(2.0, years=5)).soc)


def test_stocks_count_the_part_of_each_layer_above_the_depth(sites):
    assert float(layer_thickness_above(1.0).sum()) == pytest.approx(1.0)
    assert float(layer_thickness_above(0.3).sum()) == pytest.approx(0.3)
    assert torch.equal(layer_thickness_above(None), DZ)
    run = true_projection(sites, Scenario(2.0, years=3), keep_pools=True)
    assert torch.allclose(run.stock(), soc_stock(run.pools), rtol=1e-12)
    table = run.changes(sites.site_ids)
    assert list(table.columns) == list(DEPTHS) and table.index.equals(sites.site_ids)
    assert torch.allclose(torch.tensor(table["0-1 m"].to_numpy()), run.final_change(1.0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(litter_change=-1.0), "litter_change"),
    (dict(years=0.0), "years"),
    (dict(warming=float("nan")), "warming"),
])
def test_bad_scenarios_are_refused(kwargs, match):
    with pytest.raises(BinnInputError, match=match):
        Scenario(**kwargs)


def test_bad_input_is_refused(sites):
    params = true_params(sites)
    with pytest.raises(BinnInputError, match="divide"):
        project(params, sites.forcing, Scenario(years=10), dt_years=3.0)
    with pytest.raises(BinnInputError, match="forcing"):
        project(params, sites.forcing[:3], Scenario(years=2))
    with pytest.raises(BinnInputError, match="shape"):
        project(params[:, :5], sites.forcing, Scenario(years=2))
    with pytest.raises(BinnInputError, match="lacks"):
        project(pd.DataFrame({"q10": [2.0]}), sites.forcing[:1], Scenario(years=2))
    with pytest.raises(BinnInputError, match="kelvin"):
        project(params, sites.forcing, Scenario(warming=200.0, years=2))
    with pytest.raises(BinnInputError, match="truth"):
        true_projection(SiteDataset(sites.sites, sites.observations, sites.forcing, sites.feature_names))
