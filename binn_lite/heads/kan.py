"""ScIReN's head: a Kolmogorov-Arnold network (Liu et al. 2024) wrapped quietly and file-free.

:class:`KANHead` wraps a pykan ``KAN``. Its regularisers are in :mod:`~binn_lite.heads.kan_penalties`,
pruning and grid refinement in :mod:`~binn_lite.heads.kan_pruning`, symbolic fitting in
:mod:`~binn_lite.heads.kan_symbolic` (both mixed into the class); this module holds the network
itself and what interpretation reads from it.
"""
from __future__ import annotations

import contextlib
import copy
from typing import Any, Iterator

import torch
from torch import Tensor

from ..errors import BinnInputError
from .base import Head, check_input, detach_tree, hessian, quiet, seeded
from .constraints import ConstraintSpec
from .kan_penalties import roughness, sparsity
from .kan_pruning import KANPruning
from .kan_symbolic import KANSymbolic

__all__ = ["KANHead"]


class KANHead(KANPruning, KANSymbolic, Head):
    """A pykan KAN mapping covariates to unit parameters (ScIReN).

    With ``hidden=None`` (default) the network has one layer: parameter ``j`` is
    ``u_j = sum_i phi_ij(x_i)`` with one learnable edge function per (covariate, parameter),

        phi_ij(x) = w^b_ij b(x) + w^s_ij sum_m c_ijm B_m(x)        (Liu et al. 2024, eq. 2.10)

    ``b`` the base function (identity here, as in ScIReN) and ``B_m`` cubic B-splines on ``grid``
    intervals of ``grid_range``. ``hidden=h`` gives the two-layer KAN ``[n_inputs, h, n_outputs]``.

    Inputs and grid
    ---------------
    The trainer feeds z-scored covariates (mean 0, sd 1), so the grid spans ``grid_range =
    (-3, 3)``. B-splines vanish outside the grid (plus ``k`` extension intervals), so with
    ``clamp_inputs=True`` (default) each input is clipped to its layer-1 grid range before
    entering the KAN: edge functions are then flat beyond the data-covered range instead of
    dropping to the base function. :meth:`update_grid` moves the grid to sample quantiles of
    real data (pykan's ``update_grid_from_samples``); call it once on the training covariates
    before training if their distribution is far from standard normal, and note it re-fits the
    spline coefficients in place (the optimiser can keep its parameter references).

    Penalties (:meth:`penalty`, from the last forward pass, weights set here)
    -------------------------------------------------------------------------
    * ``lamb_bound``  x constraint penalty on ``u`` (hard sigmoid: mean relu(|u|-3)^2).
    * ``lamb_l1``, ``lamb_entropy`` x the L1 and entropy of the edge norms, which favour few
      strong edges (:func:`~binn_lite.heads.kan_penalties.sparsity`).
    * ``lamb_smooth`` x the second-difference roughness of the splines
      (:func:`~binn_lite.heads.kan_penalties.roughness`).

    The L1/entropy terms need pykan's saved activations, so ``save_act`` is switched on in the
    forward pass only when ``lamb_l1`` or ``lamb_entropy`` is non-zero. The symbolic branch is
    off (``symbolic_enabled=False``) except after :meth:`auto_symbolic` -- it makes training
    about five times slower.

    Side effects
    ------------
    pykan writes checkpoints to ``./model`` and figures to ``./figures`` by default and prints
    progress. This wrapper builds the KAN with ``auto_save=False``, re-applies that after every
    pykan call that builds a new model (pruning, refinement), never calls pykan's ``copy``/
    ``plot``/``fit`` (which write files), silences printing unless ``verbose=True``, and builds
    the KAN without touching the global random-number state.

    Saving: use ``head.state_dict()`` (or ``copy.deepcopy(head)`` in memory); pickling the whole
    head (``torch.save(head)``) fails because pykan's symbolic layer stores lambdas.

    Parameters
    ----------
    n_inputs, n_outputs : int
    hidden : None for a one-layer KAN, or the width of the hidden layer.
    grid : number of grid intervals (ScIReN: 30).
    k : spline order (3: cubic).
    grid_range : (low, high) of the initial grid, in z-score units.
    base_fun : pykan base function: ``"identity"`` (ScIReN), ``"silu"`` or ``"zero"``.
    noise_scale : amplitude of the random initial spline coefficients, drawn as
        U(-1/2, 1/2) * noise_scale / grid (drawn directly, because pykan's least-squares
        initialisation is not reproducible).
    clamp_inputs : clip inputs to the first layer's grid range (see above).
    constraint : ``"sigmoid"``, ``"hard_sigmoid"`` or a :class:`~binn_lite.heads.constraints.Constraint`.
    lamb_l1, lamb_entropy, lamb_smooth, lamb_bound : penalty weights (see above; ScIReN's values
        are :data:`binn_lite.heads.sciren.KAN_SETTINGS`).
    seed : seed of the initialisation.
    verbose : let pykan print (progress, symbolic fits).
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        hidden: int | None = None,
        grid: int = 30,
        k: int = 3,
        grid_range: tuple[float, float] = (-3.0, 3.0),
        base_fun: str = "identity",
        noise_scale: float = 0.3,
        clamp_inputs: bool = True,
        constraint: ConstraintSpec = "sigmoid",
        lamb_l1: float = 0.0,
        lamb_entropy: float = 0.0,
        lamb_smooth: float = 0.0,
        lamb_bound: float = 1.0,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        super().__init__(n_inputs, n_outputs, constraint, lamb_bound)
        for name, value in (("lamb_l1", lamb_l1), ("lamb_entropy", lamb_entropy), ("lamb_smooth", lamb_smooth)):
            if value < 0:
                raise BinnInputError(f"{name} must be >= 0, got {value}")
        if hidden is not None and int(hidden) < 1:
            raise BinnInputError(f"hidden must be None or >= 1, got {hidden}")
        if int(grid) < 1 or int(k) < 1:
            raise BinnInputError(f"grid and k must be >= 1, got grid={grid}, k={k}")
        if not grid_range[1] > grid_range[0]:
            raise BinnInputError(f"grid_range must be (low, high) with high > low, got {grid_range}")
        if base_fun not in ("identity", "silu", "zero"):
            raise BinnInputError(f"base_fun must be 'identity', 'silu' or 'zero', got {base_fun!r}")
        self.hidden = None if hidden is None else int(hidden)
        self.grid = int(grid)
        self.k = int(k)
        self.grid_range = (float(grid_range[0]), float(grid_range[1]))
        self.base_fun = base_fun
        self.clamp_inputs = bool(clamp_inputs)
        self.lamb_l1 = float(lamb_l1)
        self.lamb_entropy = float(lamb_entropy)
        self.lamb_smooth = float(lamb_smooth)
        self.verbose = bool(verbose)
        self._last_edge_scales: list[Tensor] | None = None
        self._differentiating = False  # True inside preactivation_jacobian: record no activations

        from kan import KAN  # imported lazily: pykan pulls in sympy, sklearn and pyplot

        width = [self.n_inputs, self.n_outputs] if self.hidden is None else [self.n_inputs, self.hidden, self.n_outputs]
        with seeded(seed), quiet(self.verbose):
            self.kan = KAN(
                width=width,
                grid=self.grid,
                k=self.k,
                base_fun=base_fun,
                grid_range=list(self.grid_range),
                noise_scale=noise_scale,
                symbolic_enabled=False,
                save_act=False,
                auto_save=False,
                seed=seed,
            )
            # pykan fits the initial noise coefficients by an under-determined least-squares
            # solve whose result differs from call to call; draw them directly instead, with
            # the same scale, so a seed always gives the same network.
            generator = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                for layer in self.kan.act_fun:
                    noise = torch.rand(layer.coef.shape, generator=generator) - 0.5
                    layer.coef.copy_(noise * noise_scale / self.grid)

    def config(self) -> dict[str, Any] | None:
        """Constructor arguments as plain data (the head contract, :mod:`binn_lite.heads.base`).

        ``hidden`` is the width the KAN has now (pruning can shrink it). A KAN after
        :meth:`auto_symbolic` cannot describe itself: its symbolic functions are not plain data.
        """
        if self.kan.symbolic_enabled:
            raise BinnInputError(
                "cannot describe (or save) a KAN head after auto_symbolic: its symbolic functions are not "
                "plain data; save a copy taken before auto_symbolic"
            )
        config = super().config()
        if config is None:
            return None
        hidden = None if self.depth == 1 else int(self.kan.act_fun[0].out_dim)
        return {**config, "hidden": hidden, "grid": self.grid, "k": self.k, "grid_range": list(self.grid_range),
                "base_fun": self.base_fun, "clamp_inputs": self.clamp_inputs, "lamb_l1": self.lamb_l1,
                "lamb_entropy": self.lamb_entropy, "lamb_smooth": self.lamb_smooth}

    # -- the forward pass ---------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of KAN layers (1 or 2)."""
        return self.kan.depth

    def input_bounds(self) -> tuple[Tensor, Tensor]:
        """Per-input (low, high) of the first layer's spline grid, each Tensor[n_inputs]."""
        layer = self.kan.act_fun[0]
        return layer.grid[:, layer.k].detach(), layer.grid[:, -layer.k - 1].detach()

    def _prepare(self, x: Tensor) -> Tensor:
        """Check the covariates and, with ``clamp_inputs``, clip them to the first layer's grid."""
        check_input(x, self.n_inputs, "KANHead")
        if self.clamp_inputs:
            low, high = self.input_bounds()
            x = torch.maximum(torch.minimum(x, high.to(x.dtype)), low.to(x.dtype))
        return x

    def _needs_acts(self) -> bool:
        return self.lamb_l1 > 0.0 or self.lamb_entropy > 0.0

    def preactivation(self, x: Tensor) -> Tensor:
        """Unconstrained KAN outputs ``u`` [batch, n_outputs]."""
        x = self._prepare(x)
        self.kan.save_act = self._needs_acts() and not self._differentiating
        u = self.kan(x)
        self.kan.save_act = False
        return u

    def forward(self, x: Tensor) -> Tensor:
        u = self.preactivation(x)
        self._last_u = u
        # keep the (differentiable) per-edge scales of THIS pass for penalty()
        self._last_edge_scales = list(self.kan.acts_scale_spline) if self._needs_acts() else None
        return self.constraint(u)

    # -- penalties ----------------------------------------------------------------------------
    def sparsity_penalty(self) -> tuple[Tensor, Tensor]:
        """Unweighted (L1, entropy) of the last forward pass (zeros when it saved no activations)."""
        if self._last_edge_scales is None:
            zero = self.kan.act_fun[0].coef.new_zeros(())
            return zero, zero
        return sparsity(self._last_edge_scales)

    def smoothness_penalty(self) -> Tensor:
        """Unweighted second-difference roughness of the splines."""
        return roughness(self.kan.act_fun)

    def second_order_parameters(self) -> list[tuple[str, Tensor]]:
        """The trainable weights but the spline scales ``scale_sp``: an edge's spline is
        ``scale_sp * sum_m coef_m B_m(x)``, so only the product counts. Holding ``scale_sp`` fixed
        removes that redundancy, and the numeric branch's pre-activations become linear in the
        weights left (``coef``, ``scale_base``)."""
        return [(name, p) for name, p in super().second_order_parameters() if not name.endswith("scale_sp")]

    def preactivation_jacobian(self, x: Tensor) -> Tensor:
        """:meth:`Head.preactivation_jacobian`, keeping pykan's caches of the last real forward pass
        (``cache_data``, ``acts``, ...): under ``torch.func`` they would hold tensors that live only
        inside the transform, and copying, refining or pruning the KAN would fail on them."""
        kept = {k: v for k, v in vars(self.kan).items() if not k.startswith("_")}
        self._differentiating = True
        try:
            return super().preactivation_jacobian(x)
        finally:
            self._differentiating = False
            for k in [k for k in vars(self.kan) if not k.startswith("_") and k not in kept]:
                delattr(self.kan, k)
            vars(self.kan).update(kept)

    def weighted_smoothness(self) -> Tensor:
        """``lamb_smooth`` x :meth:`smoothness_penalty`."""
        return self.lamb_smooth * self.smoothness_penalty()

    def own_penalty_hessian(self) -> Tensor:
        """Hessian of the weighted smoothness term. The sparsity terms are read from the last
        forward pass's activations, so they have no Hessian in the weights alone (a
        Levenberg-Marquardt step uses their gradient only)."""
        f, flat = self._flat_call("weighted_smoothness")
        return hessian(f, flat)

    def _model_penalty(self) -> Tensor | None:
        total = self.kan.act_fun[0].coef.new_zeros(())
        if self._needs_acts():
            if self._last_edge_scales is None:
                raise RuntimeError("KANHead.penalty(): no saved activations; call the head on a batch first")
            l1, entropy = self.sparsity_penalty()
            total = total + self.lamb_l1 * l1 + self.lamb_entropy * entropy
        if self.lamb_smooth > 0.0:
            total = total + self.lamb_smooth * self.smoothness_penalty()
        return total

    # -- what interpretation needs --------------------------------------------------------------
    def edge_functions(self, x: Tensor, layer: int = 0) -> Tensor:
        """Edge outputs ``phi_ij(x_i)`` of one layer, Tensor[batch, n_out_layer, n_in_layer].

        For ``layer=0`` ``x`` are covariates (clamped as in the forward pass); for ``layer=1``
        of a two-layer KAN ``x`` are hidden activations. Includes base, spline and (if enabled)
        symbolic parts, i.e. what is summed into the layer's nodes.
        """
        if layer == 0:
            x = self._prepare(x)
        act_fun = self.kan.act_fun[layer]
        _, _, postacts, _ = act_fun(x)
        if self.kan.symbolic_enabled:
            _, sym = self.kan.symbolic_fun[layer](x)
            postacts = postacts + sym
        return postacts

    def collect_activations(self, x: Tensor) -> None:
        """Run ``x`` through the KAN with pykan's activation saving on (for pykan's attribution,
        pruning and symbolic fitting). Does not change :meth:`penalty`'s state."""
        x = self._prepare(x)
        with torch.no_grad():
            self.kan.get_act(x)

    def attribution(self, x: Tensor) -> Tensor:
        """pykan's attribution scores of inputs for each output, Tensor[n_outputs, n_inputs]."""
        self.collect_activations(x)
        with quiet(self.verbose):
            self.kan.attribute()
        return self.kan.node_scores_all[0].detach()

    def update_grid(self, x: Tensor) -> None:
        """Move every layer's spline grid to the sample distribution of ``x`` (pykan's
        ``update_grid_from_samples``; ``grid_eps`` = 0.02 mixes 98 % quantile-based with 2 %
        uniform knots) and re-fit the coefficients so the functions are preserved on ``x``."""
        check_input(x, self.n_inputs, "KANHead.update_grid")
        with torch.no_grad(), quiet(self.verbose):
            self.kan.update_grid_from_samples(x)

    def n_active_edges(self) -> int:
        """Number of unmasked edges over all layers."""
        return int(sum(int(layer.mask.sum().item()) for layer in self.kan.act_fun))

    # -- copies ---------------------------------------------------------------------------------
    def copy(self) -> "KANHead":
        """An independent deep copy (pykan's own ``copy`` writes files to the cwd; this does not)."""
        return copy.deepcopy(self)

    @contextlib.contextmanager
    def _caches_detached(self) -> Iterator[None]:
        # pykan keeps the last pass's edge scales and attribution scores (non-leaf tensors)
        cache = {key: detach_tree(value) for key, value in self.kan.__dict__.items() if not key.startswith("_")}
        saved = {key: self.kan.__dict__[key] for key in cache}
        self.kan.__dict__.update(cache)
        try:
            yield
        finally:
            self.kan.__dict__.update(saved)
