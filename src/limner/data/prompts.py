"""Prompt sources for the data orchestra: files, and a prompt writer.

Files (`read_prompts`), one or several, concatenated in order and deduplicated (same text, ignoring case and
spacing, is one prompt; the first is kept):

- plain text: one prompt a line (blank lines and `#` comments skipped); a T2I-CompBench list
  (`<category>_train.txt`, `<category>_val.txt`) is plain text whose tag is the category;
- JSONL: one object a line with `prompt` (GenEval's metadata: `tag`, `include`, `exclude` — then the
  positive is judged against GenEval's own statement of the prompt, as the evaluation harness does).

The prompt writer (`write_prompts`) composes new compositional prompts from templates over the vocabulary
(colours, counts, textures, relations, text), keeps only those the offline reader reads completely (a
verified positive needs complete coverage), and deduplicates. With an LLM brain configured it first asks
the model for prompts in the same style, and keeps those the reader reads completely; the templates fill the
rest (and everything when the model fails).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from limner import vocab
from limner.eval.suites import scene_from_geneval
from limner.llm.brain import Brain
from limner.reading.prompt import parse_prompt, plural
from limner.tools.sandbox.world import TEXT_WORDS

__all__ = ["PromptError", "PromptItem", "fully_read", "normalise", "read_prompts", "write_prompts"]


class PromptError(ValueError):
    """A prompt file that cannot be read (missing, bad JSON); one line naming the file and line."""


@dataclass(frozen=True)
class PromptItem:
    """One prompt of the build: position in the list, text, tag (category), and optionally the benchmark's
    own scene (GenEval metadata) to judge the positive against."""

    index: int
    text: str
    tag: str = "untagged"
    scene: dict[str, Any] | None = field(default=None, compare=False)


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _tag_of(path: Path) -> str:
    stem = path.stem
    for suffix in ("_train", "_val", "_test"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _read_one(path: Path) -> list[tuple[str, str, dict[str, Any] | None]]:
    if not path.is_file():
        raise PromptError(f"prompt file {str(path)!r} does not exist")
    rows: list[tuple[str, str, dict[str, Any] | None]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix in (".jsonl", ".json"):
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise PromptError(f"{path.name} line {n} is not valid JSON: {e.msg}") from None
            if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
                raise PromptError(f"{path.name} line {n} has no 'prompt' string")
            scene = scene_from_geneval(row).model_dump(mode="json") if "include" in row else None
            rows.append((row["prompt"], str(row.get("tag", _tag_of(path))), scene))
        return rows
    tag = _tag_of(path)
    return [(line.strip(), tag, None) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def read_prompts(paths: list[Path] | Path) -> list[PromptItem]:
    """The prompts of one or several files, in order, deduplicated, indexed from 0."""
    out: list[PromptItem] = []
    seen: set[str] = set()
    for path in [paths] if isinstance(paths, Path) else paths:
        for text, tag, scene in _read_one(Path(path)):
            key = normalise(text)
            if key in seen:
                continue
            seen.add(key)
            out.append(PromptItem(len(out), text, tag, scene))
    return out


def fully_read(prompt: str) -> bool:
    """Whether the offline reader reads every part of `prompt` (nothing unsupported, something to check)."""
    scene = parse_prompt(prompt)
    return bool(scene.elements) and not scene.unsupported


# ----------------------------------------------------------------------------------------------------
# The prompt writer
# ----------------------------------------------------------------------------------------------------

_OBJECTS = vocab.GENEVAL_CLASSES
_RELATIONS = ("to the left of", "to the right of", "above", "below", "in front of", "behind", "next to")
_NUMBERS = ("two", "three", "four")


def _a(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _template(rng: np.random.Generator) -> str:
    o1, o2, o3 = (str(x) for x in rng.choice(_OBJECTS, 3, replace=False))
    c1, c2, c3 = (str(x) for x in rng.choice(vocab.GENEVAL_COLORS, 3, replace=False))
    rel = str(rng.choice(_RELATIONS))
    n = str(rng.choice(_NUMBERS))
    t = str(rng.choice(vocab.TEXTURES))
    word = str(rng.choice(TEXT_WORDS))
    form = int(rng.integers(0, 7))
    if form == 0:
        return f"{_a(c1)} {c1} {o1} {rel} {_a(c2)} {c2} {o2}"
    if form == 1:
        return f"{n} {c1} {plural(o1)} and {_a(c2)} {c2} {o2}"
    if form == 2:
        return f"{_a(t)} {t} {o1} and {_a(c2)} {c2} {o2}"
    if form == 3:
        return f'a sign that says "{word}" {rel} {_a(c1)} {c1} {o1}'
    if form == 4:
        return f"{n} {plural(o1)} {rel} {_a(c2)} {c2} {o2}"
    if form == 5:
        return f"{_a(c1)} {c1} {o1}, {_a(c2)} {c2} {o2} and {_a(c3)} {c3} {o3}"
    return f"{n} {c1} {plural(o1)} {rel} {_a(o2)} {o2}"


class _WrittenPrompts(BaseModel):
    prompts: list[str]


_WRITE = ("You write short compositional text-to-image prompts: 2-3 everyday objects (COCO classes), each "
          "with a colour, a count or a material, and at most one spatial relation (left of, right of, above, "
          "below, in front of, behind, next to), or a sign with quoted text. One prompt per list item, no "
          "numbering, no style words, no background.")


def _from_llm(brain: Brain, n: int, seed: int) -> tuple[list[str], str | None]:
    """Prompts written by an LLM brain (none, with the reason, when there is no LLM or it fails)."""
    agent_of = getattr(brain, "_agent", None)
    ask = getattr(brain, "_ask", None)
    if agent_of is None or ask is None:
        return [], None
    answer, _, err = ask(agent_of(_WrittenPrompts, _WRITE), f"Write {n} different prompts (variation seed {seed}).")
    if answer is None:
        return [], err
    return [p.strip() for p in answer.prompts if isinstance(p, str) and p.strip()], None


def write_prompts(n: int, *, seed: int = 0, brain: Brain | None = None) -> tuple[list[PromptItem], list[str]]:
    """`n` new prompts (the LLM brain's first when one is given, then templates), each read completely by the
    offline reader, deduplicated. Returns the prompts and notes (prompts refused, why the LLM was not used)."""
    notes: list[str] = []
    texts: list[tuple[str, str]] = []
    seen: set[str] = set()
    if brain is not None:
        written, err = _from_llm(brain, n, seed)
        if err:
            notes.append(f"LLM prompt writer failed ({err}); templates wrote the prompts")
        for p in written:
            if len(texts) >= n:
                break
            if normalise(p) in seen:
                continue
            if not fully_read(p):
                notes.append(f"LLM prompt not fully readable, skipped: {p!r}")
                continue
            seen.add(normalise(p))
            texts.append((p, "llm"))
    rng = np.random.default_rng(seed)
    tries = 0
    while len(texts) < n and tries < 50 * n + 100:
        tries += 1
        p = _template(rng)
        if normalise(p) in seen or not fully_read(p):
            continue
        seen.add(normalise(p))
        texts.append((p, "template"))
    return [PromptItem(i, t, tag) for i, (t, tag) in enumerate(texts)], notes
