"""The protocol of an evaluation run: everything a score depends on, written beside every output.

Peers' benchmark numbers often cannot be reproduced because the protocol is not written down: images per
prompt, seeds, prompt rewriting, the judge and its thresholds differ between papers, and T2I-CompBench
scores move ~3 points with them. So every limner evaluation writes its `EvalProtocol` into its output
directory and into every report, and `limner eval compare` refuses to put two runs side by side when a
field that changes scores differs (unless the user names the fields to ignore).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from limner import __version__

__all__ = ["SYSTEM_FIELDS", "EvalProtocol", "Shard", "file_digest", "json_digest", "protocol_differences"]

#: fields that never make two runs incomparable: which part of the prompt list a run covers (shards of one
#: run are compared and merged), and when it ran
NOT_PROTOCOL: frozenset[str] = frozenset({"shard", "created"})
#: fields that say *what* is evaluated: two different systems are compared on one protocol, so `compare`
#: lets these differ (and shows them); one run (its resume, its shards) must agree on them too
SYSTEM_FIELDS: frozenset[str] = frozenset({"mode", "generator", "config_sha256", "rounds", "rewriting",
                                           "matrices_sha256", "simulated"})


def json_digest(obj: Any) -> str:
    """sha256 of the canonical JSON of `obj` (sorted keys): equal content, equal digest."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Shard(BaseModel):
    """This run covers the prompts whose index i satisfies i % count == index (0-based)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    index: int = Field(ge=0)
    count: int = Field(ge=1)

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'i/n' with 0 ≤ i < n."""
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard must be I/N with integers (e.g. 0/2), got {text!r}") from None
        if n < 1 or not 0 <= i < n:
            raise ValueError(f"--shard {text}: need 0 ≤ I < N (shards are numbered from 0)")
        return cls(index=i, count=n)

    def holds(self, prompt_index: int) -> bool:
        return prompt_index % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class EvalProtocol(BaseModel):
    """What was run and how it was judged. Two runs are comparable when these agree (but `shard`)."""

    model_config = ConfigDict(extra="forbid")

    benchmark: Literal["geneval", "t2i-compbench"]
    benchmark_version: str = Field(description="the benchmark and the version of its prompt list, readable")
    category: str | None = Field(default=None, description="T2I-CompBench category; None for GenEval")
    prompt_list: dict[str, Any] = Field(description="name, sha256 and number of prompts of the list run")
    images_per_prompt: int = Field(ge=1)
    seed: int = Field(ge=0)
    seed_rule: str = "image j of every prompt is drawn with seed + j"
    width: int
    height: int
    mode: Literal["generator", "agent"]
    generator: dict[str, Any] = Field(description="generator mode: the tool's config; agent mode: tools, brain")
    config_sha256: str = Field(description="digest of everything in the config that can change an image")
    rounds: int | None = Field(default=None, description="agent mode: the round budget")
    rewriting: bool = Field(description="prompt rewriting on (the agent's planner writes the generator prompts)")
    learning: bool = Field(default=False, description="whether routing learned during the run (never: order-free)")
    matrices_sha256: str | None = Field(default=None, description="agent mode: the frozen routing matrices")
    judge: dict[str, Any] = Field(description="the checker: tool config, λ, what it judges against")
    simulated: bool = Field(description="every tool is the sandbox world's (no real model)")
    limner_version: str = __version__
    shard: Shard | None = None
    created: str | None = None

    def comparable_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in NOT_PROTOCOL}

    def digest(self) -> str:
        """Digest of the fields that change scores (not the shard, not the time)."""
        return json_digest(self.comparable_fields())


def protocol_differences(a: EvalProtocol, b: EvalProtocol, ignore: frozenset[str] = frozenset(), *,
                         same_run: bool = True) -> list[str]:
    """The protocol fields on which `a` and `b` differ (nested dicts named by dotted paths), minus `ignore`
    (top-level or dotted names). `same_run=False` (comparing two systems) also lets `SYSTEM_FIELDS` differ."""
    out: list[str] = []
    ignore = ignore if same_run else ignore | SYSTEM_FIELDS

    def walk(x: Any, y: Any, path: str) -> None:
        if path in ignore or path.split(".")[0] in ignore:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{path}.{k}" if path else k)
        elif x != y:
            out.append(f"{path}: {_short(x)} ≠ {_short(y)}")

    walk(a.comparable_fields(), b.comparable_fields(), "")
    return out


def _short(v: Any) -> str:
    text = json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
