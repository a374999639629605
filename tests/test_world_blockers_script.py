"""`scripts/world_blockers.py --kinds`: what keeps prompts from the sandbox world, by kind of part."""

from __future__ import annotations

import json
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


def test_by_category_reports_each_list_with_both_ceilings(tmp_path: Path) -> None:
    (tmp_path / "plain_train.txt").write_text(
        "a red apple to the left of a blue cup\n"  # supported
        "a holder next to a cup\n",  # a class: under both ceilings
        encoding="utf-8",
    )
    (tmp_path / "prose_train.txt").write_text(
        "A person is weeping in sadness.\n"  # a state and a mood: under neither ceiling
        "A man is grinning.\n",  # a state only: under the ceiling without moods
        encoding="utf-8",
    )
    out = subprocess.run([sys.executable, str(SCRIPT), "--by-category", "--json", "--dir", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)["categories"]
    assert rows["plain"] == {"prompts": 2, "world_supported": 0.5, "ceiling_without_abstract": 1.0,
                             "ceiling_without_moods": 1.0}
    assert rows["prose"] == {"prompts": 2, "world_supported": 0.0, "ceiling_without_abstract": 0.0,
                             "ceiling_without_moods": 0.5}
    assert rows["all"]["prompts"] == 4 and rows["all"]["world_supported"] == 0.25


def test_words_counts_the_abstract_words_by_kind(tmp_path: Path) -> None:
    (tmp_path / "prose_train.txt").write_text(
        "A person is weeping in sadness.\nA man is weeping.\nthe juicy apple\n", encoding="utf-8"
    )
    out = subprocess.run([sys.executable, str(SCRIPT), "--words", "--dir", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert lines["state"].startswith("1 distinct words, named 2 times") and "weeping 2" in lines["state"]
    assert lines["mood"].startswith("1 distinct words, named 1 times") and "sadness 1" in lines["mood"]
    assert lines["quality"].startswith("1 distinct words") and "juicy 1" in lines["quality"]
