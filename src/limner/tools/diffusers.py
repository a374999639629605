"""Real diffusion tools: text-to-image, instruction editing and inpainting through 🤗 diffusers.

One tool class per task (`text2image`, `edit`, `inpaint`), each configured by data: a hub id or local
path, device, dtype, scheduler, steps, guidance, LoRA adapters (limner's APO output included), and
offloading. The pipeline class is resolved from the model itself, so the same tool type serves
SD 1.x/2.x, SDXL, SD3/3.5, FLUX, InstructPix2Pix, FLUX Kontext, Qwen-Image-Edit, SD/SDXL inpaint and
FLUX Fill; call arguments a pipeline does not take are dropped, not guessed.

Why a process-wide pipeline cache with room for ONE pipeline by default: real pipelines take 2–30 GB,
and the agent routes between several of them. Loading tool B evicts tool A's pipeline first (before B
loads, so peak memory is one pipeline); `keep_loaded: true` pins a pipeline outside that budget and
`set_pipeline_cache_size(n)` raises the budget when memory allows. Tools that configure the same model
the same way share one pipeline.

Seeds: every call draws its noise from a fresh CPU `torch.Generator` seeded with `call.seed`, so a seed
gives the same image on every run and (up to kernel numerics) on every device.

Importing this module is cheap: torch and diffusers load on first use. The module is named like the
package it wraps, so the package is always imported absolutely (`import diffusers`).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from limner.tools._device import (
    find_published_model,
    published_dim_scores,
    release_memory,
    resolve_device,
    resolve_dtype,
)
from limner.tools.base import Readiness, Tool, ToolError, parse_options, probe_url
from limner.types import EDIT_DIMS, GEN_DIMS, ToolCall, ToolResult

__all__ = [
    "TOOL_TYPES",
    "DiffusersEditor",
    "DiffusersInpainter",
    "DiffusersOptions",
    "DiffusersText2Image",
    "LoraSpec",
    "PipelineCache",
    "pipeline_cache",
    "set_pipeline_cache_size",
]

log = logging.getLogger(__name__)

Task = Literal["text2image", "edit", "inpaint"]

# ----------------------------------------------------------------------------------------------------
# Options
# ----------------------------------------------------------------------------------------------------


class LoraSpec(BaseModel):
    """One LoRA adapter: a diffusers-format directory or file (limner's APO output dir is one)."""

    model_config = ConfigDict(extra="forbid")

    path: str
    weight_name: str | None = Field(default=None, description="file inside `path`, when it holds several")
    adapter_name: str | None = None
    scale: float = 1.0


class DiffusersOptions(BaseModel):
    """Everything a diffusers tool takes from `tools[].options`. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="hub id (org/name) or local directory")
    pipeline: str | None = Field(
        default=None, description="diffusers pipeline class name; default: resolved from the model and task"
    )
    device: str = "auto"
    dtype: str = "auto"
    variant: str | None = Field(default=None, description="weights variant, e.g. 'fp16'")
    revision: str | None = None
    local_files_only: bool = False
    scheduler: str | None = Field(default=None, description="scheduler class name, e.g. 'EulerDiscreteScheduler'")
    scheduler_options: dict[str, Any] = Field(default_factory=dict)
    steps: int | None = Field(default=None, ge=1, le=1000)
    guidance: float | None = Field(default=None, ge=0)
    negative_prompt: str | None = None
    loras: list[LoraSpec] = Field(default_factory=list)
    skip_components: list[str] = Field(
        default_factory=list, description="components loaded as None, e.g. ['text_encoder_3', 'tokenizer_3'] for SD3 without T5"
    )
    offload: Literal["none", "model", "sequential"] = Field(
        default="none", description="model: enable_model_cpu_offload; sequential: enable_sequential_cpu_offload"
    )
    attention_slicing: bool = False
    vae_tiling: bool = False
    safety_checker: bool = Field(default=True, description="keep a pipeline's safety checker when it has one")
    keep_loaded: bool = Field(default=False, description="pin this pipeline outside the LRU budget")
    size_multiple: int = Field(default=16, ge=1, description="width/height are rounded to this for the model")
    call_kwargs: dict[str, Any] = Field(default_factory=dict, description="extra pipeline call arguments")
    published_as: str | None = Field(
        default=None, description="key in real_tool_scores.json; default: matched from `model`"
    )

    @field_validator("loras", mode="before")
    @classmethod
    def _paths_as_specs(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"path": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("pipeline", "scheduler")
    @classmethod
    def _class_name(cls, v: str | None) -> str | None:
        if v is not None and not v.isidentifier():
            raise ValueError(f"{v!r} is not a class name")
        return v


# ----------------------------------------------------------------------------------------------------
# The pipeline cache
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    pipe: Any
    device: str
    pinned: bool


class PipelineCache:
    """Loaded pipelines by configuration key, least recently used evicted first.

    `capacity` counts unpinned pipelines. A load evicts *before* it loads, so at most `capacity`
    unpinned pipelines are ever resident. Loads are serialised (two tools asking for the same pipeline
    load it once).

    Not `functools.lru_cache`: that one evicts *after* computing the new value (so two multi-GB
    pipelines would be resident at the peak), cannot pin an entry, evict one key or be resized, and
    would not hand accelerator memory back (`release_memory`) when it drops a pipeline.
    """

    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"pipeline cache capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.RLock()
        self.loads = 0

    def get(self, key: str, loader: Callable[[], Any], *, device: str, pinned: bool = False) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry.pipe
            if not pinned:
                self._shrink(self.capacity - 1)
            pipe = loader()
            self.loads += 1
            self._entries[key] = _Entry(pipe, device, pinned)
            return pipe

    def _shrink(self, keep: int) -> None:
        unpinned = [k for k, e in self._entries.items() if not e.pinned]
        for key in unpinned[: max(0, len(unpinned) - keep)]:
            self.evict(key)

    def evict(self, key: str) -> bool:
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is None:
            return False
        device = entry.device
        del entry
        release_memory(device)
        return True

    def clear(self) -> None:
        with self._lock:
            for key in list(self._entries):
                self.evict(key)

    def resize(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"pipeline cache capacity must be >= 1, got {capacity}")
        with self._lock:
            self.capacity = capacity
            self._shrink(capacity)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._entries)


_CACHE = PipelineCache()


def pipeline_cache() -> PipelineCache:
    """The process-wide cache every diffusers tool loads through."""
    return _CACHE


def set_pipeline_cache_size(n: int) -> None:
    """How many unpinned pipelines may stay resident at once (default 1)."""
    _CACHE.resize(n)


# ----------------------------------------------------------------------------------------------------
# Tools
# ----------------------------------------------------------------------------------------------------

#: Call arguments limner sets itself; `call.params` may not override them.
_RESERVED = frozenset(
    {"prompt", "image", "mask_image", "generator", "output_type", "return_dict", "latents", "width", "height", "max_area",
     "num_images_per_prompt", "callback_on_step_end", "prompt_embeds", "pooled_prompt_embeds"}
)
#: Arguments limner sends whenever a pipeline names them; not reported as ignored when it does not.
_OWN_ARGS = frozenset({"prompt", "width", "height", "max_area", "image", "mask_image"})
_PARAM_ALIASES = {"steps": "num_inference_steps", "guidance": "guidance_scale"}


def _import_diffusers() -> tuple[Any, Any]:
    """diffusers and torch, imported on first use: they are the optional `diffusers` extra and take
    seconds to import, and a sandbox-only install must be able to read a config that names these tools."""
    try:
        import diffusers  # noqa: PLC0415 - optional and heavy, see the docstring
        import torch  # noqa: PLC0415 - optional and heavy, see the docstring
    except ImportError as e:
        raise ToolError(
            f"the diffusers backend needs {e.name!r}: pip install torch==2.13.0 'limner[diffusers]'"
        ) from None
    return diffusers, torch


class _DiffusersTool(Tool):
    """Shared machinery: option parsing, pipeline loading through the cache, seeded calls."""

    backend: ClassVar[str] = "diffusers"
    task: ClassVar[Task]

    def __init__(
        self,
        name: str,
        *,
        description: str = "",
        dims: list[str] | None = None,
        cost: float = 1.0,
        device: str = "auto",
        **options: Any,
    ) -> None:
        super().__init__(name, description=description, dims=dims, cost=cost, **options)
        self.opts = parse_options(DiffusersOptions, name, {"device": device, **options}, "diffusers")

    # -- identity -----------------------------------------------------------------------------------

    @property
    def cache_key(self) -> str:
        """Configurations that would build the same pipeline share a key (and so one loaded copy)."""
        o = self.opts
        return json.dumps(
            [self.task, o.pipeline, o.model, o.variant, o.revision, o.dtype, o.device, o.offload, o.scheduler,
             o.scheduler_options, [lo.model_dump() for lo in o.loras], o.skip_components, o.safety_checker, o.attention_slicing,
             o.vae_tiling],
            sort_keys=True, default=str,
        )

    @property
    def published_scores(self) -> dict[str, dict[str, Any]]:
        """Preferred published benchmark scores of this model (see resources/real_tool_scores.json)."""
        key = self.opts.published_as or find_published_model(self.opts.model)
        return published_dim_scores(key, self.kind) if key else {}

    @property
    def device_spec(self) -> str:
        return self.opts.device

    def unavailable_reason(self) -> str | None:
        """Why this tool cannot load here (missing package, device, local model), or None. Loads nothing."""
        missing = [m for m in ("torch", "diffusers", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            return f"missing packages {missing}: pip install torch==2.13.0 'limner[diffusers]'"
        try:
            resolve_device(self.opts.device)
        except ValueError as e:
            return str(e)
        model = Path(self.opts.model).expanduser()
        if (model.is_absolute() or self.opts.model.startswith(".")) and not model.exists():
            return f"model path not found: {model}"
        return None

    def readiness(self, timeout_s: float = 2.0) -> Readiness:
        """`unavailable_reason`, then where the weights are: a local directory, the Hugging Face cache, or
        nowhere here — then they must be downloadable (downloads allowed and the Hub answering within
        `timeout_s`), else the tool cannot run. Never downloads: a run without weights and without a
        network fails before its first round instead of retrying the download every round."""
        reason = self.unavailable_reason()
        if reason is not None:
            return Readiness(reason=reason)
        local = self._local_weights()
        if local is not None:
            return Readiness(weights=local)
        return self._download_readiness(timeout_s)

    def _local_weights(self) -> str | None:
        """Where this tool's model is on this machine (a directory, or the Hub cache's copy), or None."""
        model = Path(self.opts.model).expanduser()
        if model.is_dir():
            return f"local directory {model}"
        from huggingface_hub import try_to_load_from_cache  # noqa: PLC0415 - optional: comes with the diffusers extra

        found = try_to_load_from_cache(self.opts.model, "model_index.json", revision=self.opts.revision)
        if isinstance(found, str):
            return f"in the Hugging Face cache ({Path(found).parent}; files are checked when loading)"
        return None

    def _download_readiness(self, timeout_s: float) -> Readiness:
        """A model that is not here: can it be downloaded now?"""
        from huggingface_hub import constants  # noqa: PLC0415 - optional: comes with the diffusers extra

        model = self.opts.model
        missing = f"the weights of {model!r} are not on this machine (nor in {constants.HF_HUB_CACHE})"
        fix = f"download them where there is a network (`hf download {model}`) or set options.model to a local copy"
        if self.opts.local_files_only or constants.HF_HUB_OFFLINE:
            why = "options.local_files_only" if self.opts.local_files_only else "HF_HUB_OFFLINE"
            return Readiness(reason=f"{missing} and downloads are off ({why}); {fix}", weights="not here")
        problem = probe_url(constants.ENDPOINT, timeout_s)
        if problem is not None:
            return Readiness(reason=f"{missing} and the Hub {constants.ENDPOINT} does not answer ({problem}); {fix}",
                             weights="not here", server=problem)
        return Readiness(weights=f"not here: downloads from {constants.ENDPOINT} on first use",
                         server=f"answers at {constants.ENDPOINT}")

    # -- lifecycle ----------------------------------------------------------------------------------

    def setup(self) -> None:
        self._pipeline()

    def unload(self) -> None:
        _CACHE.evict(self.cache_key)
        super().unload()

    def _pipeline(self) -> Any:
        """This tool's pipeline, loading it (and evicting others) when it is not resident."""
        device = resolve_device(self.opts.device)
        return _CACHE.get(self.cache_key, lambda: self._load(device), device=device, pinned=self.opts.keep_loaded)

    def _pipeline_class(self, diffusers: Any) -> Any:
        o = self.opts
        if o.pipeline:
            cls = getattr(diffusers, o.pipeline, None)
            if not isinstance(cls, type) or not (o.pipeline.endswith("Pipeline") or o.pipeline.startswith("AutoPipeline")):
                raise ToolError(f"tool {self.name!r}: diffusers has no pipeline class {o.pipeline!r}")
            return cls
        if self.task == "text2image":
            return diffusers.AutoPipelineForText2Image
        if self.task == "edit":
            return diffusers.DiffusionPipeline  # the model's own class: InstructPix2Pix, Kontext, Qwen-Image-Edit
        # Inpainting: a dedicated inpaint/fill checkpoint names its own class; a base model is mapped.
        try:
            index = diffusers.DiffusionPipeline.load_config(
                o.model, revision=o.revision, local_files_only=o.local_files_only
            )
        except (OSError, ValueError) as e:
            raise ToolError(f"tool {self.name!r}: cannot read {o.model!r}: {e}") from None
        own = str(index.get("_class_name", ""))
        if "Inpaint" in own or "Fill" in own:
            return getattr(diffusers, own)
        return diffusers.AutoPipelineForInpainting

    def _load(self, device: str) -> Any:
        diffusers, _ = _import_diffusers()
        o = self.opts
        dtype = resolve_dtype(o.dtype, device)
        cls = self._pipeline_class(diffusers)
        kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": o.local_files_only}
        kwargs.update({c: None for c in o.skip_components})
        if o.variant:
            kwargs["variant"] = o.variant
        if o.revision:
            kwargs["revision"] = o.revision
        if not o.safety_checker:
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        log.info("loading %s for tool %s (%s, %s, %s)", o.model, self.name, cls.__name__, device, dtype)
        try:
            pipe = cls.from_pretrained(o.model, **kwargs)
        except (OSError, ValueError) as e:
            raise ToolError(f"tool {self.name!r}: cannot load {o.model!r} with {cls.__name__}: {e}") from None
        if self.task != "text2image" and "image" not in inspect.signature(pipe.__call__).parameters:
            raise ToolError(f"tool {self.name!r}: {type(pipe).__name__} takes no input image; not an {self.task} model")
        if o.scheduler:
            sched_cls = getattr(diffusers, o.scheduler, None)
            if not (isinstance(sched_cls, type) and o.scheduler.endswith("Scheduler")):
                raise ToolError(f"tool {self.name!r}: diffusers has no scheduler {o.scheduler!r}")
            pipe.scheduler = sched_cls.from_config(pipe.scheduler.config, **o.scheduler_options)
        self._load_loras(pipe)
        if o.attention_slicing and hasattr(pipe, "enable_attention_slicing"):
            pipe.enable_attention_slicing()
        if o.vae_tiling and hasattr(pipe, "vae") and hasattr(pipe.vae, "enable_tiling"):
            pipe.vae.enable_tiling()
        if o.offload != "none" and device != "cpu":
            if o.offload == "model":
                pipe.enable_model_cpu_offload(device=device)
            else:
                pipe.enable_sequential_cpu_offload(device=device)
        else:
            if o.offload != "none":
                log.warning("tool %s: offload=%s ignored on the CPU", self.name, o.offload)
            pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def _load_loras(self, pipe: Any) -> None:
        if not self.opts.loras:
            return
        if not hasattr(pipe, "load_lora_weights"):
            raise ToolError(f"tool {self.name!r}: {type(pipe).__name__} does not take LoRA adapters")
        names, scales = [], []
        for i, lora in enumerate(self.opts.loras):
            name = lora.adapter_name or f"limner_{i}"
            kw = {"weight_name": lora.weight_name} if lora.weight_name else {}
            try:
                pipe.load_lora_weights(lora.path, adapter_name=name, **kw)
            except (OSError, ValueError) as e:
                raise ToolError(f"tool {self.name!r}: cannot load LoRA {lora.path!r}: {e}") from None
            names.append(name)
            scales.append(lora.scale)
        pipe.set_adapters(names, adapter_weights=scales)

    # -- calls --------------------------------------------------------------------------------------

    def _size(self, call: ToolCall) -> tuple[int, int]:
        """The call's size rounded up to the model's multiple (the result is resized back to the call's)."""
        m = self.opts.size_multiple
        return -(-call.width // m) * m, -(-call.height // m) * m

    def _call_kwargs(
        self, pipe: Any, call: ToolCall, image: Image.Image | None, mask: Image.Image | None
    ) -> tuple[dict[str, Any], list[str]]:
        """Arguments for this pipeline, and the names of requested ones it does not take."""
        o = self.opts
        w, h = self._size(call)
        # max_area: Kontext-style pipelines rescale to 1 MP unless told the area the caller asked for.
        wanted: dict[str, Any] = {"prompt": call.prompt, "width": w, "height": h, "max_area": w * h}
        if o.steps is not None:
            wanted["num_inference_steps"] = o.steps
        if o.guidance is not None:
            wanted["guidance_scale"] = o.guidance
        if o.negative_prompt:
            wanted["negative_prompt"] = o.negative_prompt
        wanted.update(o.call_kwargs)
        for k, v in call.params.items():
            k = _PARAM_ALIASES.get(k, k)
            if k in _RESERVED:
                raise ToolError(f"tool {self.name!r}: call parameter {k!r} is set by limner, not by the caller")
            wanted[k] = v
        if image is not None:
            wanted["image"] = image.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
        if mask is not None:
            wanted["mask_image"] = mask.convert("L").resize((w, h), Image.Resampling.NEAREST)
        # Only named parameters count: many pipelines swallow **kwargs for deprecated arguments and would
        # silently ignore a misspelt one.
        accepted = inspect.signature(pipe.__call__).parameters
        kwargs = {k: v for k, v in wanted.items() if k in accepted and accepted[k].kind is not inspect.Parameter.VAR_KEYWORD}
        dropped = sorted(k for k in wanted if k not in kwargs and k not in _OWN_ARGS)
        return kwargs, dropped

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        _, torch = _import_diffusers()
        pipe = self._pipeline()
        kwargs, dropped = self._call_kwargs(pipe, call, image, mask)
        generator = torch.Generator(device="cpu").manual_seed(call.seed)
        try:
            with torch.inference_mode():
                out = pipe(**kwargs, generator=generator, output_type="pil")
        except torch.cuda.OutOfMemoryError:
            self.unload()
            raise ToolError(
                f"tool {self.name!r} ran out of accelerator memory; set options.offload to 'model' or "
                "'sequential', a smaller size, or dtype float16"
            ) from None
        except ValueError as e:  # pipelines check their inputs with ValueError
            raise ToolError(f"tool {self.name!r}: {type(pipe).__name__} rejected the call: {e}") from None
        result_image: Image.Image = out.images[0]
        if result_image.size != (call.width, call.height):
            result_image = result_image.resize((call.width, call.height), Image.Resampling.LANCZOS)
        meta: dict[str, Any] = {
            "pipeline": type(pipe).__name__,
            "model": self.opts.model,
            "seed": call.seed,
            "generated_size": [kwargs.get("width"), kwargs.get("height")],
        }
        if dropped:
            meta["ignored_params"] = dropped
        nsfw = getattr(out, "nsfw_content_detected", None)
        if nsfw:
            meta["nsfw_content_detected"] = bool(nsfw[0])
        return ToolResult(tool=self.name, image=result_image, meta=meta)


class DiffusersText2Image(_DiffusersTool):
    """Text-to-image with a diffusers pipeline (SD 1.x/2.x, SDXL, SD3/3.5, FLUX, ...)."""

    kind = "generate"
    task = "text2image"
    default_dims = GEN_DIMS


class DiffusersEditor(_DiffusersTool):
    """Instruction editing with a diffusers pipeline (InstructPix2Pix, FLUX Kontext, Qwen-Image-Edit)."""

    kind = "edit"
    task = "edit"
    default_dims = EDIT_DIMS


class DiffusersInpainter(_DiffusersTool):
    """Mask inpainting with a diffusers pipeline (SD/SDXL inpaint, FLUX Fill). White mask = repaint."""

    kind = "inpaint"
    task = "inpaint"
    default_dims = ("add", "remove", "replace")


TOOL_TYPES: dict[str, type[Tool]] = {
    "text2image": DiffusersText2Image,
    "edit": DiffusersEditor,
    "inpaint": DiffusersInpainter,
}

