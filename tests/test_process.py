"""The plug-in contract (binn_lite.process) and its checker (binn_lite.process_check).

The central test writes a process model from the contract alone -- its own 41-node depth grid, its
own forcing class -- and trains, saves and loads it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5, ZSOI
from binn_lite.data import make_synthetic, simulate_observations
from binn_lite.errors import CheckpointError
from binn_lite.dataset import SiteDataset
from binn_lite.heads import MLPHead
from binn_lite.metrics import r2
from binn_lite.parameters import Parameter, ParameterTable
from binn_lite.process import ProcessModel, interpolate, site_index
from binn_lite.process_check import check_process_model
from binn_lite.q10 import Q10Respiration, make_q10_synthetic
from binn_lite.train import fit
from binn_lite.two_pool import TwoPoolSoilCarbon

NAN = float("nan")


# -------------------------------------------------------------------------------------------------
# interpolate: any monotone grid
# -------------------------------------------------------------------------------------------------
def test_interpolate_between_above_below_nodes_and_nan_on_the_clm5_grid():
    nodes = torch.arange(20.0).repeat(2, 1) * torch.tensor([[1.0], [2.0]])
    z = ZSOI
    depths = torch.tensor([
        [float(z[3]), 0.5 * float(z[5] + z[6]), 0.0, 20.0, NAN],
        [float(z[0]), float(z[19]), 0.005, 9.0, 0.25 * float(z[1]) + 0.75 * float(z[2])],
    ])
    out = interpolate(nodes, ZSOI, depths)
    expected = torch.tensor([[3.0, 5.5, 0.0, 19.0, NAN], [0.0, 38.0, 0.0, 38.0, 2 * 1.75]])
    torch.testing.assert_close(out, expected, equal_nan=True)


def test_interpolate_on_decreasing_and_per_site_grids():
    values = torch.tensor([[0.0, 10.0, 30.0], [5.0, 6.0, 7.0]], dtype=torch.float64)
    grid = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    coords = torch.tensor([[0.5, 1.5], [2.0, NAN]], dtype=torch.float64)
    increasing = interpolate(values, grid, coords)
    torch.testing.assert_close(increasing, torch.tensor([[5.0, 20.0], [7.0, NAN]], dtype=torch.float64),
                               equal_nan=True)
    # the same data written from the deep end: identical readings
    torch.testing.assert_close(interpolate(values.flip(1), grid.flip(0), coords), increasing, equal_nan=True)
    per_site = torch.tensor([[0.0, 1.0, 2.0], [0.0, 2.0, 4.0]], dtype=torch.float64)
    out = interpolate(values, per_site, torch.tensor([[1.0, 0.5], [3.0, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor([[10.0, 5.0], [6.5, 5.5]], dtype=torch.float64))


def test_interpolate_gradient_ignores_nan_padding():
    nodes = torch.rand(1, 20, dtype=torch.float64).requires_grad_(True)
    out = interpolate(nodes, ZSOI, torch.tensor([[0.3, NAN]], dtype=torch.float64))
    (grad,) = torch.autograd.grad(out[:, 0].sum(), nodes)
    assert torch.isfinite(grad).all() and math.isclose(float(grad.sum()), 1.0, rel_tol=1e-12)


@pytest.mark.parametrize("grid, coords, message", [
    (torch.tensor([0.0, 1.0, 1.0]), torch.zeros(1, 2), "strictly increasing or strictly decreasing"),
    (torch.tensor([0.0, 2.0, 1.0]), torch.zeros(1, 2), "strictly increasing or strictly decreasing"),
    (torch.tensor([0.0, NAN, 1.0]), torch.zeros(1, 2), "NaN or infinite"),
    (torch.tensor([0.0, 1.0]), torch.zeros(1, 2), r"grid must have shape \[3\] or \[1, 3\]"),
    (torch.tensor([0.0, 1.0, 2.0]), torch.zeros(2, 2), r"coords must have shape \[batch=1"),
])
def test_interpolate_rejects_bad_grids_and_shapes(grid, coords, message):
    with pytest.raises(ValueError, match=message):
        interpolate(torch.zeros(1, 3), grid, coords)


@pytest.mark.parametrize("index, expected", [
    (3, [3]), (np.int64(3), [3]), ([2, 0], [2, 0]), ((2, 0), [2, 0]), (np.array([2, 0]), [2, 0]),
    (torch.tensor([2, 0]), [2, 0]), (slice(1, 3), [1, 2]),
    (np.array([True, False, True, False]), [0, 2]), (torch.tensor([True, False, True, False]), [0, 2]),
])
def test_site_index_accepts_every_index_kind(index, expected):
    field = torch.arange(4) * 10
    assert field[site_index(index, field.device)].tolist() == [10 * i for i in expected]


# -------------------------------------------------------------------------------------------------
# A model written from the contract alone: its own grid, its own forcing
# -------------------------------------------------------------------------------------------------
GRID = torch.linspace(0.0, 2.0, 41, dtype=torch.float64)  # m


@dataclass
class InputForcing:
    """Annual carbon input ``input_rate`` [n_sites] in gC m-2 yr-1 (the contract's section 4)."""

    input_rate: torch.Tensor

    def __len__(self) -> int:
        return int(self.input_rate.shape[0])

    def __getitem__(self, index) -> "InputForcing":
        return InputForcing(self.input_rate[site_index(index, self.input_rate.device)])

    def to(self, device=None, dtype=None) -> "InputForcing":
        return InputForcing(self.input_rate.to(device=device, dtype=dtype))


class ExponentialProfile(ProcessModel):
    """One pool, SOC(z) = I tau / efolding exp(-z / efolding) [gC m-3]: the column stock is I tau."""

    parameter_table = ParameterTable([
        Parameter("tau", 5.0, 200.0, "yr", "turnover time", 100.0),
        Parameter("efolding", 0.1, 1.0, "m", "depth over which SOC falls by e", 0.5),
    ])
    most_influential = ("tau", "efolding")

    def __init__(self, max_depth: float = 2.0):
        super().__init__()
        self.max_depth = float(max_depth)

    def config(self) -> dict:
        return {"max_depth": self.max_depth}

    def forward(self, params, forcing):
        self.check_params(params)
        p = self.parameter_table.as_dict(params)
        z = GRID.to(params) * self.max_depth / 2.0
        inputs = forcing.to(params.device, params.dtype).input_rate
        return (inputs * p["tau"] / p["efolding"])[:, None] * torch.exp(-z / p["efolding"][:, None])

    def observe(self, prediction, coords):
        return interpolate(prediction, GRID * self.max_depth / 2.0, coords)


def exponential_world(n_sites: int = 240, seed: int = 0) -> SiteDataset:
    """Sites whose tau and efolding depend on two covariates; SOC observed at 3-6 depths, 5 % noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_sites, 2))
    ids = pd.Index([f"s{i:03d}" for i in range(n_sites)], name="site_id")
    sites = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1]}, index=ids)
    unit = torch.as_tensor(np.column_stack([1 / (1 + np.exp(-x[:, 0])), 1 / (1 + np.exp(-x[:, 1]))]))
    params = ExponentialProfile.parameter_table.to_physical(0.1 + 0.8 * unit)
    forcing = InputForcing(torch.as_tensor(rng.uniform(100.0, 500.0, n_sites)))
    n_obs = rng.integers(3, 7, n_sites)
    coords = torch.full((n_sites, 6), NAN, dtype=torch.float64)
    for i, n in enumerate(n_obs):
        coords[i, :n] = torch.as_tensor(np.sort(rng.uniform(0.0, 1.8, n)))
    observations = simulate_observations(ExponentialProfile(), params, forcing, coords, ids, noise=0.05, seed=seed)
    data = SiteDataset(sites, observations, forcing, feature_names=["x1", "x2"])
    data.true_params = pd.DataFrame(params.numpy(), index=ids, columns=["tau", "efolding"])
    return data


def test_a_model_on_its_own_grid_passes_the_checker_trains_saves_and_loads(tmp_path):
    data = exponential_world()
    report = check_process_model(ExponentialProfile(), data.forcing, data.coords)
    assert report.passed, str(report)
    assert [c.name for c in report.checks] == ["parameter table", "forcing protocol", "shapes",
                                               "NaN coordinates", "site order", "finite gradients",
                                               "float32", "deterministic"]

    torch.manual_seed(0)
    binn = BINN(MLPHead(2, 2, hidden=(16, 16), seed=0), ExponentialProfile(), learn="most_influential")
    train_idx, test_idx = np.arange(200), np.arange(200, 240)
    result = fit(binn, data, train_idx, epochs=60, batch_size=50, lr=1e-2, progress=False)
    assert result.best_val_nse > 0.9
    params, soc = binn.predict_dataset(data.subset(test_idx))
    truth = data.true_params.iloc[test_idx]
    assert r2(params["tau"], truth["tau"]) > 0.8 and r2(params["efolding"], truth["efolding"]) > 0.8

    path = binn.save(tmp_path / "exp.pt")
    with pytest.raises(ValueError, match="not a binn_lite class.*process_model="):
        BINN.load(path)
    loaded = BINN.load(path, process_model=ExponentialProfile)  # the class: rebuilt from config()
    assert loaded.process_model.max_depth == 2.0
    params2, soc2 = loaded.predict_dataset(data.subset(test_idx))
    torch.testing.assert_close(soc2, soc, equal_nan=True)
    pd.testing.assert_frame_equal(params2, params)


def test_load_with_a_class_whose_config_does_not_fit_names_the_class(tmp_path):
    class NoArguments(ExponentialProfile):
        def __init__(self):
            super().__init__()

    binn = BINN(MLPHead(2, 2), ExponentialProfile(max_depth=3.0), learn="most_influential")
    path = binn.save(tmp_path / "exp.pt")
    with pytest.raises(CheckpointError, match=r"cannot rebuild the process model NoArguments from its saved config "
                                              r"\{'max_depth': 3.0\}"):
        BINN.load(path, process_model=NoArguments)
    with pytest.raises(TypeError, match="ProcessModel instance or class"):
        BINN.load(path, process_model="ExponentialProfile")


# -------------------------------------------------------------------------------------------------
# The checker on the package's models, and on broken ones
# -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def soils():
    return make_synthetic(40, seed=3)


def test_checker_passes_clm5_and_reports_its_mass_balance(soils):
    report = check_process_model(CLM5(), soils.forcing, soils.coords)
    assert report.passed, str(report)
    assert "mass balance" in [c.name for c in report.checks]
    assert str(report).startswith("CLM5: follows the contract\nPASS  parameter table: 21 parameters")


def test_checker_passes_the_two_pool_and_q10_models(soils):
    assert check_process_model(TwoPoolSoilCarbon(), soils.forcing, soils.coords).passed
    days = make_q10_synthetic(30, seed=1)
    report = check_process_model(Q10Respiration(), days.forcing, days.coords)
    assert report.passed, str(report)


class WrongShape(ExponentialProfile):
    def forward(self, params, forcing):
        return super().forward(params, forcing).T


class NaNGradient(ExponentialProfile):
    """sqrt(tau - 5 yr) has an infinite derivative at the low end of tau's range."""

    def forward(self, params, forcing):
        soc = super().forward(params, forcing)
        return soc * (1 + 1e-3 * torch.sqrt(params[:, :1] - 5.0))


class DropsNaN(ExponentialProfile):
    def observe(self, prediction, coords):
        return super().observe(prediction, torch.nan_to_num(coords, nan=0.0))


class CrashesInFloat32(ExponentialProfile):
    def forward(self, params, forcing):
        if params.dtype == torch.float32:
            raise RuntimeError("expected scalar type Double")
        return super().forward(params, forcing)


@dataclass
class SortedForcing(InputForcing):
    """Ignores the order of an index list: a classic bug in a hand-written forcing."""

    def __getitem__(self, index):
        index = site_index(index, self.input_rate.device)
        if isinstance(index, torch.Tensor) and index.dtype != torch.bool:
            index = index.sort().values
        return SortedForcing(self.input_rate[index])

    def to(self, device=None, dtype=None):
        return SortedForcing(self.input_rate.to(device=device, dtype=dtype))


@pytest.mark.parametrize("model, check, detail", [
    (WrongShape(), "shapes", r"forward gave \(41, 32\) for 32 sites"),
    (NaNGradient(), "finite gradients", r"d\(prediction\)/d\(tau\) is inf at site 0, corner 0. of the unit cube \(tau=5"),
    (DropsNaN(), "NaN coordinates", r"site 0: a NaN coordinate gave [0-9.e+]+, not NaN"),
    (CrashesInFloat32(), "float32", "raised RuntimeError: expected scalar type Double"),
])
def test_checker_catches_broken_models(model, check, detail):
    data = exponential_world(60)
    report = check_process_model(model, data.forcing, data.coords)
    assert not report.passed
    assert report[check].passed is False
    assert re.search(detail, report[check].detail), report[check].detail
    with pytest.raises(ValueError, match=f"ExponentialProfile|{type(model).__name__} breaks the process-model contract"):
        report.raise_if_failed()


def test_checker_catches_a_forcing_that_ignores_the_order_of_an_index():
    data = exponential_world(60)
    report = check_process_model(ExponentialProfile(), SortedForcing(data.forcing.input_rate), data.coords)
    assert not report["site order"].passed
    assert "does forcing[index] keep the order given?" in report["site order"].detail


def test_checker_stops_early_when_the_forcing_length_is_wrong():
    data = exponential_world(60)
    report = check_process_model(ExponentialProfile(), data.forcing[:10], data.coords)
    assert [c.name for c in report.checks] == ["parameter table", "forcing protocol"]
    assert "len(forcing) is 10 but coords has 60 rows" in report["forcing protocol"].detail


def test_one_parameter_set_is_used_for_every_site(soils):
    model = TwoPoolSoilCarbon()
    single = model(model.parameter_table.default, soils.forcing[:3])
    torch.testing.assert_close(single, model(model.parameter_table.defaults_like(3), soils.forcing[:3]))


def test_checker_tests_a_precompute_hook_and_catches_one_that_ignores_fixed_parameters(soils):
    report = check_process_model(CLM5(), soils.forcing, soils.coords)
    assert report["precompute"].passed, report["precompute"].detail

    class TrustingCLM5(CLM5):
        def precompute(self, forcing, params, varying):
            return forcing  # equal predictions, but never notices a changed fixed parameter

    report = check_process_model(TrustingCLM5(), soils.forcing, soils.coords)
    assert not report["precompute"].passed
    assert "a changed fixed parameter (bio) was used with a precomputed forcing" in report["precompute"].detail
