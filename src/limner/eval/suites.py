"""The benchmarks' prompt lists and folder layouts: GenEval and T2I-CompBench, exactly as their own tools read them.

GenEval (github.com/djghosh13/geneval): `generation/diffusers_generate.py` writes, per metadata line
`index`, a folder `<index:05d>/` with `metadata.jsonl` (the line's JSON object, written with `json.dump`)
and `samples/<j:05d>.png`; `evaluation/evaluate_images.py` walks the folders whose names are digits, reads
`metadata.jsonl` with `json.load` and scores every `samples/<digits>.png`. limner writes the same layout,
so GenEval's official evaluator (mmdet Mask2Former + CLIP; it needs CUDA and downloaded weights) can score
a limner run unchanged, and `check_layout` reads the folder the way that evaluator does.

T2I-CompBench (github.com/Karine-Huang/T2I-CompBench): images in `samples/` named
`<prompt>_<j:06d>.png`, 10 per prompt in the official protocol; its scripts take the prompt back from the
file name. A prompt that cannot be a file name (a `/`, or longer than the file system allows) cannot be
laid out that way; such prompts are reported as skipped, never silently dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limner.eval.protocol import file_digest
from limner.types import Element, Relation, Scene

__all__ = [
    "COMPBENCH_CATEGORIES",
    "GENEVAL_TAGS",
    "CompBenchSuite",
    "EvalPrompt",
    "GenEvalSuite",
    "SuiteError",
    "scene_from_geneval",
]

GENEVAL_TAGS: tuple[str, ...] = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
COMPBENCH_CATEGORIES: tuple[str, ...] = ("color", "shape", "texture", "spatial", "non_spatial", "complex",
                                         "numeracy", "3d_spatial")
_MAX_NAME_BYTES = 255


class SuiteError(ValueError):
    """A prompt list that cannot be read (missing file, malformed line), with the file and line."""


@dataclass(frozen=True)
class EvalPrompt:
    """One prompt of a benchmark list: its position (0-based), text, group (GenEval tag or CompBench
    category) and, for GenEval, the metadata line that states what must be in the image."""

    index: int
    text: str
    tag: str
    metadata: dict[str, Any] | None = None


def scene_from_geneval(row: dict[str, Any]) -> Scene:
    """The scene a GenEval metadata line asks for: its classes, counts, colours and positions — the ground
    truth the judge checks against, not a reading of the prompt (a misreading must count against the agent)."""
    elements = [Element(id=f"e{i}", noun=inc["class"], cls=inc["class"], count=int(inc.get("count", 1)),
                        color=inc.get("color")) for i, inc in enumerate(row["include"])]
    relations = [Relation(subject=f"e{i}", predicate=inc["position"][0], object=f"e{int(inc['position'][1])}")
                 for i, inc in enumerate(row["include"]) if "position" in inc]
    return Scene(prompt=row["prompt"], elements=elements, relations=relations)


class GenEvalSuite:
    """GenEval's metadata JSONL (one object a line: `tag`, `prompt`, `include`, optional `exclude`)."""

    benchmark = "geneval"

    def __init__(self, metadata: Path) -> None:
        self.path = Path(metadata)
        if not self.path.is_file():
            raise SuiteError(f"GenEval metadata not found: {self.path}")
        self.prompts: list[EvalPrompt] = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
                    raise ValueError("no 'prompt' string")
                if not isinstance(row.get("include"), list) or not row["include"]:
                    raise ValueError("no 'include' list")
                scene_from_geneval(row)  # every include entry well-formed
            except (ValueError, KeyError, TypeError) as e:
                raise SuiteError(f"{self.path}:{n}: not a GenEval metadata line ({e})") from None
            self.prompts.append(EvalPrompt(len(self.prompts), row["prompt"], str(row.get("tag", "untagged")), row))
        if not self.prompts:
            raise SuiteError(f"{self.path}: no metadata lines")
        self.version = f"GenEval metadata ({self.path.name}, {len(self.prompts)} prompts)"
        self.category: str | None = None

    def prompt_list(self) -> dict[str, Any]:
        return {"name": self.path.name, "sha256": file_digest(self.path), "prompts": len(self.prompts)}

    def scene(self, prompt: EvalPrompt) -> Scene:
        assert prompt.metadata is not None
        return scene_from_geneval(prompt.metadata)

    def layout_problem(self, prompt: EvalPrompt) -> str | None:
        return None

    def sample_path(self, out: Path, prompt: EvalPrompt, sample: int) -> Path:
        return out / f"{prompt.index:05d}" / "samples" / f"{sample:05d}.png"

    def prepare(self, out: Path, prompt: EvalPrompt) -> None:
        """The prompt's folder and its metadata.jsonl (GenEval writes it with json.dump: one object, no newline)."""
        from limner.files import atomic_write_text  # noqa: PLC0415

        folder = out / f"{prompt.index:05d}"
        (folder / "samples").mkdir(parents=True, exist_ok=True)
        meta = folder / "metadata.jsonl"
        if not meta.is_file():
            atomic_write_text(meta, json.dumps(prompt.metadata))

    def check_layout(self, out: Path, prompts: list[EvalPrompt], images_per_prompt: int) -> list[str]:
        """Read `out` as GenEval's evaluate_images.py does and say what it would miss or misread."""
        problems: list[str] = []
        seen: set[int] = set()
        for folder in sorted(p for p in out.iterdir() if p.is_dir() and p.name.isdigit()):
            try:
                meta = json.loads((folder / "metadata.jsonl").read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                problems.append(f"{folder.name}/metadata.jsonl unreadable by json.load: {e}")
                continue
            samples = folder / "samples"
            names = sorted(n.name for n in samples.iterdir()) if samples.is_dir() else []
            images = [n for n in names if re.match(r"\d+\.png", n) and (samples / n).is_file()]
            index = int(folder.name)
            seen.add(index)
            want = next((p for p in prompts if p.index == index), None)
            if want is None:
                problems.append(f"{folder.name}: no such prompt in the list")
            elif meta != want.metadata:
                problems.append(f"{folder.name}/metadata.jsonl differs from line {index + 1} of the list")
            if len(images) != images_per_prompt:
                problems.append(f"{folder.name}/samples: {len(images)} images, expected {images_per_prompt}")
        for p in prompts:
            if p.index not in seen:
                problems.append(f"{p.index:05d}/ missing (prompt {p.text!r})")
        return problems


class CompBenchSuite:
    """A T2I-CompBench prompt list (one prompt a line) of one category."""

    benchmark = "t2i-compbench"

    def __init__(self, prompts: Path, category: str) -> None:
        if category not in COMPBENCH_CATEGORIES:
            raise SuiteError(f"unknown T2I-CompBench category {category!r}; one of {', '.join(COMPBENCH_CATEGORIES)}")
        self.path = Path(prompts)
        if not self.path.is_file():
            raise SuiteError(f"T2I-CompBench prompt list not found: {self.path}")
        lines = [ln.strip() for ln in self.path.read_text(encoding="utf-8").splitlines()]
        self.prompts = [EvalPrompt(i, text, category) for i, text in enumerate(t for t in lines if t)]
        if not self.prompts:
            raise SuiteError(f"{self.path}: no prompts")
        self.category: str | None = category
        self.version = f"T2I-CompBench {category} ({self.path.name}, {len(self.prompts)} prompts)"

    def prompt_list(self) -> dict[str, Any]:
        return {"name": self.path.name, "sha256": file_digest(self.path), "prompts": len(self.prompts)}

    def scene(self, prompt: EvalPrompt) -> Scene:
        """The offline reader's scene: what it cannot read is listed as unsupported, so such an image never
        counts as passed (coverage < 1)."""
        from limner.reading.prompt import parse_prompt  # noqa: PLC0415

        return parse_prompt(prompt.text)

    def layout_problem(self, prompt: EvalPrompt) -> str | None:
        if "/" in prompt.text or "\0" in prompt.text:
            return "the prompt holds '/', which cannot be in a file name (T2I-CompBench names images by prompt)"
        if len(f"{prompt.text}_000000.png".encode()) > _MAX_NAME_BYTES:
            return f"the prompt is too long to be a file name (> {_MAX_NAME_BYTES - 11} bytes)"
        return None

    def sample_path(self, out: Path, prompt: EvalPrompt, sample: int) -> Path:
        return out / "samples" / f"{prompt.text}_{sample:06d}.png"

    def prepare(self, out: Path, prompt: EvalPrompt) -> None:
        (out / "samples").mkdir(parents=True, exist_ok=True)

    def check_layout(self, out: Path, prompts: list[EvalPrompt], images_per_prompt: int) -> list[str]:
        """Read `out/samples` as T2I-CompBench's scripts do (prompt = the name before the last '_')."""
        problems: list[str] = []
        samples = out / "samples"
        counts: dict[str, int] = {}
        for f in sorted(samples.iterdir()) if samples.is_dir() else []:
            m = re.fullmatch(r"(.+)_(\d{6})\.png", f.name)
            if not m:
                problems.append(f"samples/{f.name}: not <prompt>_<NNNNNN>.png")
                continue
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        wanted = {p.text for p in prompts if self.layout_problem(p) is None}
        for text in sorted(wanted):
            if counts.get(text, 0) != images_per_prompt:
                problems.append(f"{text!r}: {counts.get(text, 0)} images, expected {images_per_prompt}")
        for text in sorted(set(counts) - wanted):
            problems.append(f"samples/{text}_*.png: no such prompt in the list")
        return problems
