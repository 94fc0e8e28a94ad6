"""The block-tridiagonal solver against dense linear algebra."""
import pytest
import torch

from binn_lite.blocksolve import BlockTridiagonal, Stage, block_tridiagonal_solve, dense_solve, staged_solve, to_dense
from binn_lite.errors import BinnInputError


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


def test_diagonal_blocks_are_independent_tridiagonal_systems():
    lower, diag, upper, rhs = random_m_matrix_system()
    diagonal = torch.diagonal(diag, dim1=-2, dim2=-1).clone()
    inputs = [t.clone().requires_grad_(True) for t in (lower, diagonal, upper, rhs)]
    x = block_tridiagonal_solve(*inputs)
    reference = [t.clone().requires_grad_(True) for t in (lower, diagonal, upper, rhs)]
    x_dense = dense_solve(reference[0], torch.diag_embed(reference[1]), reference[2], reference[3])
    torch.testing.assert_close(x, x_dense, rtol=1e-12, atol=1e-14)
    weights = torch.randn_like(x)
    grads = torch.autograd.grad((x * weights).sum(), inputs)
    grads_dense = torch.autograd.grad((x_dense * weights).sum(), reference)
    for a, b in zip(grads, grads_dense):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


def random_compartment_system(batch=2, n_layers=5, seed=0):
    """Three stages: a compartment that does not mix, two that mix without exchange, three that
    mix and exchange; material flows only to later stages (A block lower triangular)."""
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    stages = (Stage(slice(0, 1), False, False), Stage(slice(1, 3), True, False), Stage(slice(3, 6), True, True))
    allowed = torch.zeros(6, 6, dtype=torch.bool)
    allowed[1:, 0] = True  # from the first stage to all later ones
    allowed[3:, 1:3] = True
    allowed[3:, 3:] = True
    transfer = torch.where(allowed, 0.15 * rand(batch, 6, 6), torch.zeros(batch, 6, 6, dtype=torch.float64))
    transfer.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
    g_mix = rand(batch, n_layers - 1)
    zero = torch.zeros(batch, 1, dtype=torch.float64)
    sub, sup = -torch.cat([zero, g_mix], dim=1), -torch.cat([g_mix, zero], dim=1)
    main = -(sub + sup)
    return (sub, main, sup, 0.1 + rand(batch, n_layers, 6), transfer, rand(batch, n_layers, 6)), stages


def compartment_dense(sub, main, sup, rates, transfer, inputs, stages):
    """The same system through the 7 x 7-style blocks and the dense solve (autograd backward)."""
    mobile = torch.cat([torch.full((s.compartments.stop - s.compartments.start,), float(s.mixing),
                                   dtype=torch.float64) for s in stages])
    diag = torch.diag_embed(main[:, :, None] * mobile) - transfer[:, None] * rates[:, :, None, :]
    return dense_solve(sub[:, :, None] * mobile, diag, sup[:, :, None] * mobile, inputs)


def test_staged_solve_matches_the_dense_solve_values_and_gradients():
    system, stages = random_compartment_system()
    inputs = [t.clone().requires_grad_(True) for t in system]
    reference = [t.clone().requires_grad_(True) for t in system]
    x = staged_solve(*inputs, stages)
    x_dense = compartment_dense(*reference, stages)
    torch.testing.assert_close(x, x_dense, rtol=1e-12, atol=1e-14)
    weights = torch.randn_like(x)
    grads = torch.autograd.grad((x * weights).sum(), inputs)
    grads_dense = torch.autograd.grad((x_dense * weights).sum(), reference)
    for name, a, b in zip(("sub", "main", "sup", "rates", "transfer", "inputs"), grads, grads_dense):
        if name == "sub":  # sub[:, 0] and sup[:, -1] lie outside the matrix: zero gradient
            a, b = a[:, 1:], b[:, 1:]
        if name == "sup":
            a, b = a[:, :-1], b[:, :-1]
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13, msg=name)


def test_staged_solve_gradcheck():
    (sub, main, sup, rates, transfer, inputs), stages = random_compartment_system(batch=1, n_layers=3, seed=1)
    pattern = transfer != 0  # entries outside the pattern are ignored by the staged solve

    def solve(sub_inner, main, sup_inner, rates, transfer, inputs):
        zero = torch.zeros_like(main[:, :1])
        full_transfer = torch.where(pattern, transfer, torch.zeros_like(transfer))
        return staged_solve(torch.cat([zero, sub_inner], 1), main, torch.cat([sup_inner, zero], 1), rates,
                            full_transfer, inputs, stages)

    variables = [t.clone().requires_grad_(True) for t in (sub[:, 1:], main, sup[:, :-1], rates, transfer, inputs)]
    assert torch.autograd.gradcheck(solve, variables)


def test_staged_solve_takes_a_shared_transfer_matrix_and_mixed_dtypes():
    """``transfer`` and ``inputs`` of batch 1 serve every site; a float32 input is promoted, not the rest rounded."""
    (sub, main, sup, rates, transfer, inputs), stages = random_compartment_system()
    shared = transfer[:1]
    expected = staged_solve(sub, main, sup, rates, shared.expand_as(transfer), inputs, stages)
    torch.testing.assert_close(staged_solve(sub, main, sup, rates, shared, inputs, stages), expected, rtol=0, atol=0)
    x = staged_solve(sub, main, sup, rates, transfer.float(), inputs, stages)
    assert x.dtype == torch.float64
    torch.testing.assert_close(x, staged_solve(sub, main, sup, rates, transfer.float().double(), inputs, stages),
                               rtol=0, atol=0)


@pytest.mark.parametrize("cover", [[slice(0, 2)], [slice(0, 2), slice(1, 4)], [slice(2, 4), slice(0, 2)]],
                         ids=["missing", "overlapping", "out of order"])
def test_staged_solve_refuses_stages_that_do_not_cover_the_compartments(cover):
    system, stages = random_compartment_system()
    n = system[3].shape[-1]
    bad = [Stage(slice(c.start, min(c.stop, n)), mixing=True, exchange=True) for c in cover]
    with pytest.raises(BinnInputError, match="cover"):
        staged_solve(*system, bad)
