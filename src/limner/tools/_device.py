"""Helpers shared by the real backends: device and dtype resolution, memory release, published scores.

Devices and dtypes come from configuration as strings (`"auto" | "cpu" | "cuda" | "cuda:N" | "mps"`,
`"auto" | "float32" | "float16" | "bfloat16"`), never from code, so one preset runs on a laptop, a GPU
box or a Mac. torch is imported lazily: importing this module costs nothing in a sandbox-only install.
"""

from __future__ import annotations

import gc
import json
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")

_DTYPES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
}


class DeviceError(ValueError):
    """The configured device or dtype is malformed or not present on this machine."""


def _torch() -> Any:
    """torch, imported on first use: it is optional (the diffusers extra) and takes seconds to import."""
    try:
        import torch  # noqa: PLC0415 - optional and heavy, see the docstring
    except ImportError:
        raise DeviceError(
            "real backends need torch; install the CPU wheel with `pip install torch==2.13.0` "
            "(or a CUDA build), then `pip install 'limner[diffusers]'`"
        ) from None
    return torch


def resolve_device(spec: str = "auto") -> str:
    """The concrete torch device string for a configured one.

    `auto` picks CUDA, then Apple MPS, then CPU. An explicit device that is not present is an error
    rather than a silent fall-back, so a GPU preset never crawls on the CPU unnoticed.
    """
    m = _DEVICE.match(spec.strip().lower())
    if not m:
        raise DeviceError(f"device {spec!r} is not one of auto | cpu | cuda | cuda:N | mps")
    kind, index = m.group(1), m.group(2)
    if kind in ("auto", "cpu", "mps") and index is not None:
        raise DeviceError(f"device {spec!r}: only cuda takes an index")
    torch = _torch()
    cuda_n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps_ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if kind == "auto":
        return "cuda" if cuda_n else ("mps" if mps_ok else "cpu")
    if kind == "cpu":
        return "cpu"
    if kind == "mps":
        if not mps_ok:
            raise DeviceError("device 'mps' was configured but torch reports no MPS device here")
        return "mps"
    if not cuda_n:
        raise DeviceError(f"device {spec!r} was configured but torch sees no CUDA device here")
    if index is not None and int(index) >= cuda_n:
        raise DeviceError(f"device {spec!r}: only {cuda_n} CUDA device(s) here (indices 0..{cuda_n - 1})")
    return f"cuda:{index}" if index is not None else "cuda"


def resolve_dtype(spec: str | None, device: str) -> torch.dtype:
    """The torch dtype for a configured one; `auto` (or None) means the fastest safe choice per device.

    auto: bfloat16 on CUDA that supports it, else float16 on CUDA/MPS, float32 on CPU (half precision
    on CPU is slow and some kernels lack it).
    """
    torch = _torch()
    name = (spec or "auto").strip().lower()
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device == "mps" else torch.float32
    if name not in _DTYPES:
        raise DeviceError(f"dtype {spec!r} is not one of auto | float32 | float16 | bfloat16")
    return getattr(torch, _DTYPES[name])


def release_memory(device: str | None = None) -> None:
    """Collect garbage and hand cached accelerator memory back to the driver."""
    gc.collect()
    try:
        import torch  # noqa: PLC0415 - optional and heavy: without it there is no accelerator cache
    except ImportError:
        return
    if torch.cuda.is_available() and (device is None or device.startswith("cuda")):
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if device == "mps" and mps is not None and hasattr(mps, "empty_cache"):
        mps.empty_cache()


def describe_device(spec: str = "auto") -> dict[str, Any]:
    """What `spec` resolves to here, for `limner tools list` (never raises: errors become text)."""
    try:
        device = resolve_device(spec)
    except DeviceError as e:
        return {"configured": spec, "device": None, "error": str(e)}
    info: dict[str, Any] = {"configured": spec, "device": device}
    if device.startswith("cuda"):
        torch = _torch()
        idx = torch.device(device).index or 0
        info["name"] = torch.cuda.get_device_name(idx)
        info["memory_gb"] = round(torch.cuda.get_device_properties(idx).total_memory / 2**30, 1)
    return info


# ----------------------------------------------------------------------------------------------------
# Published scores (priors for the performance matrix)
# ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def load_published_scores() -> dict[str, Any]:
    """The shipped `resources/real_tool_scores.json`: published benchmark rows per real model, with sources."""
    text = (resources.files("limner.resources") / "real_tool_scores.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def find_published_model(model: str) -> str | None:
    """The key in real_tool_scores.json for a model id, local path or key; None when nothing matches.

    Matching is exact on the key or on one of its listed hub ids (case-insensitive), or on the last path
    component of a local copy named like the hub repo, so a fine-tuned checkpoint never inherits scores
    by a loose substring match.
    """
    models = load_published_scores()["models"]
    wanted = model.strip().rstrip("/").lower()
    tail = wanted.rsplit("/", 1)[-1]
    for key, entry in models.items():
        ids = [i.lower() for i in entry.get("model_ids", [])]
        if wanted == key.lower() or wanted in ids or tail in {i.rsplit("/", 1)[-1] for i in ids}:
            return str(key)
    return None


#: Which kind of tool each benchmark measures: a generator's T2I scores say nothing about the same
#: weights used as an inpainter, and an editor's ImgEdit scores nothing about its text-to-image.
BENCHMARK_KIND: dict[str, str] = {"t2i_compbench": "generate", "geneval": "generate", "imgedit": "edit", "gedit": "edit"}


def published_dim_scores(key: str, kind: str | None = None) -> dict[str, dict[str, Any]]:
    """Preferred published scores of a model mapped onto limner dimensions.

    `kind` (a ToolKind) keeps only the benchmarks that measure that kind of tool.

    Returns `{benchmark: {"scale": [lo, hi], "dims": {dim: value}, "source": ..., "evidence": ...}}`,
    one entry per benchmark that has a preferred row. Values are copied as printed, not normalised:
    scales differ per benchmark (0–1, 1–5, 0–10), so normalise per benchmark before mixing.
    """
    data = load_published_scores()
    entry = data["models"][key]
    out: dict[str, dict[str, Any]] = {}
    for row in entry["rows"]:
        if not row.get("preferred") or (kind is not None and BENCHMARK_KIND.get(row["benchmark"]) != kind):
            continue
        mapping = data["dimension_map"].get(row["benchmark"], {})
        dims = {mapping[c]: v for c, v in row["values"].items() if c in mapping}
        out[row["benchmark"]] = {
            "scale": row["scale"],
            "dims": dims,
            "overall": row["values"].get("overall"),
            "benchmark_version": row.get("benchmark_version"),
            "source": row["source"],
            "evidence": row["evidence"],
        }
    return out
