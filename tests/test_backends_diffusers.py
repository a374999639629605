"""diffusers tools on tiny random pipelines built from config (no downloads), through the registry.

The pipelines are a few hundred kB and run 32 px, 2-step calls: they exercise loading, the pipeline
cache, seeding, LoRA loading and argument mapping exactly as a real model would, not image quality.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusers import StableDiffusionPipeline
from diffusers.utils import convert_state_dict_to_diffusers
from PIL import Image
from tiny_pipelines import TINY_KINDS, TINY_TOOLS, build_tiny_pipeline

from limner.config import load_config
from limner.tools import diffusers as dt
from limner.tools._device import (
    DeviceError,
    find_published_model,
    load_published_scores,
    published_dim_scores,
    resolve_device,
    resolve_dtype,
)
from limner.tools.base import ToolError
from limner.tools.registry import ToolRegistry, resolve_tool_class
from limner.types import EDIT_DIMS, GEN_DIMS, ToolCall

SD3_OPTS = {"skip_components": ["text_encoder_3", "tokenizer_3"]}  # the tiny SD3 has no T5, like the real option


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {k: build_tiny_pipeline(k, root / k) for k in TINY_KINDS}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    dt.pipeline_cache().clear()
    dt.set_pipeline_cache_size(1)
    yield
    dt.pipeline_cache().clear()
    dt.set_pipeline_cache_size(1)


def _config_file(tmp_path: Path, tiny: dict[str, Path], kinds: tuple[str, ...] = TINY_KINDS, **extra: Any) -> Path:
    tools = []
    for kind in kinds:
        type_, opts = TINY_TOOLS[kind]
        tools.append({"name": kind, "backend": "diffusers", "type": type_,
                      "options": {"model": str(tiny[kind]), "steps": 2, **opts}})
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps({"device": "cpu", "width": 64, "height": 64, "tools": tools, **extra}))  # JSON is YAML
    return path


def _inputs() -> tuple[Image.Image, Image.Image]:
    image = Image.new("RGB", (32, 32), (30, 90, 200))
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (8, 8, 24, 24))
    return image, mask


EXPECTED = {
    "sd": "StableDiffusionPipeline",
    "sd-inpaint": "StableDiffusionInpaintPipeline",
    "sd-pix2pix": "StableDiffusionInstructPix2PixPipeline",
    "sd3": "StableDiffusion3Pipeline",
    "flux": "FluxPipeline",
    "flux-kontext": "FluxKontextPipeline",
    "flux-fill": "FluxFillPipeline",
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_tiny_pipeline_runs_through_the_registry(tmp_path: Path, tiny: dict[str, Path], name: str) -> None:
    reg = ToolRegistry.from_config(load_config(_config_file(tmp_path, tiny)))
    tool = reg.get(name)
    assert tool.backend == "diffusers" and tool.opts.device == "cpu"  # the config's device reached the tool
    image, mask = _inputs()
    call = ToolCall(tool=name, prompt="a red cube left of a blue ball", seed=3, width=32, height=32)
    kwargs = {"image": image if tool.kind != "generate" else None, "mask": mask if tool.kind == "inpaint" else None}
    a = tool(call, **kwargs)
    b = tool(call, **kwargs)
    c = tool(call.model_copy(update={"seed": 4}), **kwargs)
    assert a.meta["pipeline"] == EXPECTED[name] and a.image.size == (32, 32) and a.image.mode == "RGB"
    assert a.image.tobytes() == b.image.tobytes(), "same seed must give the same image"
    assert a.image.tobytes() != c.image.tobytes(), "another seed must give another image"
    assert a.duration_s > 0 and tool.loaded
    tool.unload()
    assert not tool.loaded and dt.pipeline_cache().keys() == []


def test_odd_sizes_are_rounded_for_the_model_and_returned_as_asked(tmp_path: Path, tiny: dict[str, Path]) -> None:
    tool = dt.DiffusersText2Image("t", model=str(tiny["sd"]), steps=2, device="cpu")
    res = tool(ToolCall(tool="t", prompt="a cat", width=40, height=24))
    assert res.image.size == (40, 24)
    assert res.meta["generated_size"] == [48, 32]  # rounded up to multiples of 16


def test_call_params_map_to_pipeline_arguments(tiny: dict[str, Path]) -> None:
    tool = dt.DiffusersText2Image("t", model=str(tiny["sd"]), steps=2, device="cpu")
    call = ToolCall(tool="t", prompt="a cat", width=32, height=32, params={"steps": 1, "image_guidance_scale": 2})
    res = tool(call)
    assert res.meta["ignored_params"] == ["image_guidance_scale"]  # not an SD text-to-image argument
    one_step = res.image.tobytes()
    assert one_step != tool(call.model_copy(update={"params": {}})).image.tobytes()  # 1 step != 2 steps
    with pytest.raises(ToolError, match="'generator' is set by limner"):
        tool(call.model_copy(update={"params": {"generator": 1}}))


def test_pipeline_cache_holds_one_pipeline_unless_pinned_or_resized(tiny: dict[str, Path]) -> None:
    cache = dt.pipeline_cache()
    a = dt.DiffusersText2Image("a", model=str(tiny["sd"]), steps=2, device="cpu")
    b = dt.DiffusersText2Image("b", model=str(tiny["sd3"]), steps=2, device="cpu", **SD3_OPTS)
    a2 = dt.DiffusersText2Image("a2", model=str(tiny["sd"]), steps=2, device="cpu")
    call = ToolCall(tool="a", prompt="x", width=32, height=32)
    a(call)
    a2(call.model_copy(update={"tool": "a2"}))
    assert cache.keys() == [a.cache_key] and a.cache_key == a2.cache_key  # same config → one shared pipeline
    loads = cache.loads
    b(call.model_copy(update={"tool": "b"}))
    assert cache.keys() == [b.cache_key]  # a evicted before b loaded
    a(call)  # a reloads transparently although its tool still counts as loaded
    assert cache.loads == loads + 2 and cache.keys() == [a.cache_key]
    dt.set_pipeline_cache_size(2)
    b(call.model_copy(update={"tool": "b"}))
    assert set(cache.keys()) == {a.cache_key, b.cache_key}
    dt.set_pipeline_cache_size(1)
    assert cache.keys() == [b.cache_key]  # shrinking evicts the least recently used
    pinned = dt.DiffusersEditor("p", model=str(tiny["sd-pix2pix"]), steps=2, device="cpu", keep_loaded=True)
    pinned(call.model_copy(update={"tool": "p"}), image=_inputs()[0])
    a(call)
    assert set(cache.keys()) == {pinned.cache_key, a.cache_key}  # pinned does not count against the budget


def _save_random_lora(sd_path: Path, out: Path) -> Path:
    """A LoRA saved the way diffusers' LoRA trainers (and limner's APO) save one."""
    # peft: only the LoRA test needs it (it skips without it), so it is imported here
    from peft import LoraConfig  # noqa: PLC0415
    from peft.utils import get_peft_model_state_dict  # noqa: PLC0415

    torch.manual_seed(0)
    pipe = StableDiffusionPipeline.from_pretrained(sd_path)
    pipe.unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    )
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    StableDiffusionPipeline.save_lora_weights(out, unet_lora_layers=layers)
    return out


def test_lora_adapters_load_from_a_directory(tmp_path: Path, tiny: dict[str, Path]) -> None:
    pytest.importorskip("peft")
    lora = _save_random_lora(tiny["sd"], tmp_path / "apo-out")
    call = ToolCall(tool="t", prompt="a cat", seed=1, width=32, height=32)
    base = dt.DiffusersText2Image("t", model=str(tiny["sd"]), steps=2, device="cpu")(call).image.tobytes()
    tuned = dt.DiffusersText2Image("t", model=str(tiny["sd"]), steps=2, device="cpu", loras=[str(lora)])
    assert tuned.opts.loras[0].path == str(lora)
    assert tuned(call).image.tobytes() != base
    off = dt.DiffusersText2Image("t", model=str(tiny["sd"]), steps=2, device="cpu",
                                 loras=[{"path": str(lora), "scale": 0.0}])
    assert off(call).image.tobytes() == base  # scale 0 switches the adapter off
    missing = dt.DiffusersText2Image("t", model=str(tiny["sd"]), device="cpu", loras=[str(tmp_path / "nope")])
    with pytest.raises(ToolError, match="cannot load LoRA"):
        missing(call)


def test_scheduler_can_be_swapped_by_name(tiny: dict[str, Path]) -> None:
    call = ToolCall(tool="t", prompt="a cat", width=32, height=32)
    ddim = dt.DiffusersText2Image("t", model=str(tiny["sd"]), steps=2, device="cpu")(call).image.tobytes()
    euler = dt.DiffusersText2Image("t", model=str(tiny["sd"]), steps=2, device="cpu", scheduler="EulerDiscreteScheduler")
    assert euler(call).image.tobytes() != ddim
    assert type(dt.pipeline_cache()._entries[euler.cache_key].pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    with pytest.raises(ToolError, match="no scheduler 'NotAScheduler'"):
        dt.DiffusersText2Image("t", model=str(tiny["sd"]), device="cpu", scheduler="NotAScheduler")(call)


def test_errors_are_clear(tmp_path: Path, tiny: dict[str, Path]) -> None:
    call = ToolCall(tool="t", prompt="a cat", width=32, height=32)
    with pytest.raises(ValueError, match="stepz"):
        dt.DiffusersText2Image("t", model="x", stepz=3)
    with pytest.raises(ValueError, match="offload"):
        dt.DiffusersText2Image("t", model="x", offload="gpu")
    with pytest.raises(ToolError, match="cannot load"):
        dt.DiffusersText2Image("t", model=str(tmp_path / "missing"), device="cpu", local_files_only=True)(call)
    with pytest.raises(ToolError, match="takes no input image"):
        dt.DiffusersEditor("t", model=str(tiny["sd"]), device="cpu")(call, image=_inputs()[0])
    with pytest.raises(ToolError, match="needs a mask"):
        dt.DiffusersInpainter("t", model=str(tiny["sd-inpaint"]), device="cpu")(call, image=_inputs()[0])
    with pytest.raises(ToolError, match="no pipeline class"):
        dt.DiffusersText2Image("t", model=str(tiny["sd"]), device="cpu", pipeline="NotAPipeline")(call)
    with pytest.raises(DeviceError, match="no CUDA device|cuda:7"):
        dt.DiffusersText2Image("t", model=str(tiny["sd"]), device="cuda:7")(call)


def test_unavailable_reason_checks_without_loading(tmp_path: Path, tiny: dict[str, Path]) -> None:
    assert dt.DiffusersText2Image("t", model=str(tiny["sd"]), device="cpu").unavailable_reason() is None
    assert "not found" in dt.DiffusersText2Image("t", model=str(tmp_path / "nope")).unavailable_reason()
    assert "CUDA" in dt.DiffusersText2Image("t", model="org/name", device="cuda:7").unavailable_reason()
    assert dt.pipeline_cache().keys() == []


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    for bad in ("gpu", "cpu:1", "cuda:x", ""):
        with pytest.raises(DeviceError):
            resolve_device(bad)
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16 and resolve_dtype("fp16", "cpu") == torch.float16
    with pytest.raises(DeviceError, match="dtype"):
        resolve_dtype("int8", "cpu")


def test_declared_dims_and_published_scores() -> None:
    sdxl = dt.DiffusersText2Image("sdxl", model="stabilityai/stable-diffusion-xl-base-1.0")
    assert sdxl.spec.dims == list(GEN_DIMS) and not sdxl.loaded  # constructing loads nothing
    scores = sdxl.published_scores
    assert set(scores) == {"t2i_compbench", "geneval"}
    assert scores["t2i_compbench"]["dims"]["color"] == 0.5879 and "CogView4" in scores["t2i_compbench"]["source"]
    kontext = dt.DiffusersEditor("k", model="black-forest-labs/FLUX.1-Kontext-dev")
    assert kontext.spec.dims == list(EDIT_DIMS)
    assert kontext.published_scores["imgedit"]["dims"]["replace"] == 4.45
    assert dt.DiffusersInpainter("i", model="black-forest-labs/FLUX.1-dev").published_scores == {}  # no inpaint benchmark
    assert dt.DiffusersText2Image("x", model="/models/my-finetune").published_scores == {}
    assert find_published_model("/local/copy/of/FLUX.1-dev") == "flux.1-dev"


CSV_DIR = Path(__file__).parent / "data" / "published-scores"  # copies of the source CSVs, with their README


@pytest.mark.skipif(not CSV_DIR.is_dir(), reason="published-scores CSVs not available here")
def test_shipped_scores_are_verbatim_copies_of_the_csv_rows() -> None:
    data = load_published_scores()
    for key, entry in data["models"].items():
        assert entry["rows"], key
        preferred = [r["benchmark"] for r in entry["rows"] if r["preferred"]]
        assert len(preferred) == len(set(preferred)), f"{key}: one preferred row per benchmark"
        for row in entry["rows"]:
            with open(CSV_DIR / f"{row['benchmark']}.csv", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            src = rows[row["csv_row"] - 2]
            assert src["model"] == row["csv_model"] and src["source"] == row["source"], (key, row["csv_row"])
            assert src["evidence"] == row["evidence"]
            for col, value in row["values"].items():
                assert float(src[col]) == value, (key, col)
            for col, cell in src.items():
                if col in data["dimension_map"][row["benchmark"]] and cell:
                    assert col in row["values"], (key, col)
    for bench, mapping in data["dimension_map"].items():
        assert set(mapping.values()) <= set(GEN_DIMS + EDIT_DIMS), bench
    assert published_dim_scores("sdxl", "edit") == {}


MY_PRESETS = ["sdxl", "sd15", "sd3", "flux", "openai", "vllm", "classic"]


@pytest.mark.parametrize("preset", MY_PRESETS)
def test_presets_are_packaged_valid_and_resolve_without_loading(preset: str) -> None:
    assert (resources.files("limner.presets") / f"{preset}.yaml").is_file()
    cfg = load_config(preset)
    assert cfg.tools
    for t in cfg.tools:
        if t.backend == "sandbox":
            continue
        cls = resolve_tool_class(t.backend, t.type)
        tool = cls(name=t.name, description=t.description, dims=t.dims, cost=t.cost, **t.options)
        assert not tool.loaded
        if t.backend == "diffusers":
            assert find_published_model(t.options["model"]) is not None or t.type == "inpaint", t.name


@pytest.mark.slow  # ~30 s of CPU (80 s wall on a busy 2-core machine)
def test_benchmark_quick_reports_metrics(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "backends.py"
    if not script.is_file():
        pytest.skip("benchmarks/backends.py not present")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(script), "--json", "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=240, env=env, check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["benchmark"] == "backends" and report["simulated"] is False
    assert set(report["metrics"]["pipelines"]) == set(TINY_KINDS)
    for v in report["metrics"]["pipelines"].values():
        assert v["load_s"] > 0 and v["call_s"] > 0
    m = report["metrics"]
    assert isinstance(m["memory_growth_mb"], float)
    assert m["memory_growth_per_cycle_mb"] < m["leak_control_growth_per_cycle_mb"] / 4, "unload leaks pipelines"


def test_cli_generate_end_to_end_with_a_tiny_pipeline(tmp_path: Path, tiny: dict[str, Path]) -> None:
    loop = pytest.importorskip("limner.agent.loop")
    if not hasattr(loop, "run_generate"):
        pytest.skip("the agent loop (limner.agent.loop.run_generate) is not there yet")
    cfg = _config_file(tmp_path, tiny, ("sd", "sd-inpaint", "sd-pix2pix"), out_dir=str(tmp_path / "runs"))
    cfg_data = json.loads(cfg.read_text())
    cfg_data["agent"] = {"rounds": 1}
    # The agent needs a checker; no real one exists offline, so the sandbox checker judges (and fails)
    # the tiny model's noise. What is under test is the plumbing: config → registry → diffusers → run dir.
    cfg_data["tools"].append({"name": "checker", "backend": "sandbox", "type": "checker"})
    cfg.write_text(json.dumps(cfg_data))
    proc = subprocess.run(
        [sys.executable, "-m", "limner.cli", "generate", "a red cube", "--out", str(tmp_path / "runs"), "--seed", "1",
         "--config", str(cfg), "--json"],
        capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["simulated"] is True  # the sandbox checker judged: the run says so
    with Image.open(summary["final_image"]) as img:
        assert img.size == (64, 64)
    steps = [json.loads(line) for line in Path(summary["trajectory"]).read_text().splitlines() if line.strip()]
    tool_steps = [s for s in steps if s["type"] == "tool" and s["result"]["ok"]]
    assert tool_steps, "the agent called no tool"
    assert {s["result"]["meta"].get("pipeline") for s in tool_steps} & {EXPECTED[k] for k in ("sd", "sd-inpaint", "sd-pix2pix")}
    config_text = Path(summary["manifest"]).read_text()
    assert str(tiny["sd"]) in config_text  # the run records which model drew
