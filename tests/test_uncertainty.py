"""Uncertainty: ensembles, MC dropout, predictive distributions and calibration (binn_lite.uncertainty)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
from binn_lite.errors import BinnInputError
from binn_lite.heads import MLPHead
from binn_lite.uncertainty import (LEVELS, Predictive, Samples, calibration, coverage, crps, interval_score,
                                   mc_dropout, noise_sd, parameter_predictive, plot_reliability, reliability,
                                   soc_predictive, t_quantile, train_ensemble)

from binn_factory import efolding_dataset


@pytest.fixture(scope="module")
def dataset():
    return efolding_dataset(n_sites=40, seed=3)


def small_binn(seed: int, dropout: float = 0.0) -> BINN:
    return BINN(MLPHead(10, 1, hidden=(16, 16), dropout=dropout, seed=seed), CLM5(), learn=["efolding"])


QUICK = dict(epochs=2, batch_size=16, lr=1e-2)


# -- calibration on cases with a known answer ------------------------------------------------------
def standard_normal(n: int) -> Predictive:
    return Predictive(torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64))


def test_coverage_counts_the_true_values_inside_the_interval():
    truth = torch.tensor([0.0, 1.0, -1.5, 1.7, -2.0, 3.0, float("nan")])
    # the central 90 % interval of N(0, 1) is +-1.6449: 0, 1 and -1.5 inside, 1.7, -2 and 3 outside
    assert coverage(standard_normal(7), truth, 0.9) == pytest.approx(3 / 6)
    # the central 50 % interval is +-0.6745: only 0
    assert coverage(standard_normal(7), truth, 0.5) == pytest.approx(1 / 6)
    # a Student-t with 2 degrees of freedom: +-2.92 at 90 %, 1.7 and -2 now inside
    t2 = Predictive(torch.zeros(7), torch.ones(7), dof=2)
    assert coverage(t2, truth, 0.9) == pytest.approx(5 / 6)


def test_coverage_of_draws_from_the_predictive_itself_is_the_level():
    generator = torch.Generator().manual_seed(0)
    truth = torch.randn(200_000, generator=generator, dtype=torch.float64)
    for level in (0.5, 0.9):
        assert coverage(standard_normal(len(truth)), truth, level) == pytest.approx(level, abs=0.004)
    curve = reliability(standard_normal(len(truth)), truth)
    assert list(curve.index) == list(LEVELS)
    assert np.allclose(curve.to_numpy(), curve.index.to_numpy(), atol=0.005)
    too_narrow = reliability(Predictive(torch.zeros(len(truth)), 0.5 * torch.ones(len(truth))), truth)
    assert (too_narrow.to_numpy() < np.array(LEVELS)).all(), "an overconfident method lies below the diagonal"


def test_interval_score_is_the_width_plus_the_penalty_for_misses():
    predictive = Predictive(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    width = 2 * 1.6448536269514722
    inside, outside = 0.3, 1.6448536269514722 + 0.5
    expected = (width + (width + 2 / 0.1 * 0.5)) / 2
    truth = torch.tensor([inside, outside], dtype=torch.float64)
    assert interval_score(predictive, truth, 0.9) == pytest.approx(expected, rel=1e-9)


def test_crps_of_a_normal_matches_its_definition_by_sampling():
    mean, sd, y = 0.3, 0.7, 1.1
    closed = crps(Predictive(torch.tensor([mean]), torch.tensor([sd])), torch.tensor([y]))
    generator = torch.Generator().manual_seed(1)
    x = mean + sd * torch.randn(400_000, generator=generator, dtype=torch.float64)
    x2 = mean + sd * torch.randn(400_000, generator=generator, dtype=torch.float64)
    sampled = float((x - y).abs().mean() - 0.5 * (x - x2).abs().mean())  # E|X - y| - E|X - X'| / 2
    assert closed == pytest.approx(sampled, abs=3e-3)
    sharp = crps(Predictive(torch.tensor([mean]), torch.tensor([1e-9])), torch.tensor([y]))
    assert sharp == pytest.approx(abs(y - mean), rel=1e-6), "a point forecast scores its absolute error"


def test_predictive_at_selects_sites_and_columns():
    predictive = Predictive(torch.arange(6.0).reshape(3, 2), torch.ones(3, 2), dof=4)
    column = predictive.at((slice(None), 1))
    assert torch.equal(column.mean, torch.tensor([1.0, 3.0, 5.0])) and column.dof == 4
    assert predictive.at(slice(0, 2)).mean.shape == (2, 2)


def test_calibration_summarises_one_method():
    truth = torch.tensor([0.0, 1.0, -1.5, 1.7, -2.0, 3.0])
    table = calibration(standard_normal(6), truth)
    assert list(table.index) == ["coverage50", "coverage90", "interval_score90", "crps", "n"]
    assert table["coverage90"] == pytest.approx(0.5) and table["n"] == 6


@pytest.mark.parametrize("p, dof, exact", [(0.95, 4, 2.131847), (0.975, 10, 2.228139), (0.95, 1, 6.313752),
                                           (0.95, 2, 2.919986), (0.95, None, 1.644854), (0.995, 30, 2.749996)])
def test_t_quantiles(p, dof, exact):
    assert t_quantile(p, dof) == pytest.approx(exact, rel=1e-3)


def test_parameter_predictive_treats_the_truth_as_one_more_sample():
    samples = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0]])[:, :, None]  # 5 samples, 1 site, 1 parameter
    predictive = parameter_predictive(samples)
    assert predictive.dof == 4
    assert float(predictive.mean) == pytest.approx(3.0)
    assert float(predictive.sd) == pytest.approx(math.sqrt(2.5) * math.sqrt(1.2))
    lower, upper = predictive.interval(0.9)
    assert float(upper - lower) == pytest.approx(2 * 2.131847 * math.sqrt(3.0), rel=1e-3)


def samples_from(at_observations: torch.Tensor) -> Samples:
    n_samples, n_sites = at_observations.shape[:2]
    return Samples("test", None, ("a",), torch.zeros(n_samples, n_sites, 1), at_observations, at_observations)


def test_soc_predictive_adds_the_noise_to_the_spread_of_log_soc():
    log_f = torch.tensor([[[0.0, 1.0]], [[0.2, 1.0]]], dtype=torch.float64)  # 2 samples, 1 site, 2 depths
    predictive = soc_predictive(samples_from(log_f.exp()), sigma=0.1)
    assert torch.allclose(predictive.mean, torch.tensor([[0.1, 1.0]], dtype=torch.float64))
    spread = torch.tensor([0.02 * 1.5, 0.0], dtype=torch.float64)  # var_s (1 + 1/S)
    assert torch.allclose(predictive.sd, (spread + 0.01).sqrt()[None])


def test_noise_sd_recovers_multiplicative_noise():
    generator = torch.Generator().manual_seed(2)
    f = torch.exp(torch.randn(1, 500, 6, generator=generator, dtype=torch.float64))
    observed = f[0] * torch.exp(0.1 * torch.randn(500, 6, generator=generator, dtype=torch.float64))
    observed[:, 5] = float("nan")
    assert noise_sd(samples_from(f.expand(3, -1, -1)), observed) == pytest.approx(0.1, rel=0.05)
    with pytest.raises(BinnInputError, match="shape"):
        noise_sd(samples_from(f), observed[:10])


# -- deep ensembles --------------------------------------------------------------------------------
def test_ensembles_are_reproducible_from_the_seed(dataset):
    first = train_ensemble(small_binn, dataset, np.arange(30), n_members=3, seed=7, progress=False, **QUICK)
    again = train_ensemble(small_binn, dataset, np.arange(30), n_members=3, seed=7, progress=False, **QUICK)
    other = train_ensemble(small_binn, dataset, np.arange(30), n_members=3, seed=8, progress=False, **QUICK)
    test = dataset.subset(np.arange(30, 40))
    a, b, c = (e.sample(test) for e in (first, again, other))
    assert first.seeds == [7, 8, 9] and len(first) == 3
    assert a.params.shape == (3, 10, 21) and a.prediction.shape == (3, 10, 20)
    assert a.at_observations.shape == (3, 10, test.coords.shape[1])
    assert torch.equal(a.params, b.params)
    torch.testing.assert_close(a.at_observations, b.at_observations, rtol=0, atol=0, equal_nan=True)
    assert not torch.equal(a.params, c.params)
    efolding = a.parameter("efolding")
    assert float(efolding.std(dim=0).min()) > 0, "members differ"
    assert torch.equal(a.parameter(["efolding"])[..., 0], efolding)
    assert a.mean_params().index.equals(test.site_ids)
    assert first.seconds >= sum(first.member_seconds) * 0.99


def test_bootstrap_members_train_on_resampled_sites(dataset):
    ensemble = train_ensemble(small_binn, dataset, np.arange(30), n_members=2, bootstrap=True, seed=0,
                              progress=False, epochs=1, batch_size=16)
    first, second = ensemble.train_sites
    assert set(first) <= set(range(30)) and 12 <= len(first) < 30
    assert not np.array_equal(first, second)
    again = train_ensemble(small_binn, dataset, np.arange(30), n_members=2, bootstrap=True, seed=0,
                           progress=False, epochs=1, batch_size=16)
    assert all(np.array_equal(x, y) for x, y in zip(ensemble.train_sites, again.train_sites))


def test_ensemble_input_is_checked(dataset):
    with pytest.raises(BinnInputError, match="n_members"):
        train_ensemble(small_binn, dataset, n_members=1)
    with pytest.raises(BinnInputError, match="BINN"):
        train_ensemble(lambda seed: None, dataset, n_members=2, progress=False)


# -- MC dropout --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dropout_binn(dataset):
    binn = small_binn(0, dropout=0.2)
    from binn_lite.train import fit

    fit(binn, dataset, np.arange(30), progress=False, **QUICK)
    return binn


def test_mc_dropout_samples_differ_and_the_modes_are_restored(dataset, dropout_binn):
    test = dataset.subset(np.arange(30, 40))
    for mode in (False, True):
        dropout_binn.train(mode)
        state = torch.random.get_rng_state()
        samples = mc_dropout(dropout_binn, test, n_samples=8, seed=3)
        assert torch.equal(torch.random.get_rng_state(), state), "the global random state is left alone"
        assert all(m.training == mode for m in dropout_binn.modules()), "every module back in its mode"
    assert samples.method == "mc_dropout" and samples.params.shape == (8, 10, 21)
    efolding = samples.parameter("efolding")
    assert float(efolding.std(dim=0).min()) > 0, "the passes differ"
    again = mc_dropout(dropout_binn, test, n_samples=8, seed=3)
    assert torch.equal(again.params, samples.params), "reproducible from the seed"
    dropout_binn.eval()
    deterministic, _ = dropout_binn.predict_dataset(test)
    assert torch.allclose(efolding.mean(dim=0), torch.tensor(deterministic["efolding"].to_numpy()), rtol=0.2)


def test_mc_dropout_needs_dropout(dataset):
    binn = small_binn(0)
    binn.normalizer = dataset.fit_normalizer()
    with pytest.raises(BinnInputError, match="dropout"):
        mc_dropout(binn, dataset)


def test_plot_reliability_returns_a_figure():
    truth = torch.randn(500, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    figure = plot_reliability({"calibrated": reliability(standard_normal(500), truth)})
    assert isinstance(figure, Figure)


def test_bad_levels_and_shapes_are_refused():
    with pytest.raises(BinnInputError, match="level"):
        standard_normal(3).interval(1.5)
    with pytest.raises(BinnInputError, match="shape"):
        coverage(standard_normal(3), torch.zeros(4))
    with pytest.raises(BinnInputError, match="finite"):
        coverage(standard_normal(2), torch.tensor([float("nan")] * 2))
    with pytest.raises(BinnInputError, match="2 samples"):
        parameter_predictive(torch.zeros(1, 3, 1))


def test_crps_of_members_that_agree_exactly_is_the_absolute_error():
    predictive = Predictive(torch.tensor([1.0, 2.0]), torch.zeros(2), None)
    assert crps(predictive, torch.tensor([1.5, 2.0])) == pytest.approx(0.25)
