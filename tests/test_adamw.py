"""binn_lite.adamw.AdamW takes the same steps as torch.optim.AdamW(foreach=True), bit for bit; its
state saves and loads (also torch's); and fit trains without importing torch._dynamo."""
from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest
import torch

from binn_lite.adamw import AdamW
from binn_lite.errors import BinnInputError


def tensors(dtype: torch.dtype, seed: int = 0) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=dtype))
            for shape in [(5, 3), (3,), (4, 2), (2,)]]


def groups(params: list[torch.nn.Parameter]) -> list[dict]:
    """Two groups as fit builds them: the head with weight decay, globals with none and their own lr."""
    return [{"params": params[:3], "weight_decay": 0.05}, {"params": params[3:], "weight_decay": 0.0, "lr": 0.2}]


def take_steps(optimiser, params: list[torch.nn.Parameter], steps: range) -> None:
    """Steps with gradients of a fixed quadratic; tensor 1 has no gradient at every third step."""
    for step in steps:
        for p in params:
            p.grad = None
        loss = sum(((k + 1) * p ** 2).sum() + p.sum() for k, p in enumerate(params) if not (k == 1 and step % 3 == 0))
        loss.backward()
        optimiser.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_steps_as_torch_bit_for_bit(dtype):
    ours, theirs = tensors(dtype), tensors(dtype)
    take_steps(AdamW(groups(ours), lr=3e-3), ours, range(30))
    take_steps(torch.optim.AdamW(groups(theirs), lr=3e-3, foreach=True), theirs, range(30))
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    assert not torch.equal(ours[0], tensors(dtype)[0])  # and they did move


def test_step_counter_dtype_follows_the_default_dtype_as_torchs(float64_by_default):
    ours, theirs = tensors(torch.float64), tensors(torch.float64)
    own, torch_optimiser = AdamW(groups(ours), lr=3e-3), torch.optim.AdamW(groups(theirs), lr=3e-3, foreach=True)
    take_steps(own, ours, range(2))
    take_steps(torch_optimiser, theirs, range(2))
    assert own.state_dict()["state"][0]["step"].dtype == torch_optimiser.state_dict()["state"][0]["step"].dtype
    assert own.state_dict()["state"][0]["step"].dtype == torch.float64


def test_state_dict_resumes_exactly():
    straight, resumed = tensors(torch.float64), tensors(torch.float64)
    take_steps(AdamW(groups(straight), lr=1e-2), straight, range(20))

    first = AdamW(groups(resumed), lr=1e-2)
    take_steps(first, resumed, range(10))
    saved = first.state_dict()
    assert sorted(saved["state"]) == [0, 1, 2, 3] and [g["params"] for g in saved["param_groups"]] == [[0, 1, 2], [3]]
    assert float(saved["state"][0]["step"]) == 10 and float(saved["state"][1]["step"]) == 6  # no gradient at 0, 3, 6, 9
    second = AdamW(groups(resumed), lr=999.0)  # the saved lr wins
    second.load_state_dict(saved)
    take_steps(second, resumed, range(10, 20))
    for a, b in zip(straight, resumed):
        assert torch.equal(a, b)


def test_loads_torchs_state_and_torch_loads_ours():
    ours, theirs = tensors(torch.float32), tensors(torch.float32)
    torch_optimiser = torch.optim.AdamW(groups(theirs), lr=3e-3, foreach=True)
    take_steps(torch_optimiser, theirs, range(7))
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            a.copy_(b)
    own = AdamW(groups(ours), lr=3e-3)
    own.load_state_dict(torch_optimiser.state_dict())
    take_steps(own, ours, range(7, 15))
    take_steps(torch_optimiser, theirs, range(7, 15))
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)

    # and back: torch continues from ours as we do (a deep copy, as a checkpoint file would give:
    # torch's load_state_dict keeps tensors that already have the right dtype and device)
    again = torch.optim.AdamW(groups(theirs), lr=3e-3, foreach=True)
    again.load_state_dict(copy.deepcopy(own.state_dict()))
    assert again.param_groups[0]["foreach"] is True and float(again.state_dict()["state"][0]["step"]) == 15
    take_steps(again, theirs, range(15, 22))
    take_steps(own, ours, range(15, 22))
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)


def test_a_tensor_in_two_groups_is_refused():
    params = tensors(torch.float32)
    with pytest.raises(BinnInputError, match="more than once"):
        AdamW([{"params": params[:2]}, {"params": params[1:]}], lr=3e-3)


def test_wrong_state_is_refused():
    optimiser = AdamW(groups(tensors(torch.float32)), lr=3e-3)
    other = AdamW([{"params": tensors(torch.float32)}], lr=3e-3)
    with pytest.raises(BinnInputError, match=r"groups of \[4\] tensors; this one has \[3, 1\]"):
        optimiser.load_state_dict(other.state_dict())


def test_fit_does_not_import_torch_dynamo():
    """torch.optim's optimisers import torch._dynamo (~1 s); fit with AdamW must not."""
    script = textwrap.dedent("""
        import sys
        from binn_lite.binn import BINN
        from binn_lite.clm5 import CLM5
        from binn_lite.data import make_synthetic
        from binn_lite.heads import MLPHead
        from binn_lite.train import fit
        data = make_synthetic(12, seed=1)
        binn = BINN(MLPHead(len(data.feature_names), 2, hidden=(8,)), CLM5(), learn=["efolding", "tau_s3"])
        result = fit(binn, data, epochs=2, batch_size=4, progress=False)
        assert len(result.history) == 2
        print("torch._dynamo" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
