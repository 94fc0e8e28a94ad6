"""Per-site MCMC: the log SOC likelihood, adaptive Metropolis, split R-hat and calibration of CLM5 sites."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from binn_lite.clm5 import CLM5, CLM5_PARAMETERS
from binn_lite.data import make_synthetic
from binn_lite.mcmc import (LOG_SOC_SIGMA, _average_ranks, adaptive_metropolis, log_likelihood, per_site_mcmc,
                            split_rhat)
from binn_factory import with_observations


# ---------------------------------------------------------------------------------------------
# MCMC machinery
# ---------------------------------------------------------------------------------------------
def test_log_likelihood_is_gaussian_on_log_soc():
    obs = torch.tensor([[100.0, 50.0, float("nan")], [10.0, 20.0, 30.0]], dtype=torch.float64)
    pred = torch.stack([obs[0] * math.exp(0.1), obs[1] * math.exp(-0.2)])
    pred[0, 2] = 7.0  # padding: ignored
    ll = log_likelihood(pred, obs, sigma=0.1)
    assert ll[0].item() == pytest.approx(-0.5 * 2 * 1.0)
    assert ll[1].item() == pytest.approx(-0.5 * 3 * 4.0)
    pred[1, 1] = 0.0
    assert log_likelihood(pred, obs)[1].item() == -math.inf
    assert LOG_SOC_SIGMA == 0.1


def test_average_ranks_share_ties():
    ranks = _average_ranks(torch.tensor([[3.0, 1.0, 2.0, 2.0], [5.0, 5.0, 5.0, 1.0]]))
    assert ranks.tolist() == [[4.0, 1.0, 2.5, 2.5], [3.0, 3.0, 3.0, 1.0]]


def test_split_rhat_flags_disagreeing_chains():
    g = torch.Generator().manual_seed(0)
    agree = torch.randn(4, 1000, generator=g, dtype=torch.float64)
    assert split_rhat(agree).item() < 1.01
    apart = agree + torch.tensor([0.0, 0.0, 0.0, 3.0], dtype=torch.float64)[:, None]
    assert split_rhat(apart).item() > 1.3
    trend = agree + torch.linspace(0, 4, 1000, dtype=torch.float64)  # every chain drifts
    assert split_rhat(trend).item() > 1.3
    wide = agree * torch.tensor([1.0, 1.0, 1.0, 5.0], dtype=torch.float64)[:, None]  # same mean, other scale
    assert split_rhat(wide).item() > 1.1
    with pytest.raises(ValueError, match="n >= 4"):
        split_rhat(torch.zeros(4, 3))


def test_adaptive_metropolis_samples_a_correlated_gaussian():
    n_sites, n_chains = 2, 4
    mean = torch.tensor([[0.3, 0.5, 0.7], [0.6, 0.2, 0.5]], dtype=torch.float64)
    sd = torch.tensor([0.05, 0.02, 0.01], dtype=torch.float64)
    corr = torch.tensor([[1.0, 0.8, 0.0], [0.8, 1.0, -0.3], [0.0, -0.3, 1.0]], dtype=torch.float64)
    precision = torch.linalg.inv(sd[:, None] * corr * sd[None, :])
    calls = []

    def log_density(x):
        calls.append(x.shape)
        r = x - mean[:, None, :]
        return -0.5 * torch.einsum("sci,ij,scj->sc", r, precision, r)

    g = torch.Generator().manual_seed(1)
    start = torch.rand(n_sites, n_chains, 3, generator=g, dtype=torch.float64)
    out = adaptive_metropolis(log_density, start, 1500, 3000, thin=2, generator=g)
    assert out.samples.shape == (n_sites, n_chains, 1500, 3)
    assert len(calls) == 1 + 4500 and all(s == (n_sites, n_chains, 3) for s in calls)  # one call per step
    assert bool(((out.samples >= 0) & (out.samples <= 1)).all())
    assert torch.allclose(out.samples.mean(dim=(1, 2)), mean, atol=0.01)
    assert torch.allclose(out.samples.flatten(1, 2).std(dim=1), sd.expand(2, -1), rtol=0.15)
    assert bool((torch.linalg.eigvalsh(out.proposal_cov) > 0).all())
    # the learned proposal has the target's correlation structure
    learned = out.proposal_cov[0]
    learned_corr = learned / torch.sqrt(torch.diag(learned)[:, None] * torch.diag(learned)[None, :])
    assert torch.allclose(learned_corr, corr, atol=0.15)
    assert bool(((out.acceptance > 0.15) & (out.acceptance < 0.45)).all()), out.acceptance
    assert float(split_rhat(out.samples.permute(0, 3, 1, 2)).max()) < 1.05


def test_adaptive_metropolis_stops_when_the_convergence_test_passes():
    seen = []

    def stop(kept):
        seen.append(kept.shape[2])
        return len(seen) == 2

    def log_density(x):
        return -0.5 * ((x - 0.5) / 0.1).pow(2).sum(dim=-1)

    g = torch.Generator().manual_seed(3)
    out = adaptive_metropolis(log_density, torch.full((2, 3, 2), 0.5, dtype=torch.float64), 100, 5000,
                              thin=2, generator=g, stop=stop, check_every=150)
    assert seen == [75, 150]  # kept samples so far, at iterations 150 and 300 after burn-in
    assert out.n_sample == 300 and out.samples.shape == (2, 3, 150, 2) and out.log_density.shape == (2, 3, 150)


def test_adaptive_metropolis_rejects_proposals_outside_the_unit_cube():
    # a flat density whose mass piles against the bound u = 0: no sample may leave [0, 1]
    def log_density(x):
        return -50.0 * x.sum(dim=-1)

    g = torch.Generator().manual_seed(2)
    out = adaptive_metropolis(log_density, torch.full((1, 3, 2), 0.5, dtype=torch.float64), 400, 800, generator=g)
    assert float(out.samples.min()) >= 0.0 and float(out.samples.max()) <= 1.0
    assert float(out.samples.mean()) == pytest.approx(0.02, abs=0.01)  # exponential(50) truncated: mean ~1/50
    with pytest.raises(ValueError, match="unit cube"):
        adaptive_metropolis(log_density, torch.full((1, 2, 2), 1.5, dtype=torch.float64), 10, 10)


# ---------------------------------------------------------------------------------------------
# Per-site MCMC on CLM5
# ---------------------------------------------------------------------------------------------
def test_per_site_mcmc_recovers_known_parameters_from_rich_low_noise_profiles():
    # efolding (profile shape) and tau_s3 (stock of the passive pool) are identifiable from one
    # profile; fs1s3 and w_scaling are held at their (true) defaults. With all four free, SOC
    # depends mostly on fs1s3 tau_s3 / w_scaling and a single profile cannot separate them.
    base = make_synthetic(3, seed=11, noise=0.0)
    truth = torch.tensor([[0.3, 0.4, 0.5, 0.5], [0.7, 0.65, 0.5, 0.5], [0.5, 0.2, 0.5, 0.5]], dtype=torch.float64)
    depths = np.round(np.linspace(0.02, 2.5, 25), 3)  # 25 depths, 2 % noise
    ds = with_observations(base, truth, depths, noise=0.02, seed=1)
    result = per_site_mcmc(ds, learn=("efolding", "tau_s3"), n_chains=4, n_burn=600, n_sample=600,
                           sigma=0.02, seed=0)
    assert result.samples.shape == (3, 4, 600, 2)
    assert result.n_model_calls == 1201  # one CLM5 call per iteration for all sites x chains
    assert bool(((result.samples >= 0) & (result.samples <= 1)).all())
    table = CLM5_PARAMETERS.subset(["efolding", "tau_s3"])
    estimate = table.to_unit(torch.tensor(result.posterior_mean().to_numpy()))
    error = (estimate - truth[:, :2]).abs()
    assert float(error.max()) < 0.04, error
    sd = table.to_unit(torch.tensor(result.posterior_sd().to_numpy())) - table.to_unit(torch.zeros(2, dtype=torch.float64))
    assert bool((error < 4 * sd + 1e-3).all())  # the truth lies inside the posterior
    assert bool(((result.acceptance > 0.1) & (result.acceptance < 0.5)).all()), result.acceptance
    assert bool((torch.linalg.eigvalsh(result.proposal_cov) > 0).all())
    rhat = result.rhat()
    assert list(rhat.columns) == ["efolding", "tau_s3"] and list(rhat.index) == list(ds.site_ids)
    assert float(rhat.to_numpy().max()) < 1.1
    median = result.posterior_median()
    assert median.shape == (3, 2) and float((median - result.posterior_mean()).abs().to_numpy().max()) < 0.05 * 380
    summary = result.summary()
    assert summary["n_burn"] == 600 and summary["sites"] == 3 and summary["model_calls"] == 1201


def test_per_site_mcmc_samples_the_same_with_and_without_the_clm5_cache():
    class Uncached(CLM5):
        precompute = None  # the model without the contract's optional precompute

    class Recording(CLM5):  # remembers what it was given in place of the forcing
        given: set[str] = set()

        def predict(self, params, forcing, coords):
            self.given.add(type(forcing).__name__)
            return super().predict(params, forcing, coords)

    ds = make_synthetic(3, seed=3)
    runs = [per_site_mcmc(ds, process_model=model, n_chains=2, n_burn=40, n_sample=40, seed=1, dtype=torch.float64)
            for model in (Recording(), Uncached())]
    assert Recording.given == {"CLM5Cache"}  # every iteration ran on the cache
    torch.testing.assert_close(runs[0].samples, runs[1].samples, rtol=0, atol=1e-12)
    torch.testing.assert_close(runs[0].log_posterior, runs[1].log_posterior, rtol=1e-12, atol=1e-9)


def test_per_site_mcmc_rejects_bad_input():
    ds = make_synthetic(2, seed=0)
    with pytest.raises(ValueError, match="unknown"):
        per_site_mcmc(ds, learn=["tau_s9"], n_burn=1, n_sample=4)
    with pytest.raises(ValueError, match="chains"):
        per_site_mcmc(ds, n_chains=1, n_burn=1, n_sample=4)
    with pytest.raises(ValueError, match="also sampled"):
        per_site_mcmc(ds, fixed={"tau_s3": 100.0}, n_burn=1, n_sample=4)
    with pytest.raises(ValueError, match="sigma"):
        per_site_mcmc(ds, sigma=0.0, n_burn=1, n_sample=4)
