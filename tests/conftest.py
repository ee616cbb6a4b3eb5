"""Shared pytest setup: deterministic, CPU-only, small thread count (CI has 2 cores)."""

import pytest
import torch


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def has_cuda() -> bool:
    return torch.cuda.is_available()


gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA")
