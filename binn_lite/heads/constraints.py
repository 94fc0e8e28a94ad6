"""Output constraints: squash a head's unconstrained outputs ``u`` into unit parameters in [0, 1].

================  =====================================  ===============================
constraint        p(u)                                   penalty(u)
================  =====================================  ===============================
``Sigmoid(T)``    ``1 / (1 + exp(-u / T))``              0
``HardSigmoid()`` ``clip(u / 6 + 1/2, 0, 1)`` (ScIReN)   ``mean(relu(|u| - 3)^2)``
================  =====================================  ===============================

The hard sigmoid has zero gradient for |u| > 3, so a unit stuck outside that band cannot come
back by itself; the quadratic penalty on the part of ``u`` outside [-3, 3] pulls it back. It is
the *mean* over batch and outputs (not the sum), so its size does not depend on the batch size or
the number of parameters. A head weighs the penalty with its ``lamb_bound``
(:class:`~binn_lite.heads.base.Head`).
"""
from __future__ import annotations

from typing import Any, Mapping, Union

import numpy as np
import torch
from torch import Tensor

from ..errors import BinnInputError

__all__ = ["Constraint", "Sigmoid", "HardSigmoid", "CONSTRAINTS", "ConstraintSpec", "make_constraint"]


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

    def arguments(self) -> dict[str, Any]:
        """The constructor arguments (none by default)."""
        return {}

    def config(self) -> dict[str, Any] | None:
        """``{"name": ..., **arguments}``, which :func:`make_constraint` turns back into this
        constraint; None for a constraint it does not know by name (your own, or a subclass of a
        known one): a head with one saves without a config."""
        if CONSTRAINTS.get(self.name) is not type(self):
            return None
        return {"name": self.name, **self.arguments()}

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
            raise BinnInputError(f"Sigmoid temperature must be a positive number, got {temperature}")
        self.temperature = temperature

    def __call__(self, u: Tensor) -> Tensor:
        return torch.sigmoid(u / self.temperature)

    def inverse(self, p: Tensor) -> Tensor:
        return self.temperature * torch.logit(p)

    def sympy(self, expr):
        import sympy

        return 1 / (1 + sympy.exp(-expr / sympy.Float(self.temperature)))

    def arguments(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

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


#: the constraints :func:`make_constraint` knows by name
CONSTRAINTS: dict[str, type[Constraint]] = {"sigmoid": Sigmoid, "hard_sigmoid": HardSigmoid}

#: what a head accepts as ``constraint=``: a name, a ``config()`` dict or an instance
ConstraintSpec = Union[str, Mapping[str, Any], Constraint]


def make_constraint(spec: ConstraintSpec) -> Constraint:
    """Turn ``"sigmoid"``, ``"hard_sigmoid"``, a :meth:`Constraint.config` dict such as
    ``{"name": "sigmoid", "temperature": 2.0}``, or a :class:`Constraint` into a Constraint."""
    if isinstance(spec, Constraint):
        return spec
    arguments: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        arguments = dict(spec)
        spec = arguments.pop("name", None)
    name = "hard_sigmoid" if spec == "hardsigmoid" else spec
    cls = CONSTRAINTS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise BinnInputError(
            f"unknown output constraint {spec!r}; use 'sigmoid', 'hard_sigmoid', a config dict such as "
            "{'name': 'sigmoid', 'temperature': 2.0} or a Constraint instance"
        )
    return cls(**arguments)
