"""``trainer.device``: ``auto`` finds the best device present, a missing one is a one-line error, and
several processes on one machine get a GPU each or all use the CPU."""

from __future__ import annotations

import pytest
import torch

from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.training.devices import backend_for, resolve_device


def test_auto_is_the_default_and_finds_what_is_here() -> None:
    assert load_config().trainer.device == "auto"
    expected = (
        "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert resolve_device("auto", 0, 1) == expected
    assert resolve_device("cpu", 0, 1) == "cpu"


def test_a_name_torch_cannot_parse_is_refused_when_the_config_loads() -> None:
    with pytest.raises(
        ConfigError, match=r"trainer.device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'"
    ):
        load_config(None, ["trainer.device=gpu"])
    assert load_config(None, ["trainer.device=cuda:1"]).trainer.device == "cuda:1"  # present or not: later


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_gpu_is_one_line_naming_the_alternatives() -> None:
    with pytest.raises(ValueError) as err:
        resolve_device("cuda", 0, 1)
    assert "torch sees no CUDA GPU" in str(err.value) and "trainer.device=auto or cpu" in str(err.value)
    assert "\n" not in str(err.value)


def test_several_processes_get_a_gpu_each_or_all_use_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FF_BACKEND", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto", 0, 1) == "cuda"
    assert resolve_device("auto", 1, 2) == "cpu"  # two processes, one GPU: both on the CPU
    with pytest.raises(ValueError, match="needs GPU 1"):
        resolve_device("cuda", 1, 2)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto", 1, 2) == "cuda:1" and resolve_device("cuda", 1, 2) == "cuda:1"
    with pytest.raises(ValueError, match="needs GPU 3"):
        resolve_device("cuda:3", 0, 1)
    assert backend_for("cuda:1") == "nccl" and backend_for("cpu") == "gloo"
