"""`scripts/world_blockers.py --kinds`: what keeps prompts from the sandbox world, by kind of part."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "world_blockers.py"


def test_kinds_counts_blockers_and_the_ceiling_without_abstract_parts(tmp_path: Path) -> None:
    (tmp_path / "demo_train.txt").write_text(
        "a red apple to the left of a blue cup\n"  # drawn and judged whole
        "A person is weeping in sadness.\n"  # a state and a mood: only abstract parts
        "a red apple on a blue cup on a sunny beach background\n"  # the beach is judged, 'sunny' is not
        "a holder next to a cup\n",  # an undrawable class (and the relation on it)
        encoding="utf-8",
    )
    out = subprocess.run([sys.executable, str(SCRIPT), "--kinds", "--dir", str(tmp_path)], capture_output=True,
                         text=True, check=True).stdout
    first, blocking, sole = out.strip().splitlines()
    assert first.startswith("4 prompts; world supported 0.250;") and first.endswith(": 0.750")
    assert "state 1" in blocking and "mood 1" in blocking and "background 1" in blocking and "class 1" in blocking
    assert "background 1" in sole and "state" not in sole
