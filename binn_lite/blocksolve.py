"""Batched block-tridiagonal linear solves with an adjoint backward pass.

The CLM5 steady state couples 7 pools inside a soil layer (a dense 7 x 7 block) and each pool with
the same pool in the layers above and below (vertical mixing: *diagonal* coupling blocks). Ordered
layer by layer, the 140 x 140 system is block tridiagonal::

    l_j * x_{j-1}  +  D_j x_j  +  u_j * x_{j+1}  =  b_j          j = 0 .. N-1

with ``D_j`` a dense ``n x n`` block and ``l_j``, ``u_j`` length-``n`` vectors (diagonal blocks;
``l_0`` and ``u_{N-1}`` are ignored).

Block elimination (the block Thomas algorithm, e.g. Golub & Van Loan, *Matrix Computations*,
sec. 4.5) factors ``M = L U`` with

    S_0 = D_0,   S_j = D_j - diag(l_j) C_{j-1},   C_j = S_j^{-1} diag(u_j)

forward-substitutes ``y_j = S_j^{-1} (b_j - l_j * y_{j-1})`` and back-substitutes
``x_j = y_j - C_j x_{j+1}``. That is ``N`` small batched inversions instead of one dense
``(N n)^3`` factorisation.

Gradients (adjoint method): for a loss ``L(x)`` with ``g = dL/dx``, solve ``M^T lam = g`` with the
*same* factors (``M^T = U^T L^T``), then ``dL/db = lam`` and ``dL/dM = -lam x^T`` restricted to the
non-zero pattern: ``dL/dD_j = -lam_j x_j^T``, ``dL/dl_j = -lam_j * x_{j-1}``,
``dL/du_j = -lam_j * x_{j+1}``. No autograd graph is built through the elimination loop.

Numerical note: the blocks are inverted explicitly without pivoting across layers. That is safe for
the systems solved here, which are non-singular M-matrices (positive diagonal, non-positive
off-diagonal, weighted column diagonal dominance): their Schur complements ``S_j`` stay M-matrices,
and every inverse is entrywise non-negative.
"""
from __future__ import annotations

import torch

from .errors import BinnInputError

__all__ = ["BlockTridiagonal", "block_tridiagonal_solve", "dense_solve", "to_dense"]


class BlockTridiagonal:
    """Block-tridiagonal factorisation of ``M`` (see the module docstring).

    Parameters
    ----------
    lower : ``[batch, N, n]`` diagonal coupling of block row j to x_{j-1} (``lower[:, 0]`` unused).
    diag : ``[batch, N, n, n]`` diagonal blocks.
    upper : ``[batch, N, n]`` diagonal coupling of block row j to x_{j+1} (``upper[:, -1]`` unused).
    """

    def __init__(self, lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor):
        batch, n_blocks, n = lower.shape
        if diag.shape != (batch, n_blocks, n, n) or upper.shape != lower.shape:
            raise BinnInputError(
                f"block shapes do not match: lower {tuple(lower.shape)}, diag {tuple(diag.shape)}, "
                f"upper {tuple(upper.shape)}"
            )
        self.lower, self.upper, self.n_blocks = lower, upper, n_blocks
        inverses = []  # S_j^{-1}
        s_inv = torch.linalg.inv(diag[:, 0])
        inverses.append(s_inv)
        for j in range(1, n_blocks):
            coupling = s_inv * upper[:, j - 1, None, :]  # C_{j-1} = S_{j-1}^{-1} diag(u_{j-1})
            s_inv = torch.linalg.inv(diag[:, j] - lower[:, j, :, None] * coupling)
            inverses.append(s_inv)
        self.s_inv = torch.stack(inverses, dim=1)  # [batch, N, n, n]

    def _coupling(self, j: int) -> torch.Tensor:
        return self.s_inv[:, j] * self.upper[:, j, None, :]

    def solve(self, rhs: torch.Tensor) -> torch.Tensor:
        """Solve ``M x = rhs`` for ``rhs`` of shape ``[batch, N, n]``."""
        y = []
        y_prev = None
        for j in range(self.n_blocks):
            r = rhs[:, j] if y_prev is None else rhs[:, j] - self.lower[:, j] * y_prev
            y_prev = (self.s_inv[:, j] @ r.unsqueeze(-1)).squeeze(-1)
            y.append(y_prev)
        x = [None] * self.n_blocks
        x[-1] = y[-1]
        for j in range(self.n_blocks - 2, -1, -1):
            x[j] = y[j] - (self._coupling(j) @ x[j + 1].unsqueeze(-1)).squeeze(-1)
        return torch.stack(x, dim=1)

    def solve_transposed(self, rhs: torch.Tensor) -> torch.Tensor:
        """Solve ``M^T lam = rhs`` with the same factors (the adjoint solve)."""
        w = []
        w_prev = None
        for j in range(self.n_blocks):  # U^T w = rhs (unit block lower triangular)
            r = rhs[:, j]
            if w_prev is not None:
                r = r - (self._coupling(j - 1).transpose(-1, -2) @ w_prev.unsqueeze(-1)).squeeze(-1)
            w.append(r)
            w_prev = r
        lam = [None] * self.n_blocks
        lam_next = None
        for j in range(self.n_blocks - 1, -1, -1):  # L^T lam = w (block upper triangular)
            r = w[j] if lam_next is None else w[j] - self.lower[:, j + 1] * lam_next
            lam_next = (self.s_inv[:, j].transpose(-1, -2) @ r.unsqueeze(-1)).squeeze(-1)
            lam[j] = lam_next
        return torch.stack(lam, dim=1)


class _BlockTridiagonalSolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, lower, diag, upper, rhs):
        factors = BlockTridiagonal(lower, diag, upper)
        x = factors.solve(rhs)
        ctx.factors = factors
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad_x):
        (x,) = ctx.saved_tensors
        lam = ctx.factors.solve_transposed(grad_x)
        grad_lower = grad_diag = grad_upper = None
        if ctx.needs_input_grad[0]:
            grad_lower = torch.zeros_like(lam)
            grad_lower[:, 1:] = -lam[:, 1:] * x[:, :-1]
        if ctx.needs_input_grad[1]:
            grad_diag = -lam.unsqueeze(-1) * x.unsqueeze(-2)
        if ctx.needs_input_grad[2]:
            grad_upper = torch.zeros_like(lam)
            grad_upper[:, :-1] = -lam[:, :-1] * x[:, 1:]
        return grad_lower, grad_diag, grad_upper, lam


def block_tridiagonal_solve(lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor,
                            rhs: torch.Tensor) -> torch.Tensor:
    """Solve the block-tridiagonal system by block elimination; differentiable (adjoint backward).

    Shapes: ``lower``, ``upper``, ``rhs``: ``[batch, N, n]``; ``diag``: ``[batch, N, n, n]``.
    Returns ``x`` of shape ``[batch, N, n]``.
    """
    return _BlockTridiagonalSolve.apply(lower, diag, upper, rhs)


def to_dense(lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Assemble the dense ``[batch, N n, N n]`` matrix (block row j = rows ``j n .. j n + n - 1``)."""
    batch, n_blocks, n = lower.shape
    blocks = diag.new_zeros(batch, n_blocks, n, n_blocks, n)
    blocks.diagonal(dim1=1, dim2=3).copy_(diag.permute(0, 2, 3, 1))  # D_j on the block diagonal
    dense = blocks.reshape(batch, n_blocks * n, n_blocks * n)
    # l_j couples unknown (j-1) n + p to row j n + p: the sub-diagonal at offset -n (upper: +n)
    dense = dense + torch.diag_embed(lower[:, 1:].reshape(batch, -1), offset=-n)
    return dense + torch.diag_embed(upper[:, :-1].reshape(batch, -1), offset=n)


def dense_solve(lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor,
                rhs: torch.Tensor) -> torch.Tensor:
    """Reference solve: assemble the dense matrix and call ``torch.linalg.solve`` (autograd backward)."""
    batch, n_blocks, n = lower.shape
    x = torch.linalg.solve(to_dense(lower, diag, upper), rhs.reshape(batch, n_blocks * n, 1))
    return x.reshape(batch, n_blocks, n)
