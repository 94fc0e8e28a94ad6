"""Per-site Bayesian calibration (PRODA-style): adaptive Metropolis at every site at once.

The third baseline a BINN is compared against (:mod:`binn_lite.baselines` holds the other two):
Bayesian data assimilation at every site separately (Tao et al. 2020, PRODA).
:func:`per_site_mcmc` runs adaptive Metropolis chains for every site on the four most influential
parameters, vectorised so that *one* process-model call per iteration serves all sites and chains.
Its cost is what the BINN is compared against (``bench/recovery.py``).

The per-site posterior
----------------------
Work in unit space ``u in [0, 1]^d`` (physical value ``low + u (high - low)``). Prior: uniform on
the unit cube. Likelihood: the observations carry multiplicative noise, ``y = f(theta) e^eps`` with
``eps ~ N(0, sigma^2)`` (``sigma = 0.1``, about 10 %, the noise of the bundled synthetic data), i.e.
a Gaussian on log SOC::

    log p(u | y) = -1/2 sum_k ((log f_k(u) - log y_k) / sigma)^2 + const     for u in [0, 1]^d

Parameters that are not sampled keep fixed values (the table defaults unless told otherwise).

Adaptive Metropolis (Haario et al. 2001)
----------------------------------------
Random-walk proposals ``u' = u + lambda_s L_s z`` with ``z ~ N(0, I)`` and ``L_s L_s^T = Sigma_s``;
a proposal outside the unit cube has prior density 0 and is rejected (the chain stays; rejecting,
unlike reflecting a correlated proposal, keeps the proposal exactly symmetric). Every site ``s``
has its own proposal covariance, learned during burn-in:

* ``Sigma_s = 2.38^2 / d (C_s + eps I)`` where ``C_s`` is the empirical covariance of the site's
  samples (all its chains pooled) in the last adaptation window (Haario et al. 2001;
  ``2.38^2 / d`` is the optimal scaling for Gaussian targets, Gelman et al. 1996). Windows double
  in length (50, 100, 200, ... iterations) so that the early transient is forgotten; the last one
  ends at 80 % of burn-in;
* a scale ``lambda_s`` follows a Robbins-Monro rule towards an acceptance rate of 0.25
  (Andrieu & Thoms 2008): ``log lambda_s += t^-0.6 (acceptance_s - 0.25)``, ``acceptance_s`` the
  fraction of the site's chains that moved, ``t`` the iterations since the last covariance update.

After burn-in the proposal is frozen, so the kept samples come from an ordinary (non-adaptive)
Metropolis chain with the posterior as its exact stationary distribution. Several chains per site
start at independent uniform points, and convergence is checked with the rank-normalised split
R-hat of Vehtari et al. (2021) (:func:`split_rhat`); values below 1.01-1.1 mean the chains agree.
The point estimate is the posterior mean (or median) of the kept samples.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .errors import BinnInputError
from .clm5 import MOST_INFLUENTIAL
from .parameters import ParameterTable
from .process import ProcessModel
from .threads import DEFAULT_THREADS, with_num_threads

__all__ = ["LOG_SOC_SIGMA", "log_likelihood", "AMChains", "adaptive_metropolis", "split_rhat", "MCMCResult",
           "per_site_mcmc"]

#: standard deviation of log SOC observations (multiplicative noise of about 10 %)
LOG_SOC_SIGMA = 0.1


# ---------------------------------------------------------------------------------------------
# The likelihood and the sampler
# ---------------------------------------------------------------------------------------------
def log_likelihood(prediction: Tensor, observed: Tensor, sigma: float = LOG_SOC_SIGMA) -> Tensor:
    """Gaussian log-likelihood of log SOC, summed over the finite observations of each row.

    ``-1/2 sum_k ((log prediction_k - log observed_k) / sigma)^2`` for ``[batch, n_obs]`` inputs
    (NaN padding ignored; the constant ``-n log(sigma sqrt(2 pi))`` is left out). A row whose
    prediction is not finite and positive at an observed depth gets ``-inf``.
    """
    mask = torch.isfinite(observed)
    safe_obs = torch.where(mask, observed, torch.ones_like(observed))
    valid = torch.isfinite(prediction) & (prediction > 0)
    safe_pred = torch.where(valid, prediction, torch.ones_like(prediction))
    residual = (torch.log(safe_pred) - torch.log(safe_obs)) / sigma
    value = -0.5 * (residual.pow(2) * mask).sum(dim=-1)
    broken = (mask & ~valid).any(dim=-1)
    return torch.where(broken, torch.full_like(value, -math.inf), value)


@dataclass
class AMChains:
    """Output of :func:`adaptive_metropolis` (unit space).

    Attributes
    ----------
    samples : ``[sites, chains, kept, d]`` the kept (post-burn-in, thinned) states.
    log_density : ``[sites, chains, kept]`` their log density.
    acceptance : ``[sites, chains]`` acceptance rate after burn-in.
    burn_acceptance : ``[sites, chains]`` acceptance rate during burn-in.
    proposal_cov : ``[sites, d, d]`` the frozen proposal covariance ``lambda_s^2 Sigma_s``.
    n_sample : iterations run after burn-in (fewer than asked if ``stop`` ended the run).
    """

    samples: Tensor
    log_density: Tensor
    acceptance: Tensor
    burn_acceptance: Tensor
    proposal_cov: Tensor
    n_sample: int


def _adaptation_ends(n_burn: int, first_window: int, final_fraction: float = 0.2) -> list[int]:
    """Iterations (1-based counts) at which the proposal covariance is re-estimated.

    Windows of ``first_window``, then doubling lengths; the last window is stretched to end
    where the final ``final_fraction`` of burn-in begins, which only tunes the scale.
    """
    stop = int(round(n_burn * (1.0 - final_fraction)))
    ends, start, length = [], 0, first_window
    while start + length <= stop:
        end = stop if start + 3 * length > stop else start + length
        ends.append(end)
        start, length = end, 2 * length
    return ends


def adaptive_metropolis(
    log_density: Callable[[Tensor], Tensor],
    initial: Tensor,
    n_burn: int,
    n_sample: int,
    *,
    thin: int = 1,
    initial_scale: float = 0.05,
    target_acceptance: float = 0.25,
    first_window: int = 50,
    epsilon: float = 1e-10,
    generator: torch.Generator | None = None,
    progress: bool = False,
    stop: Callable[[Tensor], bool] | None = None,
    check_every: int = 1000,
) -> AMChains:
    """Adaptive Metropolis for many independent targets at once, inside the unit cube.

    Parameters
    ----------
    log_density : maps states ``[sites, chains, d]`` in ``[0, 1]^d`` to log densities
        ``[sites, chains]`` (``-inf`` allowed); called once per iteration for everything.
    initial : starting states ``[sites, chains, d]`` inside the unit cube.
    n_burn : adaptation (burn-in) iterations, discarded. ``n_sample``: iterations after burn-in
        (the most, if ``stop`` is given), every ``thin``-th kept.
    initial_scale : standard deviation of the first, isotropic proposal (unit space).
    target_acceptance : acceptance rate the scale ``lambda_s`` is steered to during burn-in.
    first_window : length of the first covariance-adaptation window (later ones double).
    epsilon : ridge ``eps`` added to every empirical covariance (keeps it positive definite).
    generator : torch random generator (reproducibility).
    progress : show a tqdm progress bar.
    stop : optional convergence test, called every ``check_every`` iterations after burn-in with
        the samples kept so far ``[sites, chains, kept, d]``; sampling ends when it returns True.

    See the module docstring for the algorithm. States outside the unit cube are rejected without
    looking at ``log_density`` (it is still evaluated at a clamped copy, to keep one call per step).
    """
    if initial.ndim != 3:
        raise BinnInputError(f"initial states must be [sites, chains, d]; got shape {tuple(initial.shape)}")
    if n_burn < 0 or n_sample < 1 or thin < 1 or check_every < 1:
        raise BinnInputError(f"need n_burn >= 0, n_sample >= 1, thin >= 1, check_every >= 1; got "
                         f"{n_burn}, {n_sample}, {thin}, {check_every}")
    if not bool(((initial >= 0) & (initial <= 1)).all()):
        raise BinnInputError("initial states must lie in the unit cube [0, 1]^d")
    n_sites, n_chains, d = initial.shape
    dtype, device = initial.dtype, initial.device
    eye = torch.eye(d, dtype=dtype, device=device)
    optimal = 2.38 ** 2 / d

    x = initial.clone()
    lp = log_density(x)
    if not bool(torch.isfinite(lp).all()):
        bad = torch.nonzero(~torch.isfinite(lp))[0].tolist()
        raise BinnInputError(f"log density is not finite at the initial state of site {bad[0]}, chain {bad[1]}")
    sigma = (initial_scale ** 2) * eye.expand(n_sites, d, d).clone()
    chol = torch.linalg.cholesky(sigma)
    log_lambda = torch.zeros(n_sites, dtype=dtype, device=device)
    ends = set(_adaptation_ends(n_burn, first_window))
    last_update = 0  # iteration of the last covariance update (restarts the scale's step sizes)
    # running sums of the current window (chains pooled): count, sum x, sum x x^T
    w_n, w_sum, w_outer, w_accepted = 0, torch.zeros_like(x[:, 0]), torch.zeros_like(sigma), torch.zeros(n_sites, dtype=dtype, device=device)

    n_kept = n_sample // thin
    samples = torch.empty(n_sites, n_chains, n_kept, d, dtype=dtype, device=device)
    kept_lp = torch.empty(n_sites, n_chains, n_kept, dtype=dtype, device=device)
    accepted_burn = torch.zeros(n_sites, n_chains, dtype=dtype, device=device)
    accepted = torch.zeros(n_sites, n_chains, dtype=dtype, device=device)

    from tqdm.auto import tqdm

    bar = tqdm(total=n_burn + n_sample, desc="MCMC", disable=not progress, leave=False)
    done = n_sample
    for it in range(n_burn + n_sample):
        burning = it < n_burn
        z = torch.randn(n_sites, n_chains, d, generator=generator, dtype=dtype, device=device)
        step = torch.einsum("sij,scj->sci", chol, z) * torch.exp(log_lambda)[:, None, None]
        proposal = x + step
        inside = ((proposal >= 0) & (proposal <= 1)).all(dim=-1)
        lp_new = log_density(proposal.clamp(0.0, 1.0))
        lp_new = torch.where(inside, lp_new, torch.full_like(lp_new, -math.inf))
        log_u = torch.log(torch.rand(n_sites, n_chains, generator=generator, dtype=dtype, device=device))
        accept = (log_u < lp_new - lp) & torch.isfinite(lp_new)
        x = torch.where(accept[..., None], proposal, x)
        lp = torch.where(accept, lp_new, lp)
        if burning:
            accepted_burn += accept
            rate = accept.to(dtype).mean(dim=1)
            log_lambda += (it + 1 - last_update) ** -0.6 * (rate - target_acceptance)
            w_n += n_chains
            w_sum += x.sum(dim=1)
            w_outer += torch.einsum("sci,scj->sij", x, x)
            w_accepted += accept.to(dtype).sum(dim=1)
            if it + 1 in ends:
                mean = w_sum / w_n
                cov = (w_outer - w_n * mean[:, :, None] * mean[:, None, :]) / (w_n - 1)
                cov = 0.5 * (cov + cov.transpose(1, 2)) + epsilon * eye
                new_chol, info = torch.linalg.cholesky_ex(optimal * cov)
                # a site whose chains never moved in this window keeps its proposal, halved
                usable = (info == 0) & (w_accepted > 0)
                chol = torch.where(usable[:, None, None], new_chol, chol)
                log_lambda = torch.where(usable, log_lambda, log_lambda - math.log(2.0))
                last_update = it + 1
                w_n, w_sum, w_outer, w_accepted = 0, torch.zeros_like(w_sum), torch.zeros_like(w_outer), torch.zeros_like(w_accepted)
        else:
            accepted += accept
            k = it - n_burn
            if (k + 1) % thin == 0 and k // thin < n_kept:
                samples[:, :, k // thin] = x
                kept_lp[:, :, k // thin] = lp
            if stop is not None and (k + 1) % check_every == 0 and k + 1 < n_sample:
                if stop(samples[:, :, : (k + 1) // thin]):
                    done = k + 1
                    break
        bar.update(1)
    bar.close()
    samples, kept_lp = samples[:, :, : done // thin], kept_lp[:, :, : done // thin]
    scale = torch.exp(log_lambda)[:, None, None]
    proposal_cov = (scale * chol) @ (scale * chol).transpose(1, 2)
    return AMChains(samples=samples, log_density=kept_lp, acceptance=accepted / done,
                    burn_acceptance=accepted_burn / max(n_burn, 1), proposal_cov=proposal_cov, n_sample=done)


# ---------------------------------------------------------------------------------------------
# R-hat
# ---------------------------------------------------------------------------------------------
def _average_ranks(x: Tensor) -> Tensor:
    """Ranks 1..M along the last axis, ties sharing their average rank (MCMC repeats states)."""
    m = x.shape[-1]
    ordered, order = torch.sort(x, dim=-1, stable=True)
    position = torch.arange(m, device=x.device).expand_as(order)
    starts = torch.ones_like(order, dtype=torch.bool)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    stops = torch.ones_like(starts)
    stops[..., :-1] = starts[..., 1:]
    first = torch.cummax(torch.where(starts, position, torch.zeros_like(position)), dim=-1).values
    last = torch.flip(
        torch.cummin(torch.flip(torch.where(stops, position, torch.full_like(position, m)), [-1]), dim=-1).values,
        [-1],
    )
    average = (first + last).to(torch.float64) / 2 + 1
    return torch.empty_like(average).scatter_(-1, order, average)


def _rhat_of_split(chains: Tensor) -> Tensor:
    """Classic R-hat of chains ``[..., m, n]`` (Gelman et al., BDA3 eq. 11.4)."""
    n = chains.shape[-1]
    within = chains.var(dim=-1, correction=1).mean(dim=-1)
    between = n * chains.mean(dim=-1).var(dim=-1, correction=1)
    var_plus = (n - 1) / n * within + between / n
    rhat = torch.sqrt(var_plus / within)
    # chains that never move have no within-chain variance: not converged unless all identical
    stuck = within <= 0
    return torch.where(stuck, torch.where(between > 0, torch.full_like(rhat, math.inf), torch.ones_like(rhat)), rhat)


def split_rhat(draws: Tensor | np.ndarray) -> Tensor:
    """Rank-normalised split R-hat (Vehtari et al. 2021) of draws ``[..., chains, n]``.

    Each chain is cut in half (2 x chains sequences, so a trend within a chain shows up). The draws
    are replaced by normal scores of their pooled ranks (``z = Phi^-1((r - 3/8) / (N + 1/4))``), for
    robustness to heavy tails and bounds; R-hat is the larger of that "bulk" value and the same for
    the folded draws ``|x - median|`` ("tail"). Returns ``[...]``; ~1 when the chains agree.
    """
    x = torch.as_tensor(draws, dtype=torch.float64)
    if x.ndim < 2 or x.shape[-1] < 4:
        raise BinnInputError(f"split R-hat needs draws [..., chains, n] with n >= 4; got shape {tuple(x.shape)}")
    half = x.shape[-1] // 2
    split = torch.cat([x[..., :half], x[..., x.shape[-1] - half:]], dim=-2)  # [..., 2 chains, half]

    def normal_scores(y: Tensor) -> Tensor:
        flat = y.reshape(*y.shape[:-2], -1)
        ranks = _average_ranks(flat)
        total = flat.shape[-1]
        return torch.special.ndtri((ranks - 0.375) / (total + 0.25)).reshape(y.shape)

    bulk = _rhat_of_split(normal_scores(split))
    median = split.reshape(*split.shape[:-2], -1).median(dim=-1).values
    tail = _rhat_of_split(normal_scores((split - median[..., None, None]).abs()))
    return torch.maximum(bulk, tail)


# ---------------------------------------------------------------------------------------------
# MCMC at every site
# ---------------------------------------------------------------------------------------------
@dataclass
class MCMCResult:
    """What :func:`per_site_mcmc` returns (samples in unit space; frames in physical units).

    Attributes
    ----------
    site_ids : the sites, in sample order. ``names``: the sampled parameters.
    table : their :class:`~binn_lite.parameters.ParameterTable` (ranges for the unit -> physical map).
    samples : ``[sites, chains, kept, d]`` unit values (post-burn-in).
    log_posterior : ``[sites, chains, kept]``.
    acceptance, burn_acceptance : ``[sites, chains]`` acceptance rates after / during burn-in.
    proposal_cov : ``[sites, d, d]`` frozen proposal covariance (unit space).
    n_burn, thin, sigma : the settings used. ``n_sample``: iterations run after burn-in (with a
        convergence target, where the run stopped).
    seconds : wall time of the sampling (model calls included).
    n_model_calls : process-model calls (one per iteration, all sites and chains at once).
    """

    site_ids: pd.Index
    names: tuple[str, ...]
    table: ParameterTable
    samples: Tensor
    log_posterior: Tensor
    acceptance: Tensor
    burn_acceptance: Tensor
    proposal_cov: Tensor
    n_burn: int
    n_sample: int
    thin: int
    sigma: float
    seconds: float
    n_model_calls: int

    @property
    def n_chains(self) -> int:
        return int(self.samples.shape[1])

    @property
    def n_iter(self) -> int:
        """Iterations per chain, burn-in included."""
        return self.n_burn + self.n_sample

    def physical_samples(self) -> Tensor:
        """Samples in physical units ``[sites, chains, kept, d]``."""
        return self.table.to_physical(self.samples)

    def _frame(self, values: Tensor) -> pd.DataFrame:
        return pd.DataFrame(values.numpy(), index=self.site_ids, columns=list(self.names))

    def posterior_mean(self) -> pd.DataFrame:
        """Posterior mean per site (rows) and parameter (columns), physical units."""
        return self._frame(self.physical_samples().mean(dim=(1, 2)))

    def posterior_median(self) -> pd.DataFrame:
        """Posterior median per site and parameter, physical units."""
        flat = self.physical_samples().flatten(1, 2).numpy()
        return self._frame(torch.from_numpy(np.median(flat, axis=1)))

    def posterior_sd(self) -> pd.DataFrame:
        """Posterior standard deviation per site and parameter, physical units."""
        return self._frame(self.physical_samples().flatten(1, 2).std(dim=1))

    def rhat(self) -> pd.DataFrame:
        """Rank-normalised split R-hat per site and parameter (:func:`split_rhat`)."""
        return self._frame(split_rhat(self.samples.permute(0, 3, 1, 2)))

    def summary(self) -> pd.Series:
        """Run length, cost, acceptance and convergence in one Series."""
        rhat = self.rhat().to_numpy()
        return pd.Series({
            "sites": len(self.site_ids), "chains": self.n_chains, "n_burn": self.n_burn,
            "n_sample": self.n_sample, "thin": self.thin, "model_calls": self.n_model_calls,
            "site_evaluations": self.n_model_calls * len(self.site_ids) * self.n_chains,
            "seconds": self.seconds,
            "acceptance_mean": float(self.acceptance.mean()),
            "acceptance_min": float(self.acceptance.min()), "acceptance_max": float(self.acceptance.max()),
            "rhat_median": float(np.median(rhat)), "rhat_p95": float(np.quantile(rhat, 0.95)),
            "rhat_max": float(rhat.max()), "frac_rhat_below_1.1": float((rhat < 1.1).mean()),
            "frac_rhat_below_1.05": float((rhat < 1.05).mean()),
        })


@with_num_threads
def per_site_mcmc(
    dataset: Any,
    index: Any = None,
    *,
    process_model: ProcessModel | None = None,
    learn: Sequence[str] = MOST_INFLUENTIAL,
    fixed: Mapping[str, float] | None = None,
    n_chains: int = 4,
    n_burn: int = 2000,
    n_sample: int = 2000,
    thin: int = 1,
    sigma: float = LOG_SOC_SIGMA,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    rhat_target: float | None = None,
    rhat_share: float = 1.0,
    check_every: int = 1000,
    num_threads: int | None = DEFAULT_THREADS,
    **sampler_kwargs: Any,
) -> MCMCResult:
    """PRODA-style Bayesian calibration: adaptive Metropolis at every site of ``dataset[index]``.

    Parameters
    ----------
    dataset : a :class:`~binn_lite.dataset.SiteDataset` (observations, forcing).
    index : site positions to calibrate (default all).
    process_model : default :class:`~binn_lite.clm5.CLM5`.
    learn : the sampled parameters (default the four most influential); uniform prior on their
        table ranges. ``fixed``: physical values of the others (default: table defaults).
    n_chains : chains per site, started at independent uniform points.
    n_burn, n_sample, thin : burn-in (adaptation) iterations, iterations after burn-in (the
        most, with ``rhat_target``), thinning.
    sigma : standard deviation of log SOC (see :data:`LOG_SOC_SIGMA` and the module docstring).
    seed : seeds the chains' starting points and proposals.
    dtype : precision of the model evaluations (float32 is ample for a log-likelihood).
    progress : tqdm progress bar. ``sampler_kwargs`` go to :func:`adaptive_metropolis`.
    rhat_target, rhat_share, check_every : run until converged: every ``check_every`` iterations
        after burn-in, stop once a share of at least ``rhat_share`` of all (site, parameter) pairs
        has split R-hat below ``rhat_target`` (on all samples kept so far); ``n_sample`` is the cap.
        ``MCMCResult.n_sample`` says how many iterations were run. ``None``: always ``n_sample``.
    num_threads : torch CPU threads while sampling, restored afterwards (None: torch's setting;
        :mod:`binn_lite.threads`).

    One process-model call per iteration evaluates all ``sites x chains`` states at once; a model
    with ``precompute`` (contract section 6; CLM5) computes what the fixed parameters decide once,
    as :func:`~binn_lite.train.fit` does, so that the comparison with a BINN is a fair one.
    """
    if process_model is None:
        from .clm5 import CLM5

        process_model = CLM5()
    table = process_model.parameter_table
    names = tuple(learn)
    unknown = [n for n in names if n not in table]
    if unknown or not names:
        raise BinnInputError(f"learn: unknown or no parameter(s) {unknown}; known: {', '.join(table.names)}")
    if not sigma > 0:
        raise BinnInputError(f"sigma must be > 0, got {sigma}")
    if n_chains < 2:
        raise BinnInputError(f"need at least 2 chains per site for R-hat; got n_chains={n_chains}")
    data = dataset if index is None else dataset.subset(index)
    n_sites = len(data)
    if n_sites == 0:
        raise BinnInputError("no sites to calibrate")
    observed = data.targets.to(dtype)
    no_data = ~torch.isfinite(observed).any(dim=1)
    if bool(no_data.any()):
        raise BinnInputError(f"site {data.site_ids[int(no_data.nonzero()[0, 0])]!r} has no observation to calibrate on")
    if bool((observed[torch.isfinite(observed)] <= 0).any()):
        raise BinnInputError("per_site_mcmc needs positive observations (the likelihood is on log SOC)")

    base = table.default.clone()
    for name, value in dict(fixed or {}).items():
        if name not in table:
            raise BinnInputError(f"fixed: unknown parameter {name!r}; known: {', '.join(table.names)}")
        if name in names:
            raise BinnInputError(f"fixed: parameter {name!r} is also sampled (in learn)")
        base[table.index(name)] = float(value)
    sampled = table.subset(names)
    columns = torch.tensor([table.index(n) for n in names])

    # every site repeated for its chains, prepared once: row s * n_chains + c
    repeat = torch.arange(n_sites).repeat_interleave(n_chains)
    forcing = data.forcing[repeat].to(dtype=dtype)
    coords = data.coords[repeat].to(dtype)
    targets = observed[repeat]
    full = base.to(dtype).expand(n_sites * n_chains, -1).clone()
    precompute = getattr(process_model, "precompute", None)  # the contract's section 6, as fit uses it
    if precompute is not None:  # once, what the fixed parameters decide (CLM5: V, B I, scalars)
        forcing = precompute(forcing, full.clone(), names)  # its own copy: full changes at every step
    low, high = sampled.low.to(dtype), sampled.high.to(dtype)
    calls = 0

    @torch.no_grad()
    def log_posterior(unit: Tensor) -> Tensor:
        nonlocal calls
        calls += 1
        full[:, columns] = low + unit.reshape(-1, len(names)).to(dtype) * (high - low)
        prediction = process_model.predict(full, forcing, coords)
        return log_likelihood(prediction, targets, sigma).to(torch.float64).reshape(n_sites, n_chains)

    stop = None
    if rhat_target is not None:
        if not rhat_target > 1.0 or not 0.0 < rhat_share <= 1.0:
            raise BinnInputError(f"need rhat_target > 1 and 0 < rhat_share <= 1; got {rhat_target}, {rhat_share}")

        def stop(kept: Tensor) -> bool:
            if kept.shape[2] < 4:
                return False
            rhat = split_rhat(kept.permute(0, 3, 1, 2))
            return float((rhat < rhat_target).to(torch.float64).mean()) >= rhat_share

    generator = torch.Generator().manual_seed(int(seed))
    initial = torch.rand(n_sites, n_chains, len(names), generator=generator, dtype=torch.float64)
    start = time.perf_counter()
    chains = adaptive_metropolis(log_posterior, initial, n_burn, n_sample, thin=thin, generator=generator,
                                 progress=progress, stop=stop, check_every=check_every, **sampler_kwargs)
    seconds = time.perf_counter() - start
    return MCMCResult(site_ids=data.site_ids, names=names, table=sampled, samples=chains.samples,
                      log_posterior=chains.log_density, acceptance=chains.acceptance,
                      burn_acceptance=chains.burn_acceptance, proposal_cov=chains.proposal_cov,
                      n_burn=n_burn, n_sample=chains.n_sample, thin=thin, sigma=float(sigma), seconds=seconds,
                      n_model_calls=calls)
