"""binn_lite's heavy functions run on one torch thread by default (binn_lite.threads) and restore the
caller's setting afterwards, also after an error; num_threads=None leaves torch's setting alone."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import binn_lite.projection as projection
from binn_lite.binn import BINN
from binn_lite.clm5 import CLM5
from binn_lite.data import make_synthetic
from binn_lite.heads import MLPHead
from binn_lite.mcmc import per_site_mcmc
from binn_lite.threads import DEFAULT_THREADS, torch_threads
from binn_lite.uncertainty import mc_dropout


class RecordingCLM5(CLM5):
    """CLM5 that notes torch's thread count at every call."""

    seen: list[int] = []

    def forward(self, params, forcing):
        RecordingCLM5.seen.append(torch.get_num_threads())
        return super().forward(params, forcing)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(12, seed=1)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    RecordingCLM5.seen = []
    yield
    assert torch.get_num_threads() == 2  # restored by the function under test
    torch.set_num_threads(before)


def recording_binn(data) -> BINN:
    binn = BINN(MLPHead(10, 4, hidden=(8,), dropout=0.1, seed=0), RecordingCLM5(), learn="most_influential")
    binn.normalizer = data.fit_normalizer()
    return binn


CALLS = {
    "predict_dataset": lambda data, **kw: recording_binn(data).predict_dataset(data, **kw),
    "per_site_mcmc": lambda data, **kw: per_site_mcmc(data, [0, 1], process_model=RecordingCLM5(), n_burn=5,
                                                      n_sample=5, **kw),
    "mc_dropout": lambda data, **kw: mc_dropout(recording_binn(data), data, n_samples=2, **kw),
    "project": lambda data, **kw: projection.project(data.truth.params, data.forcing,
                                                     projection.Scenario(years=2), **kw),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_one_thread_inside_the_callers_setting_after(name, data, two_threads, monkeypatch):
    blocks = projection.system_blocks  # project assembles CLM5's blocks itself

    def recording_blocks(*args, **kwargs):
        RecordingCLM5.seen.append(torch.get_num_threads())
        return blocks(*args, **kwargs)

    monkeypatch.setattr(projection, "system_blocks", recording_blocks)
    CALLS[name](data)
    assert RecordingCLM5.seen and set(RecordingCLM5.seen) == {DEFAULT_THREADS} == {1}
    RecordingCLM5.seen = []
    CALLS[name](data, num_threads=None)  # torch's own setting
    assert set(RecordingCLM5.seen) == {2}


def test_the_setting_comes_back_after_an_error(two_threads):
    with pytest.raises(ValueError, match="boom"):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise ValueError("boom")


@pytest.mark.parametrize("whole", [np.int64(1), 1.0])
def test_a_numpy_integer_or_whole_float_is_a_thread_count(two_threads, whole):
    with torch_threads(whole):
        assert torch.get_num_threads() == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, float("nan"), float("inf"), "2", True])
def test_a_bad_thread_count_is_named(bad):
    with pytest.raises(ValueError, match="num_threads must be a whole number >= 1 or None"):
        with torch_threads(bad):
            pass
