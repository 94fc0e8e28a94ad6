"""The BINN network: a multilayer perceptron head (Xu et al. 2025)."""
from __future__ import annotations

from typing import Any, Sequence

from torch import Tensor, nn

from ..errors import BinnInputError
from .base import Head, check_input, seeded
from .constraints import ConstraintSpec

__all__ = ["MLPHead"]


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
    constraint, lamb_bound : see :class:`~binn_lite.heads.base.Head`.
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
            raise BinnInputError(f"dropout must be in [0, 1), got {dropout}")
        self.hidden = tuple(int(h) for h in hidden)
        self.batch_norm = bool(batch_norm)
        self.negative_slope = float(negative_slope)
        self.dropout = float(dropout)
        layers: list[nn.Module] = []
        with seeded(seed):
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

    def config(self) -> dict[str, Any] | None:
        """Constructor arguments as plain data (the head contract, :mod:`binn_lite.heads.base`)."""
        config = super().config()
        if config is None:
            return None
        return {**config, "hidden": list(self.hidden), "batch_norm": self.batch_norm,
                "negative_slope": self.negative_slope, "dropout": self.dropout}

    def preactivation(self, x: Tensor) -> Tensor:
        check_input(x, self.n_inputs, "MLPHead")
        return self.net(x)
