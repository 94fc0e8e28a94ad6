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
``(N n)^3`` factorisation. When every ``D_j`` is diagonal too (stored as a vector), the system
is ``n`` independent tridiagonal systems and the same recursion, with every product elementwise,
is the Thomas algorithm.

Gradients (adjoint method): for a loss ``L(x)`` with ``g = dL/dx``, solve ``M^T lam = g`` with the
*same* factors (``M^T = U^T L^T``), then ``dL/db = lam`` and ``dL/dM = -lam x^T`` restricted to the
non-zero pattern: ``dL/dD_j = -lam_j x_j^T``, ``dL/dl_j = -lam_j * x_{j-1}``,
``dL/du_j = -lam_j * x_{j+1}``. No autograd graph is built through the elimination loop.

Compartments that pass material on in one direction (:func:`staged_solve`): in CLM5, carbon
flows from CWD to litter to SOM and never back, so ordered by stage the 7 x 7 blocks are block
lower triangular and the system splits into one block-tridiagonal system per stage, each with what
earlier stages pass on as a source: tridiagonal for stages whose compartments exchange nothing,
3 x 3 blocks for the SOM pools. The adjoint solves the stages in reverse order with the same factors.

Numerical note: the blocks are inverted explicitly without pivoting across layers. That is safe for
the systems solved here, which are non-singular M-matrices (positive diagonal, non-positive
off-diagonal, weighted column diagonal dominance): their Schur complements ``S_j`` stay M-matrices,
and every inverse is entrywise non-negative.
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .errors import BinnInputError

__all__ = ["BlockTridiagonal", "block_tridiagonal_solve", "dense_solve", "to_dense", "Stage", "staged_solve"]


class BlockTridiagonal:
    """Block-tridiagonal factorisation of ``M`` (see the module docstring).

    Parameters
    ----------
    lower : ``[batch, N, n]`` diagonal coupling of block row j to x_{j-1} (``lower[:, 0]`` unused).
    diag : ``[batch, N, n, n]`` dense diagonal blocks, or ``[batch, N, n]`` diagonal ones (then the
        system is ``n`` independent tridiagonal systems and every operation is elementwise).
    upper : ``[batch, N, n]`` diagonal coupling of block row j to x_{j+1} (``upper[:, -1]`` unused).

    Stores ``S_j^{-1}`` and ``C_j = S_j^{-1} diag(u_j)`` for every block row: :meth:`solve` and
    :meth:`solve_transposed` reuse them. With dense blocks, vectors are handled as columns
    ``[batch, n, 1]`` inside the recursions, so that every step is one or two batched calls.
    """

    def __init__(self, lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor):
        batch, n_blocks, n = lower.shape
        self.dense = diag.ndim == 4
        expected = (batch, n_blocks, n, n) if self.dense else (batch, n_blocks, n)
        if diag.shape != expected or upper.shape != lower.shape:
            raise BinnInputError(
                f"block shapes do not match: lower {tuple(lower.shape)}, diag {tuple(diag.shape)}, "
                f"upper {tuple(upper.shape)}"
            )
        self.n_blocks = n_blocks
        # diag(l) X multiplies row k of a dense block X (or of a column vector) by l_k, X diag(u) its column k by u_k
        self.lower = (lower.unsqueeze(-1) if self.dense else lower).unbind(dim=1)
        columns = (upper.unsqueeze(-2) if self.dense else upper).unbind(dim=1)
        inverse = (lambda s: torch.linalg.inv_ex(s)[0]) if self.dense else torch.reciprocal
        self.s_inv, self.coupling = [], []
        for j, d in enumerate(diag.unbind(dim=1)):
            s = d if j == 0 else torch.addcmul(d, self.lower[j], self.coupling[-1], value=-1)  # D_j - diag(l_j) C_{j-1}
            self.s_inv.append(inverse(s))
            self.coupling.append(self.s_inv[-1] * columns[j])  # C_j = S_j^{-1} diag(u_j)

    def _columns(self, rhs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``rhs`` [batch, N, n] as one vector per block row (columns [batch, n, 1] for dense blocks)."""
        return (rhs.unsqueeze(-1) if self.dense else rhs).unbind(dim=1)

    def _stacked(self, vectors: list[torch.Tensor]) -> torch.Tensor:
        """One vector per block row (as :meth:`_columns` gives them) back to ``[batch, N, n]``."""
        x = torch.stack(vectors, dim=1)
        return x.squeeze(-1) if self.dense else x

    def _times(self, block: torch.Tensor, vector: torch.Tensor, transposed: bool = False) -> torch.Tensor:
        """``block @ vector`` (``block^T @ vector``): one batched product, elementwise for diagonal blocks."""
        if not self.dense:
            return block * vector
        return torch.bmm(block.mT if transposed else block, vector)

    def _minus_times(self, vector: torch.Tensor, block: torch.Tensor, other: torch.Tensor,
                     transposed: bool = False) -> torch.Tensor:
        """``vector - block @ other`` (``block^T``) in one call."""
        if not self.dense:
            return torch.addcmul(vector, block, other, value=-1)
        return torch.baddbmm(vector, block.mT if transposed else block, other, alpha=-1)

    def solve(self, rhs: torch.Tensor) -> torch.Tensor:
        """Solve ``M x = rhs`` for ``rhs`` of shape ``[batch, N, n]``."""
        b = self._columns(rhs)
        y = [self._times(self.s_inv[0], b[0])]  # L y = rhs: y_j = S_j^{-1} (b_j - l_j y_{j-1})
        for j in range(1, self.n_blocks):
            y.append(self._times(self.s_inv[j], torch.addcmul(b[j], self.lower[j], y[-1], value=-1)))
        x = [y[-1]]  # U x = y, from the bottom up: x_j = y_j - C_j x_{j+1}
        for j in range(self.n_blocks - 2, -1, -1):
            x.append(self._minus_times(y[j], self.coupling[j], x[-1]))
        return self._stacked(x[::-1])

    def solve_transposed(self, rhs: torch.Tensor) -> torch.Tensor:
        """Solve ``M^T lam = rhs`` with the same factors (the adjoint solve)."""
        g = self._columns(rhs)
        w = [g[0]]  # U^T w = rhs (unit block lower triangular): w_j = g_j - C_{j-1}^T w_{j-1}
        for j in range(1, self.n_blocks):
            w.append(self._minus_times(g[j], self.coupling[j - 1], w[-1], transposed=True))
        # L^T lam = w (block upper triangular): lam_j = S_j^{-T} (w_j - l_{j+1} lam_{j+1})
        lam = [self._times(self.s_inv[-1], w[-1], transposed=True)]
        for j in range(self.n_blocks - 2, -1, -1):
            r = torch.addcmul(w[j], self.lower[j + 1], lam[-1], value=-1)
            lam.append(self._times(self.s_inv[j], r, transposed=True))
        return self._stacked(lam[::-1])


class _BlockTridiagonalSolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, lower, diag, upper, rhs):
        factors = BlockTridiagonal(lower, diag, upper)
        x = factors.solve(rhs)
        ctx.factors = factors
        ctx.save_for_backward(x)
        return x

    @staticmethod
    @once_differentiable  # the adjoint reuses the forward factors as constants: no second derivatives
    def backward(ctx, grad_x):
        (x,) = ctx.saved_tensors
        lam = ctx.factors.solve_transposed(grad_x)
        grad_lower = grad_diag = grad_upper = None
        if ctx.needs_input_grad[0]:
            grad_lower = torch.zeros_like(lam)
            grad_lower[:, 1:] = -lam[:, 1:] * x[:, :-1]
        if ctx.needs_input_grad[1]:  # -lam_j x_j^T, or its diagonal for diagonal blocks
            grad_diag = -lam.unsqueeze(-1) * x.unsqueeze(-2) if ctx.factors.dense else -lam * x
        if ctx.needs_input_grad[2]:
            grad_upper = torch.zeros_like(lam)
            grad_upper[:, :-1] = -lam[:, :-1] * x[:, 1:]
        return grad_lower, grad_diag, grad_upper, lam


def block_tridiagonal_solve(lower: torch.Tensor, diag: torch.Tensor, upper: torch.Tensor,
                            rhs: torch.Tensor) -> torch.Tensor:
    """Solve the block-tridiagonal system by block elimination; differentiable (adjoint backward).

    Shapes: ``lower``, ``upper``, ``rhs``: ``[batch, N, n]``; ``diag``: ``[batch, N, n, n]`` (dense
    blocks) or ``[batch, N, n]`` (diagonal blocks: ``n`` independent tridiagonal systems, solved
    elementwise by the Thomas algorithm). Returns ``x`` of shape ``[batch, N, n]``.
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


# -------------------------------------------------------------------------------------------------
# Compartments that mix vertically and pass material on in one direction: stage by stage
# -------------------------------------------------------------------------------------------------
class Stage(NamedTuple):
    """Consecutive compartments solved together by :func:`staged_solve`.

    ``compartments``: a slice of the compartment axis; ``mixing``: whether they move vertically
    (all or none of them); ``exchange``: whether they pass material to each other (dense blocks).
    """

    compartments: slice
    mixing: bool
    exchange: bool


def _stage_system(stage: Stage, sub, main, sup, rates, transfer):
    """``(lower, diag, upper)`` of the stage's own block-tridiagonal system, or ``diag`` alone
    ``[batch, N, n]`` (a stage that neither mixes nor exchanges: ``x = b / diag``)."""
    c = stage.compartments
    own_rates = rates[:, :, c]
    if not stage.exchange:
        diag = -torch.diagonal(transfer, dim1=-2, dim2=-1)[:, None, c] * own_rates  # -A_pp r_p
        if not stage.mixing:
            return None, diag, None
        n = own_rates.shape[-1]
        return sub[:, :, None].expand(-1, -1, n), diag + main[:, :, None], sup[:, :, None].expand(-1, -1, n)
    diag = -transfer[:, None, c, c] * own_rates[:, :, None, :]  # -A_pq r_q, [batch, N, n, n]
    if not stage.mixing:
        return torch.zeros_like(own_rates), diag, torch.zeros_like(own_rates)
    diag.diagonal(dim1=-2, dim2=-1).add_(main[:, :, None])  # + V_jj on the diagonal
    n = own_rates.shape[-1]
    return sub[:, :, None].expand(-1, -1, n), diag, sup[:, :, None].expand(-1, -1, n)


class _StagedSolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sub, main, sup, rates, transfer, inputs, stages):
        x = torch.empty(inputs.shape, dtype=inputs.dtype, device=inputs.device)
        factors = []
        for stage in stages:
            c = stage.compartments
            rhs = inputs[:, :, c]
            start = c.indices(x.shape[-1])[0]
            if start > 0:  # material passed on by the compartments already solved: + sum_q A_cq r_q x_q
                earlier = slice(0, start)
                rhs = torch.baddbmm(rhs, rates[:, :, earlier] * x[:, :, earlier], transfer[:, c, earlier].mT)
            lower, diag, upper = _stage_system(stage, sub, main, sup, rates, transfer)
            if lower is None:
                factors.append(diag)
                x[:, :, c] = rhs / diag
            else:
                factors.append(BlockTridiagonal(lower, diag, upper))
                x[:, :, c] = factors[-1].solve(rhs)
        ctx.stages, ctx.factors = stages, factors
        ctx.save_for_backward(x, rates, transfer)
        return x

    @staticmethod
    @once_differentiable  # the adjoint reuses the forward factors as constants: no second derivatives
    def backward(ctx, grad_x):
        x, rates, transfer = ctx.saved_tensors
        lam = torch.empty_like(x)
        for stage, factors in zip(reversed(ctx.stages), reversed(ctx.factors)):  # M^T is block upper triangular
            c = stage.compartments
            rhs = grad_x[:, :, c]
            stop = c.indices(x.shape[-1])[1]
            if stop < x.shape[-1]:  # what the later compartments received from these: + r_q sum_p A_pq lam_p
                later = slice(stop, None)
                rhs = torch.addcmul(rhs, rates[:, :, c], torch.bmm(lam[:, :, later], transfer[:, later, c]))
            lam[:, :, c] = rhs / factors if isinstance(factors, torch.Tensor) else factors.solve_transposed(rhs)
        # dL/dM = -lam x^T on M's pattern; V (x) diag(m) carries -m_p lam_jp x_kp to V_jk
        mobile = torch.zeros(x.shape[-1], dtype=x.dtype, device=x.device)  # m_p
        for stage in ctx.stages:
            mobile[stage.compartments] = float(stage.mixing)
        minus_mixed = lam * -mobile  # -m_p lam_jp
        grad_sub = F.pad(torch.linalg.vecdot(minus_mixed[:, 1:], x[:, :-1]), (1, 0))  # -sum_p m_p lam_jp x_j-1,p
        grad_sup = F.pad(torch.linalg.vecdot(minus_mixed[:, :-1], x[:, 1:]), (0, 1))  # -sum_p m_p lam_jp x_j+1,p
        grad_main = torch.linalg.vecdot(minus_mixed, x)  # -sum_p m_p lam_jp x_jp
        grad_rates = x * torch.bmm(lam, transfer)  # x_jq sum_p lam_jp A_pq
        grad_transfer = torch.bmm(lam.mT, rates * x)  # sum_j lam_jp r_jq x_jq
        return grad_sub, grad_main, grad_sup, grad_rates, grad_transfer, lam, None


def staged_solve(sub: torch.Tensor, main: torch.Tensor, sup: torch.Tensor, rates: torch.Tensor,
                 transfer: torch.Tensor, inputs: torch.Tensor, stages: Sequence[Stage]) -> torch.Tensor:
    """Solve a vertically mixed compartment system stage by stage; differentiable (adjoint backward).

    The system, for compartment ``p`` in layer ``j`` of ``N`` (``m_p`` = 1 if ``p`` mixes, else 0)::

        m_p (sub_j x_{j-1,p} + main_j x_{j,p} + sup_j x_{j+1,p}) - sum_q A_pq r_{j,q} x_{j,q} = b_{j,p}

    i.e. ``(V (x) diag(m) - A R) x = b`` with ``V`` tridiagonal. When no compartment passes material
    to an earlier stage (``A_pq = 0`` for ``q`` in a later stage than ``p``; the caller
    guarantees it), the matrix is block lower triangular by stage: each stage solves its own
    system with what earlier stages pass on as a source, by block elimination with diagonal blocks
    (stages without exchange: one tridiagonal system per compartment) or dense ones. The adjoint
    runs the stages backwards with the same factors.

    Shapes: ``sub``, ``main``, ``sup`` ``[batch, N]`` (``sub[:, 0]``, ``sup[:, -1]`` unused);
    ``rates`` ``[batch, N, n]``; ``transfer`` ``A`` ``[batch, n, n]``; ``inputs`` ``b``
    ``[batch, N, n]``; ``stages`` cover ``0 .. n-1`` in order. ``transfer`` and ``inputs`` may have
    batch 1 (the same for every site); all are computed in their common dtype. Returns ``x``
    ``[batch, N, n]``.
    """
    stages, n = tuple(stages), rates.shape[-1]
    covered = [i for stage in stages for i in range(*stage.compartments.indices(n))]
    if covered != list(range(n)):
        raise BinnInputError(f"the stages must cover the {n} compartments once, in order; they cover {covered}")
    dtype = functools.reduce(torch.promote_types, [t.dtype for t in (sub, main, sup, rates, transfer, inputs)])
    batch = rates.shape[0]
    transfer = transfer.to(dtype).expand(batch, n, n)
    inputs = inputs.to(dtype).expand(batch, *inputs.shape[1:])
    return _StagedSolve.apply(sub.to(dtype), main.to(dtype), sup.to(dtype), rates.to(dtype), transfer, inputs,
                              stages)
