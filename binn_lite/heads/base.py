"""The head contract and its base class, plus the helpers every head is built with.

A head is the learnable half of a BINN. It maps a batch of (z-scored) site covariates
``x`` [batch, n_inputs] to unconstrained pre-activations ``u`` [batch, n_outputs] and squashes
them into [0, 1] with an output constraint (:mod:`binn_lite.heads.constraints`); the BINN then
maps the unit values linearly to physical parameter ranges (``ParameterTable.to_physical``).

The head contract
-----------------
Every head follows one small interface, relied on by the BINN, the trainer and saving::

    p = head(x)                 # Tensor[batch, n_outputs], values in [0, 1]
    u = head.preactivation(x)   # the unconstrained outputs
    r = head.penalty()          # scalar regulariser from the LAST forward pass, weights included
    head.n_inputs, head.n_outputs
    c = head.config()           # constructor arguments as plain data, or None

For ``fit(optimizer="lm")`` (:mod:`binn_lite.levenberg_marquardt`) a head also provides
``second_order_parameters()``, ``preactivation_jacobian(x)`` (per-site Jacobian of ``u``) and
``own_penalty_hessian()``; :class:`Head` implements them once with ``torch.func``.

``config()`` mirrors the process model's (:mod:`binn_lite.process`, section 5): the arguments
that rebuild the architecture as ``type(head)(**head.config())`` -- numbers, strings, lists,
dicts and None only (the output constraint as ``constraint.config()``, e.g.
``{"name": "sigmoid", "temperature": 1.0}``). The weights are not in it: they come from the
``state_dict``. :meth:`binn_lite.binn.BINN.save` stores both, :meth:`~binn_lite.binn.BINN.load`
rebuilds a binn_lite head from them (:mod:`binn_lite.checkpoint`). A head that returns ``None``
(or has no ``config``) still saves; loading it then needs a fresh instance of the same
architecture, ``BINN.load(path, head=...)``.

:class:`Head` implements the interface once: ``forward = constraint(preactivation(x))``,
``penalty`` is the constraint's penalty on ``u`` (weight ``lamb_bound``) plus the head's own
terms, and ``config`` returns its own four arguments; a subclass adds its own
(``{**super().config(), "hidden": ...}``) and must override it when its constructor differs.
"""
from __future__ import annotations

import contextlib
import contextvars
import copy
import io
import random
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import BinnInputError
from .constraints import ConstraintSpec, make_constraint

__all__ = ["Head"]


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
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
def quiet(verbose: bool) -> Iterator[None]:
    """Swallow stdout/stderr (pykan's prints, tqdm bars) unless ``verbose``."""
    if verbose:
        yield
        return
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


#: True while a head runs on covariates already checked (inside torch.func transforms, where a
#: check that reads values cannot run)
_INPUTS_CHECKED = contextvars.ContextVar("inputs_checked", default=False)


@contextlib.contextmanager
def inputs_checked() -> Iterator[None]:
    """Skip :func:`check_input` inside the block (the caller has checked the covariates)."""
    token = _INPUTS_CHECKED.set(True)
    try:
        yield
    finally:
        _INPUTS_CHECKED.reset(token)


def check_input(x: Tensor, n_inputs: int, who: str) -> None:
    """Raise a ValueError naming ``who`` unless ``x`` is a finite Tensor[batch, n_inputs]."""
    if _INPUTS_CHECKED.get():
        return
    if not isinstance(x, Tensor):
        raise BinnInputError(f"{who}: covariates must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != n_inputs:
        raise BinnInputError(
            f"{who}: covariates must have shape [batch, {n_inputs}], got {tuple(x.shape)}"
        )
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).nonzero()[0].tolist()
        raise BinnInputError(f"{who}: covariates contain NaN/inf (first at row {bad[0]}, column {bad[1]})")


def detach_tree(value):
    """``value`` with every tensor in it (nested lists/tuples) detached; other objects unchanged."""
    if isinstance(value, nn.Parameter):
        return value
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, list):
        return [detach_tree(v) for v in value]
    if isinstance(value, tuple):
        return tuple(detach_tree(v) for v in value)
    return value


class _Call(nn.Module):
    """``head.<method>(*args)`` as a module's forward, so ``torch.func.functional_call`` can swap
    the head's weights for a flat vector's views."""

    def __init__(self, head: nn.Module, method: str) -> None:
        super().__init__()
        self.head, self.method = head, method

    def forward(self, *args: Any) -> Tensor:
        return getattr(self.head, self.method)(*args)


def hessian(f: Callable[[Tensor], Tensor], flat: Tensor) -> Tensor:
    """Hessian of the scalar ``f`` at ``flat`` [n], exact by ``torch.func``: reverse mode over
    reverse mode. ``torch.func.hessian`` (forward over reverse) gives the same matrix but pays about
    0.25 s for forward-mode AD the first time a process uses it."""
    return torch.func.jacrev(torch.func.jacrev(f))(flat)


class Head(nn.Module):
    """Base class: ``forward = constraint(preactivation(x))`` and the shared penalty logic.

    Subclasses implement :meth:`preactivation` and, if they have own regularisers,
    :meth:`_model_penalty`.

    Parameters
    ----------
    n_inputs, n_outputs : number of covariates and of (unit) parameters.
    constraint : ``"sigmoid"``, ``"hard_sigmoid"`` or a :class:`~binn_lite.heads.constraints.Constraint`.
    lamb_bound : weight of the constraint's penalty on the pre-activations.
    """

    def __init__(self, n_inputs: int, n_outputs: int, constraint: ConstraintSpec, lamb_bound: float) -> None:
        super().__init__()
        if int(n_inputs) < 1 or int(n_outputs) < 1:
            raise BinnInputError(f"n_inputs and n_outputs must be >= 1, got {n_inputs}, {n_outputs}")
        if lamb_bound < 0:
            raise BinnInputError(f"lamb_bound must be >= 0, got {lamb_bound}")
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self.constraint = make_constraint(constraint)
        self.lamb_bound = float(lamb_bound)
        self._last_u: Tensor | None = None

    def config(self) -> dict[str, Any] | None:
        """Constructor arguments as plain data (the head contract); None with a custom constraint
        that cannot describe itself."""
        constraint = self.constraint.config()
        if constraint is None:
            return None
        return {"n_inputs": self.n_inputs, "n_outputs": self.n_outputs, "constraint": constraint,
                "lamb_bound": self.lamb_bound}

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
                clone.__dict__[key] = copy.deepcopy(detach_tree(value), memo)
        return clone

    def forward(self, x: Tensor) -> Tensor:
        """Unit parameters in [0, 1], shape [batch, n_outputs]; remembers ``u`` for :meth:`penalty`."""
        u = self.preactivation(x)
        self._last_u = u
        return self.constraint(u)

    def _model_penalty(self) -> Tensor | None:
        """Hook: the head's own weighted regulariser of the last forward pass (None: none)."""
        return None

    # -- derivatives for second-order optimisers (binn_lite.levenberg_marquardt) -------------------
    def second_order_parameters(self) -> list[tuple[str, Tensor]]:
        """(name, tensor) of the weights a second-order step moves (:mod:`binn_lite.levenberg_marquardt`):
        every trainable one, unless a head knows some are redundant with others."""
        return [(name, p) for name, p in self.named_parameters() if p.requires_grad]

    def _flat_call(self, method: str) -> tuple[Callable[..., Tensor], Tensor]:
        """(f(flat, *args) = ``self.<method>(*args)`` with :meth:`second_order_parameters` taken from
        ``flat``, the current values of those weights flattened in that order)."""
        named = self.second_order_parameters()
        names = ["head." + name for name, _ in named]
        shapes = [p.shape for _, p in named]
        sizes = [p.numel() for _, p in named]
        call = _Call(self, method)

        def f(flat: Tensor, *args: Any) -> Tensor:
            views = [part.view(shape) for part, shape in zip(torch.split(flat, sizes), shapes)]
            return torch.func.functional_call(call, dict(zip(names, views)), args)

        flat = torch.cat([p.detach().reshape(-1) for _, p in named]) if named else torch.zeros(0)
        return f, flat

    def preactivation_jacobian(self, x: Tensor) -> Tensor:
        """Per-site Jacobian of :meth:`preactivation` with respect to :meth:`second_order_parameters`,
        Tensor[batch, n_outputs, n_weights] (the weights flattened in that order).

        ``torch.func``: ``vmap`` over the sites of ``jacrev`` of one site's pre-activations. A head
        whose pre-activation branches on tensor values overrides this.
        """
        f, flat = self._flat_call("preactivation")
        check_input(x, self.n_inputs, type(self).__name__)

        with inputs_checked():
            try:
                return torch.func.vmap(torch.func.jacrev(lambda w, xi: f(w, xi[None])[0]),
                                       in_dims=(None, 0))(flat, x)
            except torch.OutOfMemoryError:
                raise
            except RuntimeError as error:
                raise BinnInputError(
                    f"{type(self).__name__}.preactivation_jacobian: torch.func cannot differentiate this head "
                    f"site by site ({str(error).splitlines()[0]}). Dropout and batch norm need the head in eval "
                    "mode (head.eval()); a head that branches on tensor values must override "
                    "preactivation_jacobian; or train with optimizer='lbfgs' or 'adamw'") from None

    def own_penalty_hessian(self) -> Tensor:
        """Hessian [n_weights, n_weights] over :meth:`second_order_parameters` of the head's own
        regulariser (:meth:`_model_penalty`, weights included; zeros when there is none), exact by
        ``torch.func``."""
        f, flat = self._flat_call("_model_penalty")
        if self._model_penalty() is None:
            return flat.new_zeros(flat.numel(), flat.numel())
        return hessian(f, flat)

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
