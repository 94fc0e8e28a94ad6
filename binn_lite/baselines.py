"""Baselines a BINN is compared against.

Three ways to fit SOC profiles *without* a covariate -> parameter network in front of the process
model (Xu et al. 2025 compare BINN against all three):

1. **Pure neural network** -- covariates -> SOC at the 20 CLM5 nodes directly, no process model.
   Written as a tiny process model, :class:`NodeProfile`, whose 20 "parameters" are
   ``log10(SOC)`` at the nodes and whose ``observe`` interpolates them to the observed depths like
   CLM5 does. :func:`pure_nn` wraps it in a :class:`~binn_lite.binn.BINN` with an MLP head, so the
   ordinary :func:`binn_lite.train.fit` trains it and ``predict_dataset`` predicts held-out SOC.
2. **One global parameter set** -- a single parameter vector for all sites, fitted by gradient
   descent: the classic data-assimilation set-up, which cannot represent soil heterogeneity.
   :func:`global_binn` is a BINN whose learned parameters are all *global* scalars
   ``theta_g = low + sigmoid(w_g)(high - low)`` (no network at all); :func:`fit_global` trains it
   full batch.
3. **Per-site MCMC (PRODA-style)** -- Bayesian data assimilation at every site separately
   (Tao et al. 2020, PRODA): :func:`binn_lite.mcmc.per_site_mcmc`, in its own module.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn

from .errors import BinnInputError
from .clm5 import MOST_INFLUENTIAL, N_LAYERS, ZSOI
from .parameters import Parameter, ParameterTable
from .process import ProcessModel, interpolate

__all__ = ["NodeProfile", "pure_nn", "NoHead", "global_binn", "fit_global"]


# =============================================================================================
# 1. Pure neural network: covariates -> SOC at the nodes
# =============================================================================================
class NodeProfile(ProcessModel):
    """A "process model" without process: its parameters *are* the SOC profile.

    Parameter ``log10_soc_01 ... log10_soc_20`` is ``log10`` of SOC (gC m-3) at CLM5 node depth
    ``ZSOI[i]``; the range ``[log10_low, log10_high]`` bounds what a network can predict (default
    0.1 to 1,000,000 gC m-3, wide enough for any mineral or organic soil). ``forward`` returns
    ``10 ** params`` ``[batch, 20]`` gC m-3 and ``observe`` interpolates linearly to observed depths,
    exactly as :meth:`binn_lite.clm5.CLM5.observe` does, so the comparison with CLM5 is like for like.
    The forcing is ignored (only its length is checked).
    """

    def __init__(self, log10_low: float = -1.0, log10_high: float = 6.0):
        super().__init__()
        if not log10_high > log10_low:
            raise BinnInputError(f"log10_high ({log10_high}) must exceed log10_low ({log10_low})")
        middle = 0.5 * (log10_low + log10_high)
        # an instance attribute: the range is a constructor argument
        self.parameter_table = ParameterTable([
            Parameter(f"log10_soc_{i + 1:02d}", float(log10_low), float(log10_high), "log10(gC m-3)",
                      f"log10 of SOC at node {i + 1} ({float(z):.2f} m)", default=middle)
            for i, z in enumerate(ZSOI)
        ])
        self.log10_range = (float(log10_low), float(log10_high))

    def config(self) -> dict[str, float]:
        """Constructor arguments (:mod:`binn_lite.process`, section 5)."""
        return {"log10_low": self.log10_range[0], "log10_high": self.log10_range[1]}

    def forward(self, params: Tensor, forcing: Any = None) -> Tensor:
        """SOC at the 20 nodes ``[batch, 20]`` in gC m-3: ``10 ** params``."""
        self.check_params(params)
        if forcing is not None and len(forcing) != params.shape[0]:
            raise BinnInputError(f"parameters are for {params.shape[0]} sites but the forcing has {len(forcing)}")
        return torch.pow(10.0, params)

    def observe(self, prediction: Tensor, coords: Tensor) -> Tensor:
        """SOC at observed depths (m) ``[batch, n_obs]``, linear between nodes, NaN kept."""
        return interpolate(prediction, ZSOI, coords)


def pure_nn(n_inputs: int, hidden: Sequence[int] = (128, 128, 128), *, seed: int = 0,
            log10_range: tuple[float, float] = (-1.0, 6.0), **head_kwargs: Any):
    """The pure neural-network baseline: an MLP from covariates to ``log10`` SOC at the 20 nodes.

    Returns a :class:`~binn_lite.binn.BINN` around :class:`NodeProfile`; train it like any BINN::

        net = pure_nn(len(ds.feature_names))
        fit(net, ds, train_idx)                        # binn_lite.train.fit
        _, soc = net.predict_dataset(ds.subset(test_idx))   # [n_test, max_obs] gC m-3
        nse(soc, ds.subset(test_idx).soc)              # binn_lite.metrics.nse

    ``head_kwargs`` go to :class:`~binn_lite.heads.MLPHead` (``batch_norm``, ``dropout``, ...).
    """
    from .binn import BINN
    from .heads import MLPHead

    head = MLPHead(n_inputs, N_LAYERS, hidden=hidden, seed=seed, **head_kwargs)
    return BINN(head, NodeProfile(*log10_range), learn="all")


# =============================================================================================
# 2. One global parameter set
# =============================================================================================
class NoHead(nn.Module):
    """A head with no outputs, for a BINN whose parameters are all global or fixed."""

    n_outputs = 0

    def config(self) -> dict[str, Any]:
        """No constructor arguments (``BINN.save`` rebuilds heads from ``config()``)."""
        return {}

    def forward(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[0], 0)

    def penalty(self) -> Tensor:
        return torch.zeros(())


def global_binn(process_model: ProcessModel | None = None, learn: Sequence[str] = MOST_INFLUENTIAL,
                fixed: Mapping[str, float] | None = None):
    """A BINN with *one* parameter set for all sites: every name in ``learn`` is a global scalar.

    ``process_model`` defaults to :class:`~binn_lite.clm5.CLM5`; parameters not in ``learn`` keep
    ``fixed`` values (default: the table defaults). Global parameters start at the middle of their
    range (or at ``fixed[name]`` if given). Train with :func:`fit_global` or
    :func:`binn_lite.train.fit`; read the result with ``binn.global_values()``.
    """
    from .binn import BINN

    if process_model is None:
        from .clm5 import CLM5

        process_model = CLM5()
    return BINN(NoHead(), process_model, learn=(), global_params=tuple(learn), fixed=fixed)


def fit_global(dataset: Any, train_idx: Any = None, val_idx: Any = None, *,
               process_model: ProcessModel | None = None, learn: Sequence[str] = MOST_INFLUENTIAL,
               fixed: Mapping[str, float] | None = None, epochs: int = 300, lr: float = 0.05,
               loss: str = "log", patience: int = 50, progress: bool = False, **fit_kwargs: Any):
    """Fit one global parameter set by full-batch gradient descent (Adam) on ``dataset``.

    Every training site is used in every step (``batch_size = len(train)``); ``lr`` is the step
    size of the logits ``w_g``. ``loss="log"`` (the default here and in :func:`binn_lite.train.fit`)
    weighs relative errors at every depth alike, like the MCMC likelihood
    (:func:`binn_lite.mcmc.log_likelihood`); ``"nse"`` weighs the large near-surface values most
    (:mod:`binn_lite.losses`). Other keyword arguments go to :func:`binn_lite.train.fit` (which
    also holds out a validation set for early stopping).

    Returns
    -------
    (binn, result): the trained :func:`global_binn` and the :class:`~binn_lite.train.FitResult`;
    ``binn.global_values()`` gives ``{name: physical value}``.
    """
    from .train import fit

    binn = global_binn(process_model, learn, fixed)
    # a batch as large as the whole data set: every step sees all training sites
    result = fit(binn, dataset, train_idx, val_idx, epochs=epochs, batch_size=max(1, len(dataset)), lr=lr,
                 global_lr=lr, loss=loss, patience=patience, progress=progress, **fit_kwargs)
    return binn, result
