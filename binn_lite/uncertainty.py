"""How sure is a BINN? Deep ensembles, MC dropout, predictive intervals and their calibration.

A trained BINN gives one parameter set per site. Two ways to get a spread:

* **Deep ensembles** (Lakshminarayanan et al. 2017): :func:`train_ensemble` trains N BINNs whose
  heads are initialised and trained with their own seeds (``seed, seed + 1, ...``), optionally
  each on a bootstrap resample of the training sites. Works for any head and trainer: the MLP
  with :func:`~binn_lite.train.fit`, the pruned KAN with
  :func:`~binn_lite.heads.sciren.fit_and_prune`.
* **MC dropout** (Gal & Ghahramani 2016; the BINN uncertainty paper): :func:`mc_dropout` keeps
  the dropout layers of a trained MLP head (``MLPHead(..., dropout=0.1)``) switched on at
  prediction and draws T forward passes; the BINN's modes are restored afterwards.

Both return :class:`Samples`: per-site samples of the physical parameters and of the process
model's prediction, on its grid (SOC at the 20 CLM5 nodes) and at the observed depths.

Predictive distributions
------------------------
*SOC.* The log loss (:mod:`binn_lite.losses`) is the likelihood of multiplicative noise,
``log y = log f(theta) + eps``, ``eps ~ N(0, sigma^2)``; :func:`noise_sd` estimates ``sigma`` from
training residuals. With S samples ``log f_s`` of a site's prediction, the distribution of a new
observation's log is taken as normal (:func:`soc_predictive`) with

    mean = mean_s log f_s,        variance = (1 + 1/S) var_s(log f_s) + sigma^2

(the spread of one more sample, plus the noise). *Parameters* have no noise: the truth is
treated like one more sample (:func:`parameter_predictive`), a Student-t with ``S - 1`` degrees of
freedom and scale ``sd_s sqrt(1 + 1/S)``, in unit values (fractions of each range). With five
members the interval is then 1.4 times wider than mean +- 1.645 sd: five numbers say little about
a spread. This is the prediction interval of a normal sample; it is exactly calibrated only if
the truth behaves like one more member.

Calibration (:class:`Predictive` against what happened)
-------------------------------------------------------
* **coverage**: the share of true values inside the central ``level`` interval (0.5, 0.9); a
  calibrated method covers ``level``;
* **interval score** (Gneiting & Raftery 2007, eq. 43) of the central ``1 - alpha`` interval
  ``[l, u]``: ``(u - l) + 2/alpha (l - y) 1{y < l} + 2/alpha (y - u) 1{y > u}``; lower is better,
  it rewards narrow intervals and punishes misses;
* **CRPS** of a normal ``N(mu, s^2)`` (Gneiting et al. 2005):
  ``s [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)]`` with ``z = (y - mu)/s``; lower is better, it
  is the mean absolute error for a point forecast (a Student-t is scored as a normal of its scale);
* **reliability diagram** (:func:`reliability`, :func:`plot_reliability`): coverage against the
  nominal level for levels from 10 % to 99 %; a calibrated method lies on the diagonal, an
  overconfident one below it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from .binn import BINN
from .dataset import positions
from .errors import BinnInputError
from .threads import DEFAULT_THREADS, with_num_threads
from .heads.base import seeded
from .train import fit

__all__ = ["Samples", "Ensemble", "train_ensemble", "mc_dropout", "noise_sd", "Predictive", "soc_predictive",
           "parameter_predictive", "t_quantile", "coverage", "interval_score", "crps", "calibration",
           "LEVELS", "reliability", "plot_reliability"]

#: nominal levels of the reliability diagram
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


# ---------------------------------------------------------------------------------------------
# Samples: what an ensemble or MC dropout says about every site
# ---------------------------------------------------------------------------------------------
@dataclass
class Samples:
    """S samples per site (an ensemble's members or MC-dropout passes).

    Attributes
    ----------
    method : a label, e.g. ``"ensemble"`` or ``"mc_dropout"``.
    site_ids : the sites, in the order of the second dimension.
    names : the parameter names (the process model's table order).
    params : [S, n_sites, n_params] physical values (float64).
    prediction : [S, n_sites, ...] the process model's prediction on its grid (CLM5: SOC at the
        20 nodes, gC m-3).
    at_observations : [S, n_sites, max_obs] the prediction at the dataset's observation
        coordinates (NaN padding kept).
    """

    method: str
    site_ids: pd.Index
    names: tuple[str, ...]
    params: Tensor
    prediction: Tensor
    at_observations: Tensor

    @property
    def n_samples(self) -> int:
        return int(self.params.shape[0])

    def parameter(self, names: str | Sequence[str]) -> Tensor:
        """Samples of some parameters: [S, n_sites] for one name, [S, n_sites, k] for a list."""
        if isinstance(names, str):
            return self.params[..., self._column(names)]
        return self.params[..., [self._column(n) for n in names]]

    def _column(self, name: str) -> int:
        if name not in self.names:
            raise BinnInputError(f"unknown parameter {name!r}; known: {', '.join(self.names)}")
        return self.names.index(name)

    def mean_params(self) -> pd.DataFrame:
        """Mean over the samples per site and parameter (physical units), indexed by site id."""
        return pd.DataFrame(self.params.mean(dim=0).numpy(), index=self.site_ids, columns=list(self.names))


@torch.no_grad()
def _sample(binn: BINN, dataset: Any) -> tuple[Tensor, Tensor, Tensor]:
    """(parameters, prediction on the grid, prediction at the observations) of every site, float64,
    in the BINN's current mode."""
    x = binn.features(dataset).to(device=binn.device, dtype=binn.dtype)
    theta = binn.parameters_from(x).double()
    forcing = dataset.forcing.to(device=binn.device, dtype=torch.float64)
    grid = binn.process_model(theta, forcing)
    observed = binn.process_model.observe(grid, dataset.coords.to(device=binn.device, dtype=torch.float64))
    return theta.cpu(), grid.cpu(), observed.cpu()


def _stack(method: str, binn: BINN, dataset: Any, draws: list[tuple[Tensor, Tensor, Tensor]]) -> Samples:
    params, grid, observed = (torch.stack(parts) for parts in zip(*draws))
    return Samples(method, dataset.site_ids, tuple(binn.parameter_names), params, grid, observed)


# ---------------------------------------------------------------------------------------------
# Deep ensembles
# ---------------------------------------------------------------------------------------------
@dataclass
class Ensemble:
    """What :func:`train_ensemble` returns.

    Attributes
    ----------
    members : the trained BINNs. ``fits``: what the trainer returned for each (``FitResult`` or
    ``PrunedFit``). ``seeds``: each member's seed. ``train_sites``: the site positions each member
    trained on. ``seconds``: wall time of the whole ensemble; ``member_seconds``: each member's
    (building its BINN and training it: one fit).
    """

    members: list[BINN]
    fits: list[Any]
    seeds: list[int]
    train_sites: list[np.ndarray]
    seconds: float
    member_seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.members)

    def sample(self, dataset: Any) -> Samples:
        """One sample per member for every site of ``dataset`` (eval mode, no gradients)."""
        draws = []
        for binn in self.members:
            was_training = binn.training
            binn.eval()
            try:
                draws.append(_sample(binn, dataset))
            finally:
                binn.train(was_training)
        return _stack("ensemble", self.members[0], dataset, draws)


def train_ensemble(make_binn: Callable[[int], BINN], dataset: Any, train_idx: Any = None, val_idx: Any = None, *,
                   n_members: int = 5, seed: int = 0, bootstrap: bool = False, trainer: Callable = fit,
                   progress: bool = True, **settings: Any) -> Ensemble:
    """Train ``n_members`` BINNs that differ only in their seeds (and, with ``bootstrap``, their sites).

    Member ``k`` is ``make_binn(seed + k)`` (build the head with that seed, e.g.
    ``lambda s: BINN(make_head("kan", 10, 4, seed=s), CLM5(), learn=...)``), trained by
    ``trainer(binn, dataset, train_k, val_idx, seed=seed + k, **settings)``; ``trainer`` is
    :func:`~binn_lite.train.fit` (default) or :func:`~binn_lite.heads.sciren.fit_and_prune`.
    ``train_idx`` defaults to every site not in ``val_idx``. ``bootstrap=True`` trains member ``k``
    on the sites of a resample with replacement of the training sites drawn with ``seed + k``
    (about 63 % of them; the trainers count a site once, so repeats add no weight). ``progress``
    shows one bar over the members (the trainers' own bars are off unless ``settings`` says so).
    """
    if int(n_members) < 2:
        raise BinnInputError(f"an ensemble needs n_members >= 2; got {n_members}")
    n = len(dataset)
    train = np.arange(n) if train_idx is None else positions(train_idx, n)
    if val_idx is not None:
        train = np.setdiff1d(train, positions(val_idx, n))
    settings.setdefault("progress", False)
    from tqdm.auto import tqdm

    members, fits, seeds, sites, seconds = [], [], [], [], []
    start = time.perf_counter()
    for k in tqdm(range(int(n_members)), desc="ensemble", unit="member", disable=not progress):
        member_seed = int(seed) + k
        chosen = train
        if bootstrap:
            draw = np.random.default_rng(member_seed).choice(train, size=len(train), replace=True)
            chosen = np.unique(draw)
        began = time.perf_counter()  # one fit: building the BINN and training it
        binn = make_binn(member_seed)
        if not isinstance(binn, BINN):
            raise BinnInputError(f"make_binn(seed) must return a BINN; got {type(binn).__name__}")
        fits.append(trainer(binn, dataset, chosen, val_idx, seed=member_seed, **settings))
        seconds.append(time.perf_counter() - began)
        members.append(binn)
        seeds.append(member_seed)
        sites.append(chosen)
    return Ensemble(members, fits, seeds, sites, time.perf_counter() - start, seconds)


# ---------------------------------------------------------------------------------------------
# MC dropout
# ---------------------------------------------------------------------------------------------
@with_num_threads
def mc_dropout(binn: BINN, dataset: Any, n_samples: int = 100, seed: int = 0, *,
               num_threads: int | None = DEFAULT_THREADS) -> Samples:
    """T = ``n_samples`` forward passes with the head's dropout switched on (Gal & Ghahramani 2016).

    Everything else stays in eval mode (batch norm uses its running statistics); every module's
    mode is restored afterwards, also after an error. Each pass draws new dropout masks for every
    site; ``seed`` makes the draws reproducible (the global random state is left as it was).
    ``num_threads``: torch CPU threads, restored afterwards (None: torch's setting; :mod:`binn_lite.threads`).
    """
    dropouts = [m for m in binn.modules()  # _DropoutNd: the base class of every torch dropout layer
                if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]
    if not dropouts:
        raise BinnInputError("this BINN has no dropout layer with p > 0; build its head with dropout, e.g. "
                             "MLPHead(n_inputs, n_outputs, dropout=0.1), and train it so")
    if int(n_samples) < 2:
        raise BinnInputError(f"n_samples must be >= 2; got {n_samples}")
    modes = [(m, m.training) for m in binn.modules()]
    try:
        binn.eval()
        for m in dropouts:
            m.train()
        with seeded(int(seed)):
            draws = [_sample(binn, dataset) for _ in range(int(n_samples))]
    finally:
        for m, mode in modes:
            m.training = mode
    return _stack("mc_dropout", binn, dataset, draws)


def noise_sd(samples: Samples, observed: Tensor) -> float:
    """Standard deviation of the multiplicative noise, ``sqrt(mean (log y - mean_s log f_s)^2)``.

    ``observed``: the observations of the sites of ``samples`` (e.g. the training sites'
    ``dataset.soc``), NaN-padded like ``samples.at_observations``. Use training sites: on them the
    residual is what the loss left over, i.e. the noise.
    """
    log_f = torch.log(samples.at_observations).mean(dim=0)
    observed = torch.as_tensor(observed, dtype=torch.float64)
    if observed.shape != log_f.shape:
        raise BinnInputError(f"observed has shape {tuple(observed.shape)}; the samples are for {tuple(log_f.shape)}")
    mask = torch.isfinite(observed) & torch.isfinite(log_f)
    if not bool(mask.any()):
        raise BinnInputError("no finite observation to estimate the noise from")
    residual = torch.log(observed[mask]) - log_f[mask]
    return float(residual.pow(2).mean().sqrt())


# ---------------------------------------------------------------------------------------------
# Predictive distributions
# ---------------------------------------------------------------------------------------------
def t_quantile(p: float, dof: float | None) -> float:
    """Quantile of Student's t with ``dof`` degrees of freedom (None: the standard normal).

    Exact for 1 and 2 degrees of freedom (``tan(pi (p - 1/2))`` and ``(2p - 1) / sqrt(2 p (1 - p))``);
    otherwise the Cornish-Fisher expansion around the normal quantile ``z`` (Abramowitz & Stegun
    1964, 26.7.5): for ``dof >= 3`` within 0.05 % up to p = 0.95 and 0.8 % at p = 0.995
    (t(0.95, 4) = 2.1316, exact 2.1318).
    """
    if not 0 < p < 1:
        raise BinnInputError(f"p must be in (0, 1); got {p}")
    z = float(torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))
    if dof is None:
        return z
    if dof < 1:
        raise BinnInputError(f"dof must be >= 1 (two samples or more); got {dof}")
    if dof == 1:
        return math.tan(math.pi * (p - 0.5))
    if dof == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3 + g4 / dof**4


class Predictive(NamedTuple):
    """A normal (``dof`` None) or Student-t distribution per entry: location ``mean``, scale ``sd``."""

    mean: Tensor
    sd: Tensor
    dof: float | None = None

    def interval(self, level: float) -> tuple[Tensor, Tensor]:
        """The central ``level`` interval (lower, upper)."""
        if not 0 < level < 1:
            raise BinnInputError(f"level must be in (0, 1); got {level}")
        half = t_quantile(0.5 + level / 2, self.dof) * self.sd
        return self.mean - half, self.mean + half

    def at(self, index: Any) -> "Predictive":
        """The distributions at ``index`` of ``mean`` and ``sd`` (some sites, one parameter: ``[:, j]``)."""
        return Predictive(self.mean[index], self.sd[index], self.dof)


def _moments(samples: Tensor) -> tuple[Tensor, Tensor, int]:
    """(mean, sd of one more sample = sd sqrt(1 + 1/S), S) over dimension 0."""
    n = samples.shape[0]
    if n < 2:
        raise BinnInputError(f"need at least 2 samples; got {n}")
    return samples.mean(dim=0), samples.std(dim=0) * math.sqrt(1 + 1 / n), n


def soc_predictive(samples: Samples, sigma: float) -> Predictive:
    """Normal distribution of the log of a new observation at every observed depth (natural log).

    ``sigma``: the noise of log SOC (:func:`noise_sd`); see the module docstring.
    """
    if not sigma >= 0:
        raise BinnInputError(f"sigma must be >= 0; got {sigma}")
    mean, sd, _ = _moments(torch.log(samples.at_observations))
    return Predictive(mean, torch.sqrt(sd**2 + sigma**2))


def parameter_predictive(samples: Tensor, table=None) -> Predictive:
    """Student-t of the truth from parameter samples ``[S, n_sites, k]`` (the module docstring).

    With a :class:`~binn_lite.parameters.ParameterTable` of the ``k`` parameters, in unit values
    (fractions of each range), so that scores can be compared across parameters. Works the same for
    samples ``[S, ...]`` of any noise-free quantity, e.g. the members' projected stock changes.
    """
    samples = torch.as_tensor(samples, dtype=torch.float64)
    if table is not None:
        samples = table.to_unit(samples)
    mean, sd, n = _moments(samples)
    return Predictive(mean, sd, dof=n - 1)


# ---------------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------------
def _finite(predictive: Predictive, truth: Any) -> tuple[Tensor, Tensor, Tensor]:
    """(mean, sd, truth) flattened to the entries where the truth is finite."""
    truth = torch.as_tensor(truth, dtype=torch.float64)
    if truth.shape != predictive.mean.shape:
        raise BinnInputError(f"truth has shape {tuple(truth.shape)}; the predictions {tuple(predictive.mean.shape)}")
    mask = torch.isfinite(truth)
    if not bool(mask.any()):
        raise BinnInputError("no finite true value to score against")
    return predictive.mean[mask], predictive.sd[mask], truth[mask]


def coverage(predictive: Predictive, truth: Any, level: float = 0.9) -> float:
    """Share of the (finite) true values inside the central ``level`` interval."""
    mean, sd, y = _finite(predictive, truth)
    lower, upper = Predictive(mean, sd, predictive.dof).interval(level)
    return float(((y >= lower) & (y <= upper)).double().mean())


def interval_score(predictive: Predictive, truth: Any, level: float = 0.9) -> float:
    """Mean interval score of the central ``level`` interval (Gneiting & Raftery 2007; lower is better)."""
    mean, sd, y = _finite(predictive, truth)
    lower, upper = Predictive(mean, sd, predictive.dof).interval(level)
    alpha = 1 - level
    score = (upper - lower) + 2 / alpha * (lower - y).clamp(min=0) + 2 / alpha * (y - upper).clamp(min=0)
    return float(score.mean())


def crps(predictive: Predictive, truth: Any) -> float:
    """Mean CRPS of the normal ``N(mean, sd^2)`` against the truth (Gneiting et al. 2005; lower is better).

    A Student-t predictive (an ensemble's ``dof``) is scored as the normal of the same scale, an
    approximation that flatters small ensembles a little; where ``sd`` is 0 (members that agree
    exactly) the CRPS is the absolute error.
    """
    mean, sd, y = _finite(predictive, truth)
    spread = sd > 0
    z = (y - mean) / torch.where(spread, sd, torch.ones_like(sd))
    density = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    normal = sd * (z * (2 * torch.special.ndtr(z) - 1) + 2 * density - 1 / math.sqrt(math.pi))
    return float(torch.where(spread, normal, (y - mean).abs()).mean())  # no spread: the absolute error


def calibration(predictive: Predictive, truth: Any) -> pd.Series:
    """Coverage of the 50 % and 90 % intervals, the 90 % interval score, the CRPS and the count."""
    n = int(torch.isfinite(torch.as_tensor(truth, dtype=torch.float64)).sum())
    return pd.Series({"coverage50": coverage(predictive, truth, 0.5), "coverage90": coverage(predictive, truth, 0.9),
                      "interval_score90": interval_score(predictive, truth, 0.9), "crps": crps(predictive, truth),
                      "n": n})


def reliability(predictive: Predictive, truth: Any, levels: Sequence[float] = LEVELS) -> pd.Series:
    """Coverage at each nominal level (index), the data of a reliability diagram."""
    return pd.Series({float(level): coverage(predictive, truth, level) for level in levels}, name="coverage")


def plot_reliability(curves: dict[str, pd.Series], title: str = "Reliability", ax=None):
    """Reliability diagram: coverage against nominal level for each method in ``curves``; returns the Figure.

    Points below the diagonal: intervals too narrow (overconfident); above: too wide.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(4.6, 4.2), constrained_layout=True)
    else:
        fig = ax.figure
    ax.plot([0, 1], [0, 1], color="k", lw=1, ls="--", label="calibrated")
    for label, curve in curves.items():
        ax.plot(curve.index, curve.to_numpy(), "o-", ms=4, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="nominal level of the central interval", ylabel="observed coverage",
           title=title, aspect="equal")
    ax.legend(fontsize=8, loc="upper left")
    return fig
