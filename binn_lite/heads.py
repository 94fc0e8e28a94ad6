"""Network heads: site covariates -> *unit* parameters in [0, 1].

A head is the learnable half of a BINN. It maps a batch of (z-scored) site covariates
``x`` [batch, n_inputs] to unconstrained pre-activations ``u`` [batch, n_outputs] and squashes
them into [0, 1] with an output *constraint*; the BINN wrapper then maps the unit values
linearly to physical parameter ranges (``ParameterTable.to_physical``).

Two heads are provided:

* :class:`MLPHead` -- the BINN network of Xu et al. (2025): three hidden layers of 128 units,
  optional batch normalisation, LeakyReLU activations, a linear output layer.
* :class:`KANHead` -- a Kolmogorov-Arnold network (Liu et al. 2024, pykan) as used by ScIReN:
  by default one layer (every covariate -> every parameter through its own learnable cubic
  B-spline with 30 grid intervals plus an identity base function), optionally two layers.

Every head follows one small interface, relied on by the BINN wrapper and the trainer::

    p = head(x)            # Tensor[batch, n_outputs], values in [0, 1]
    u = head.preactivation(x)   # the unconstrained outputs
    r = head.penalty()     # scalar regulariser from the LAST forward pass, weights included
    head.n_inputs, head.n_outputs

Output constraints
------------------
``Sigmoid(T)``:      p = 1 / (1 + exp(-u / T));                    penalty 0.
``HardSigmoid()``:   p = clip(u / 6 + 1/2, 0, 1)   (ScIReN);       penalty mean(relu(|u| - 3)^2).

The hard sigmoid has zero gradient for |u| > 3, so a unit stuck outside that band cannot come
back by itself; the quadratic penalty on the part of ``u`` outside [-3, 3] pulls it back. We use
the *mean* over batch and outputs (not the sum) so the penalty's size does not depend on the batch
size or the number of parameters.
"""
from __future__ import annotations

import contextlib
import copy
import io
import random
import warnings
from typing import Iterator, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "Constraint",
    "Sigmoid",
    "HardSigmoid",
    "make_constraint",
    "Head",
    "MLPHead",
    "KANHead",
]


# ---------------------------------------------------------------------------------------------
# Output constraints
# ---------------------------------------------------------------------------------------------
class Constraint:
    """Map unconstrained pre-activations ``u`` to [0, 1]; optionally penalise ``u``.

    Subclasses implement :meth:`__call__`, :meth:`penalty`, :meth:`inverse` and :meth:`sympy`.
    """

    name: str = "constraint"

    def __call__(self, u: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def penalty(self, u: Tensor) -> Tensor:
        """Scalar penalty on the pre-activations (zero tensor by default)."""
        return u.new_zeros(())

    def inverse(self, p: Tensor) -> Tensor:  # pragma: no cover - abstract
        """A pre-activation ``u`` with ``self(u) == p`` (for initialising heads)."""
        raise NotImplementedError

    def sympy(self, expr):  # pragma: no cover - abstract
        """The constraint applied to a sympy expression (for printed formulas)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Sigmoid(Constraint):
    """Logistic squashing ``p = sigmoid(u / temperature)``.

    Parameters
    ----------
    temperature : float > 0
        Larger values flatten the curve (a unit change in ``u`` moves ``p`` less); the slope at
        ``u = 0`` is ``1 / (4 temperature)``.
    """

    name = "sigmoid"

    def __init__(self, temperature: float = 1.0) -> None:
        temperature = float(temperature)
        if not np.isfinite(temperature) or temperature <= 0.0:
            raise ValueError(f"Sigmoid temperature must be a positive number, got {temperature}")
        self.temperature = temperature

    def __call__(self, u: Tensor) -> Tensor:
        return torch.sigmoid(u / self.temperature)

    def inverse(self, p: Tensor) -> Tensor:
        return self.temperature * torch.logit(p)

    def sympy(self, expr):
        import sympy

        return 1 / (1 + sympy.exp(-expr / sympy.Float(self.temperature)))

    def __repr__(self) -> str:
        return f"Sigmoid(temperature={self.temperature})"


class HardSigmoid(Constraint):
    """ScIReN's hard sigmoid ``p = clip(u / 6 + 1/2, 0, 1)``, linear for u in [-3, 3].

    :meth:`penalty` is ``mean(relu(|u| - 3)^2)`` over all elements: zero while every
    pre-activation lies in [-3, 3], growing quadratically outside (see the module docstring).
    """

    name = "hard_sigmoid"
    bound = 3.0

    def __call__(self, u: Tensor) -> Tensor:
        return torch.clamp(u / (2.0 * self.bound) + 0.5, 0.0, 1.0)

    def penalty(self, u: Tensor) -> Tensor:
        return torch.relu(u.abs() - self.bound).pow(2).mean()

    def inverse(self, p: Tensor) -> Tensor:
        return (p - 0.5) * (2.0 * self.bound)

    def sympy(self, expr):
        import sympy

        return sympy.Min(sympy.Max(expr / 6 + sympy.Rational(1, 2), 0), 1)


ConstraintSpec = Union[str, Constraint]


def make_constraint(spec: ConstraintSpec) -> Constraint:
    """Turn ``"sigmoid"``, ``"hard_sigmoid"`` or a :class:`Constraint` into a Constraint."""
    if isinstance(spec, Constraint):
        return spec
    if spec == "sigmoid":
        return Sigmoid()
    if spec in ("hard_sigmoid", "hardsigmoid"):
        return HardSigmoid()
    raise ValueError(
        f"unknown output constraint {spec!r}; use 'sigmoid', 'hard_sigmoid' or a Constraint instance"
    )


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Run a block with torch/numpy/random seeded by ``seed``; restore the global RNG states after.

    Building a head must be reproducible, but must not reset the user's global random streams
    (pykan's constructor calls ``torch.manual_seed`` itself).
    """
    np_state = np.random.get_state()
    py_state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Swallow stdout/stderr (pykan's prints, tqdm bars) unless ``verbose``."""
    if verbose:
        yield
        return
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def round_floats(expr, n_digits: int = 3):
    """A sympy expression with every float rounded to ``n_digits`` significant digits."""
    import sympy

    return expr.xreplace({f: sympy.Float(float(f"{float(f):.{n_digits}g}")) for f in expr.atoms(sympy.Float)})


def _check_input(x: Tensor, n_inputs: int, who: str) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{who}: covariates must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != n_inputs:
        raise ValueError(
            f"{who}: covariates must have shape [batch, {n_inputs}], got {tuple(x.shape)}"
        )
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).nonzero()[0].tolist()
        raise ValueError(f"{who}: covariates contain NaN/inf (first at row {bad[0]}, column {bad[1]})")


def _detach_tree(value):
    """``value`` with every tensor in it (nested lists/tuples) detached; other objects unchanged."""
    if isinstance(value, nn.Parameter):
        return value
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, list):
        return [_detach_tree(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_detach_tree(v) for v in value)
    return value


# ---------------------------------------------------------------------------------------------
# Head base class
# ---------------------------------------------------------------------------------------------
class Head(nn.Module):
    """Base class: ``forward = constraint(preactivation(x))`` and the shared penalty logic.

    Subclasses implement :meth:`preactivation` and, if they have own regularisers,
    :meth:`_model_penalty`.

    Parameters
    ----------
    n_inputs, n_outputs : number of covariates and of (unit) parameters.
    constraint : ``"sigmoid"``, ``"hard_sigmoid"`` or a :class:`Constraint`.
    lamb_bound : weight of the constraint's penalty on the pre-activations.
    """

    def __init__(self, n_inputs: int, n_outputs: int, constraint: ConstraintSpec, lamb_bound: float) -> None:
        super().__init__()
        if int(n_inputs) < 1 or int(n_outputs) < 1:
            raise ValueError(f"n_inputs and n_outputs must be >= 1, got {n_inputs}, {n_outputs}")
        if lamb_bound < 0:
            raise ValueError(f"lamb_bound must be >= 0, got {lamb_bound}")
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self.constraint = make_constraint(constraint)
        self.lamb_bound = float(lamb_bound)
        self._last_u: Tensor | None = None

    def preactivation(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Unconstrained outputs ``u`` [batch, n_outputs]."""
        raise NotImplementedError

    @contextlib.contextmanager
    def _caches_detached(self) -> Iterator[None]:
        """Hook: temporarily replace non-leaf tensors cached inside sub-objects by detached ones."""
        yield

    def __deepcopy__(self, memo: dict) -> "Head":
        # The head caches tensors of its last pass (for penalty()); they are part of an autograd
        # graph, which torch refuses to deep-copy. Copies get detached versions of those caches.
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        with self._caches_detached():
            for key, value in self.__dict__.items():
                clone.__dict__[key] = copy.deepcopy(_detach_tree(value), memo)
        return clone

    def forward(self, x: Tensor) -> Tensor:
        """Unit parameters in [0, 1], shape [batch, n_outputs]; remembers ``u`` for :meth:`penalty`."""
        u = self.preactivation(x)
        self._last_u = u
        return self.constraint(u)

    def _model_penalty(self) -> Tensor | None:
        return None

    def penalty(self) -> Tensor:
        """Weighted regulariser of the last forward pass (scalar, differentiable).

        ``lamb_bound * constraint.penalty(u)`` plus the head's own terms (KAN splines).
        """
        if self._last_u is None:
            raise RuntimeError(f"{type(self).__name__}.penalty(): call the head on a batch first")
        total = self.lamb_bound * self.constraint.penalty(self._last_u)
        extra = self._model_penalty()
        if extra is not None:
            total = total + extra
        return total


# ---------------------------------------------------------------------------------------------
# MLP head (BINN)
# ---------------------------------------------------------------------------------------------
class MLPHead(Head):
    """The BINN network: ``n_inputs -> 128 -> 128 -> 128 -> n_outputs`` (Xu et al. 2025).

    Each hidden block is ``Linear -> [BatchNorm1d] -> LeakyReLU [-> Dropout]``; the last layer is
    linear and its output ``u`` goes through the constraint.

    Parameters
    ----------
    n_inputs, n_outputs : int
    hidden : sizes of the hidden layers (default three of 128).
    batch_norm : add batch normalisation after every hidden linear layer. In training mode it
        needs batches of more than one site; call ``head.eval()`` for prediction.
    negative_slope : LeakyReLU slope for negative inputs.
    dropout : dropout probability after each hidden activation (0 = none).
    constraint, lamb_bound : see :class:`Head`.
    seed : seed for the weight initialisation (global RNG state is left untouched).
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        hidden: Sequence[int] = (128, 128, 128),
        batch_norm: bool = False,
        negative_slope: float = 0.01,
        dropout: float = 0.0,
        constraint: ConstraintSpec = "sigmoid",
        lamb_bound: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__(n_inputs, n_outputs, constraint, lamb_bound)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.hidden = tuple(int(h) for h in hidden)
        self.batch_norm = bool(batch_norm)
        layers: list[nn.Module] = []
        with _seeded(seed):
            width = self.n_inputs
            for h in self.hidden:
                layers.append(nn.Linear(width, h))
                if self.batch_norm:
                    layers.append(nn.BatchNorm1d(h))
                layers.append(nn.LeakyReLU(negative_slope))
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
                width = h
            layers.append(nn.Linear(width, self.n_outputs))
        self.net = nn.Sequential(*layers)

    def preactivation(self, x: Tensor) -> Tensor:
        _check_input(x, self.n_inputs, "MLPHead")
        return self.net(x)


# ---------------------------------------------------------------------------------------------
# KAN head (ScIReN)
# ---------------------------------------------------------------------------------------------
class KANHead(Head):
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
    * ``lamb_l1``     x sum over edges of |phi_ij| := std_batch(phi_ij) / (std_batch(x_i) + 0.1)
      (the KAN paper's L1 norm of an activation, eq. 2.17; pykan's ``edge_forward_spline_n``).
    * ``lamb_entropy`` x row + column entropy of those edge norms (eq. 2.19), which favours few
      strong edges.
    * ``lamb_smooth`` x mean over edges of sum_m (Delta^2 c_m / h^2)^2 h, with ``c`` the spline
      coefficients times their scale ``w^s`` and ``h`` the grid spacing: the second-difference
      (P-spline, Eilers & Marx 1996) roughness, a discrete integral of phi''(x)^2.
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
    constraint : ``"sigmoid"``, ``"hard_sigmoid"`` or a :class:`Constraint`.
    lamb_l1, lamb_entropy, lamb_smooth, lamb_bound : penalty weights (see above).
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
                raise ValueError(f"{name} must be >= 0, got {value}")
        if hidden is not None and int(hidden) < 1:
            raise ValueError(f"hidden must be None or >= 1, got {hidden}")
        if int(grid) < 1 or int(k) < 1:
            raise ValueError(f"grid and k must be >= 1, got grid={grid}, k={k}")
        if not grid_range[1] > grid_range[0]:
            raise ValueError(f"grid_range must be (low, high) with high > low, got {grid_range}")
        if base_fun not in ("identity", "silu", "zero"):
            raise ValueError(f"base_fun must be 'identity', 'silu' or 'zero', got {base_fun!r}")
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

        from kan import KAN  # imported lazily: pykan pulls in sympy, sklearn and pyplot

        width = [self.n_inputs, self.n_outputs] if self.hidden is None else [self.n_inputs, self.hidden, self.n_outputs]
        with _seeded(seed), _quiet(self.verbose):
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

    # -- basic interface --------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of KAN layers (1 or 2)."""
        return self.kan.depth

    def input_bounds(self) -> tuple[Tensor, Tensor]:
        """Per-input (low, high) of the first layer's spline grid, each Tensor[n_inputs]."""
        layer = self.kan.act_fun[0]
        return layer.grid[:, layer.k].detach(), layer.grid[:, -layer.k - 1].detach()

    def _prepare(self, x: Tensor) -> Tensor:
        _check_input(x, self.n_inputs, "KANHead")
        if self.clamp_inputs:
            low, high = self.input_bounds()
            x = torch.maximum(torch.minimum(x, high.to(x.dtype)), low.to(x.dtype))
        return x

    def _needs_acts(self) -> bool:
        return self.lamb_l1 > 0.0 or self.lamb_entropy > 0.0

    def preactivation(self, x: Tensor) -> Tensor:
        """Unconstrained KAN outputs ``u`` [batch, n_outputs]."""
        x = self._prepare(x)
        self.kan.save_act = self._needs_acts()
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
        """Unweighted (L1, entropy) of the last forward pass (Liu et al. 2024, eqs. 2.17-2.20)."""
        zero = self.kan.act_fun[0].coef.new_zeros(())
        if self._last_edge_scales is None:
            return zero, zero
        l1, entropy = zero, zero
        for scale in self._last_edge_scales:  # [out, in] per layer
            l1 = l1 + scale.sum()
            p_row = scale / (scale.sum(dim=1, keepdim=True) + 1.0)
            p_col = scale / (scale.sum(dim=0, keepdim=True) + 1.0)
            entropy = entropy - (p_row * torch.log2(p_row + 1e-4)).sum(dim=1).mean()
            entropy = entropy - (p_col * torch.log2(p_col + 1e-4)).sum(dim=0).mean()
        return l1, entropy

    def smoothness_penalty(self) -> Tensor:
        """Unweighted second-difference roughness of the splines (see class docstring)."""
        total = self.kan.act_fun[0].coef.new_zeros(())
        for layer in self.kan.act_fun:
            coef = layer.coef * (layer.scale_sp * layer.mask)[:, :, None]  # [in, out, n_basis]
            h = (layer.grid[:, 1] - layer.grid[:, 0]).detach()[:, None, None]  # [in, 1, 1]
            second = torch.diff(coef, n=2, dim=-1) / h**2
            total = total + (second.pow(2) * h).sum(dim=-1).mean()
        return total

    def _model_penalty(self) -> Tensor | None:
        zero = self.kan.act_fun[0].coef.new_zeros(())
        total = zero
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
        with _quiet(self.verbose):
            self.kan.attribute()
        return self.kan.node_scores_all[0].detach()

    def update_grid(self, x: Tensor) -> None:
        """Move every layer's spline grid to the sample distribution of ``x`` (pykan's
        ``update_grid_from_samples``; ``grid_eps`` = 0.02 mixes 98 % quantile-based with 2 %
        uniform knots) and re-fit the coefficients so the functions are preserved on ``x``."""
        _check_input(x, self.n_inputs, "KANHead.update_grid")
        with torch.no_grad(), _quiet(self.verbose):
            self.kan.update_grid_from_samples(x)

    def _adopt(self, model) -> None:
        """Install a KAN that pykan built internally, with our settings restored."""
        model.auto_save = False
        model.symbolic_enabled = self.kan.symbolic_enabled
        model.save_act = False
        model.grid_eps = self.kan.grid_eps
        model.grid_range = self.kan.grid_range
        nn.Module.to(model, dtype=self.kan.act_fun[0].coef.dtype)  # pykan builds float32 models
        self.kan = model

    def prune(self, x: Tensor, node_th: float = 1e-2, edge_th: float = 3e-2) -> "KANHead":
        """Prune in place: remove hidden nodes (two-layer KAN) whose attribution is below
        ``node_th``, then mask edges whose attribution score is below ``edge_th``.

        Scores come from pykan's ``attribute`` on the covariates ``x``. Inputs and outputs are
        kept, so ``n_inputs``/``n_outputs`` do not change. The KAN's parameter tensors are
        replaced: build a new optimiser afterwards. Returns ``self``.
        """
        x = self._prepare(x)
        with _quiet(self.verbose), torch.no_grad():
            self.kan.get_act(x)
            self.kan.attribute()
            if self.kan.depth > 1:
                for layer, scores in enumerate(self.kan.node_scores[1:-1], start=1):
                    if not bool((scores > node_th).any()):
                        raise ValueError(
                            f"KANHead.prune: node_th={node_th} would remove every node of hidden layer "
                            f"{layer} (largest score {float(scores.max()):.3g}); use a smaller node_th"
                        )
                with _seeded(0):  # pykan's constructor re-seeds the global RNG
                    pruned = self.kan.prune_node(node_th, log_history=False)
                self._adopt(pruned)
                self.kan.get_act(x)
                self.kan.attribute()
            self.kan.prune_edge(edge_th, log_history=False)
        self._last_u = None
        self._last_edge_scales = None
        return self

    def refine(self, x: Tensor, grid: int) -> "KANHead":
        """Grid refinement in place: re-express the splines on ``grid`` intervals, fitted on
        ``x`` (pykan's ``refine``). Parameters are replaced: build a new optimiser. Returns self."""
        if int(grid) < 1:
            raise ValueError(f"refine: grid must be >= 1, got {grid}")
        x = self._prepare(x).float()
        dtype = self.kan.act_fun[0].coef.dtype
        nn.Module.to(self.kan, dtype=torch.float32)  # pykan's refine only works in float32
        with _quiet(self.verbose), torch.no_grad():
            self.kan.get_act(x)
            self.kan.save_act = True  # refine re-runs the old KAN and reads its activations
            try:
                with _seeded(0):
                    refined = self.kan.refine(int(grid))
            finally:
                self.kan.save_act = False
                nn.Module.to(self.kan, dtype=dtype)
        self._adopt(refined)
        self.grid = int(grid)
        self._last_u = None
        self._last_edge_scales = None
        return self

    def n_active_edges(self) -> int:
        """Number of unmasked edges over all layers."""
        return int(sum(int(layer.mask.sum().item()) for layer in self.kan.act_fun))

    def auto_symbolic(
        self,
        x: Tensor,
        lib: Sequence[str] | None = ("x", "x^2", "exp", "log", "abs", "sin"),
        weight_simple: float = 0.8,
        r2_threshold: float = 0.0,
        a_range: tuple[float, float] = (-10.0, 10.0),
        b_range: tuple[float, float] = (-10.0, 10.0),
    ) -> "KANHead":
        """Replace every edge by its best fit ``c f(a x + b) + d`` from ``lib`` (in place).

        The fits use the edge activations on ``x``. Afterwards the symbolic branch is on and
        the numerical splines are masked, so the head computes the symbolic model. Use
        ``copy.deepcopy(head)`` (or :meth:`copy`) first to keep the trained head. Returns self.
        """
        self.collect_activations(x)
        with _quiet(self.verbose):
            self.kan.auto_symbolic(
                a_range=a_range,
                b_range=b_range,
                lib=None if lib is None else list(lib),
                verbose=1 if self.verbose else 0,
                weight_simple=weight_simple,
                r2_threshold=r2_threshold,
            )
        self.kan.symbolic_enabled = True
        return self

    def symbolic_formula(self, names: Sequence[str] | None = None, n_digits: int = 3) -> list:
        """Sympy expressions for the pre-activations ``u_j`` after :meth:`auto_symbolic`,
        in the (z-scored) input variables ``names`` (default ``x_1 .. x_n``), floats rounded to
        ``n_digits`` significant digits."""
        import sympy

        if names is not None and len(names) != self.n_inputs:
            raise ValueError(f"symbolic_formula: {len(names)} names given for {self.n_inputs} inputs")
        symbols = None if names is None else [sympy.Symbol(str(n)) for n in names]
        with _quiet(self.verbose), warnings.catch_warnings():
            # pykan hands its trainable affine tensors straight to sympy
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")
            result = self.kan.symbolic_formula(var=symbols)
        if result is None:
            raise RuntimeError("symbolic_formula: call auto_symbolic first (some edges are not symbolic)")
        return [round_floats(expr, n_digits) for expr in result[0]]

    def copy(self) -> "KANHead":
        """An independent deep copy (pykan's own ``copy`` writes files to the cwd; this does not)."""
        return copy.deepcopy(self)

    @contextlib.contextmanager
    def _caches_detached(self) -> Iterator[None]:
        # pykan keeps the last pass's edge scales and attribution scores (non-leaf tensors)
        cache = {key: _detach_tree(value) for key, value in self.kan.__dict__.items() if not key.startswith("_")}
        saved = {key: self.kan.__dict__[key] for key in cache}
        self.kan.__dict__.update(cache)
        try:
            yield
        finally:
            self.kan.__dict__.update(saved)
