"""The truth channel of simulated tools: what was really drawn rides along with each image of a run.

Benchmark-only. A sandbox tool returns the world's truth of its image in `ToolResult.ground_truth`; the
channel saves it beside the image (`images/<stem>.truth.json`) and, when that image is edited later in the
run, hands it to the editor as the private parameter `params["_truth_in"]`, so the editor can return the
truth of ITS output. Tools never decide from it, the agent never reads it, and private ("_") parameters
stay out of the trajectory (`public`). Any tool that returns a `ground_truth` takes part; real models
return none, and then the channel does nothing.

The agent loop holds one `TruthChannel` per run and only asks it three things: the private parameters for
an input image (`params_for`), to keep a result's truth (`keep`), and which parameters may be recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from limner.files import truth_path_of
from limner.types import ToolResult

__all__ = ["TRUTH_PARAM", "TruthChannel"]

#: The private `ToolCall.params` key that carries the input image's truth to an editor.
TRUTH_PARAM = "_truth_in"


class _TruthStore(Protocol):
    def save_truth(self, truth: dict[str, Any], stem: str) -> str: ...

    def load_truth(self, rel: str) -> dict[str, Any] | None: ...


class _Writer(Protocol):
    """The run's background writer (`limner.runs.RunWriter`): writes in order, `flush` waits for them."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> None: ...

    def flush(self) -> None: ...


class TruthChannel:
    """The truths of one run's images: the ones made in this process are kept in memory, the others (the
    input image, images of a resumed run) are read back from the store."""

    def __init__(self, store: _TruthStore, writer: _Writer) -> None:
        self._store = store
        self._writer = writer
        self._known: dict[str, dict[str, Any] | None] = {}

    def params_for(self, image_path: str | None) -> dict[str, Any] | None:
        """The private parameters that carry the truth of the input image at `image_path`, or None when
        it has none (not a sandbox image, or no input at all)."""
        truth = self._truth_of(image_path)
        return {TRUTH_PARAM: truth} if truth is not None else None

    def keep(self, result: ToolResult, stem: str) -> None:
        """Save the truth a tool returned beside its image (already saved at `result.image_path`), in the
        writer's order: the image first, then its truth. The step names the file in `meta["truth_path"]`."""
        if result.ground_truth is None or result.image_path is None:
            return
        self._writer.submit(self._store.save_truth, result.ground_truth, stem)
        result.meta.setdefault("truth_path", truth_path_of(result.image_path))
        self._known[result.image_path] = result.ground_truth

    @staticmethod
    def public(params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` without the private ("_") ones: what a trajectory may record of a tool call."""
        return {k: v for k, v in params.items() if not k.startswith("_")}

    def _truth_of(self, image_path: str | None) -> dict[str, Any] | None:
        if image_path is None:
            return None
        if image_path in self._known:
            return self._known[image_path]
        self._writer.flush()  # the truth may still be queued for writing
        truth = self._store.load_truth(truth_path_of(image_path))
        self._known[image_path] = truth  # absent (an input or a real model's image) is remembered too
        return truth
