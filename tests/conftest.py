"""Shared fixtures. Tests run offline, single-threaded and in temporary directories."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LIMNER_* setting of the developer's shell may leak into a test."""
    for key in list(os.environ):
        if key.startswith("LIMNER_"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    try:  # torch is optional (the diffusers extra) and slow to import: only this fixture needs it
        import torch  # noqa: PLC0415

        torch.set_num_threads(1)
    except ImportError:
        pass
