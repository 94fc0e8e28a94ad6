"""The block-tridiagonal solver against dense linear algebra."""
import pytest
import torch

from binn_lite.blocksolve import BlockTridiagonal, block_tridiagonal_solve, dense_solve, to_dense


def random_m_matrix_system(batch=3, n_blocks=6, n=4, seed=0, dtype=torch.float64):
    """Diagonally dominant M-matrix blocks, like the CLM5 steady-state system."""
    g = torch.Generator().manual_seed(seed)
    lower = -torch.rand(batch, n_blocks, n, generator=g, dtype=dtype)
    upper = -torch.rand(batch, n_blocks, n, generator=g, dtype=dtype)
    off = -0.2 * torch.rand(batch, n_blocks, n, n, generator=g, dtype=dtype)
    diag = off + torch.diag_embed(2.5 + torch.rand(batch, n_blocks, n, generator=g, dtype=dtype))
    rhs = torch.randn(batch, n_blocks, n, generator=g, dtype=dtype)
    return lower, diag, upper, rhs


def test_to_dense_places_the_blocks():
    lower, diag, upper, _ = random_m_matrix_system(batch=1, n_blocks=3, n=2)
    dense = to_dense(lower, diag, upper)[0]
    assert torch.equal(dense[2:4, 2:4], diag[0, 1])
    assert dense[2, 0] == lower[0, 1, 0] and dense[3, 1] == lower[0, 1, 1] and dense[2, 1] == 0
    assert dense[0, 2] == upper[0, 0, 0] and dense[3, 5] == upper[0, 1, 1] and dense[0, 4] == 0


def test_solve_and_transposed_solve_match_dense():
    lower, diag, upper, rhs = random_m_matrix_system()
    dense = to_dense(lower, diag, upper)
    factors = BlockTridiagonal(lower, diag, upper)
    x = factors.solve(rhs).reshape(3, -1, 1)
    lam = factors.solve_transposed(rhs).reshape(3, -1, 1)
    b = rhs.reshape(3, -1, 1)
    torch.testing.assert_close(dense @ x, b, rtol=0, atol=1e-13)
    torch.testing.assert_close(dense.transpose(1, 2) @ lam, b, rtol=0, atol=1e-13)


def test_values_and_gradients_match_dense_solve():
    inputs = [t.requires_grad_(True) for t in random_m_matrix_system()]
    weights = torch.randn(3, 6, 4, dtype=torch.float64)
    results = []
    for solve in (block_tridiagonal_solve, dense_solve):
        x = solve(*inputs)
        results.append((x.detach(), torch.autograd.grad((x * weights).sum(), inputs)))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-14)
    for a, b in zip(results[0][1], results[1][1]):
        # lower[:, 0] and upper[:, -1] are outside the matrix: the block solver gives them zero gradient
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


def test_gradcheck():
    inputs = [t[:1, :4, :3, ...].clone() for t in random_m_matrix_system()]
    inputs[1] = inputs[1][..., :3]
    inputs = [t.requires_grad_(True) for t in inputs]
    assert torch.autograd.gradcheck(block_tridiagonal_solve, inputs)


def test_shape_mismatch_is_reported():
    lower, diag, upper, _ = random_m_matrix_system()
    with pytest.raises(ValueError, match="block shapes do not match"):
        BlockTridiagonal(lower, diag[:, :-1], upper)
