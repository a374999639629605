"""The module graph points one way (pyproject's `[tool.importlinter]` contracts, drawn in docs/design.md).

A wrong-way import (a tool reaching into the agent, the routing layer into a brain, one backend into
another) fails this test, so the layers cannot rot one convenient import at a time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")

pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter is not installed (pip install -e '.[test]')")


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    """Run the project's contracts on the `limner` package found under `src` (not the installed one)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT), str(REPO / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, env=env, cwd=src, timeout=300, check=False,
    )


def test_the_package_keeps_every_layer_contract() -> None:
    res = _lint(REPO / "src")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


@pytest.mark.parametrize(
    ("module", "wrong_way_import", "broken"),
    [
        ("tools/base.py", "import limner.agent.loop", "Layers point one way"),
        ("perf/matrix.py", "import limner.llm.rule_brain", "Layers point one way"),
        ("types.py", "import limner.config", "Layers point one way"),
        ("tools/diffusers.py", "import limner.tools.sandbox.checker", "Tool backends do not import each other"),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(tmp_path: Path, module: str, wrong_way_import: str, broken: str) -> None:
    src = tmp_path / "src"
    shutil.copytree(REPO / "src" / "limner", src / "limner", ignore=shutil.ignore_patterns("__pycache__", "resources"))
    target = src / "limner" / module
    target.write_text(target.read_text() + f"\n{wrong_way_import}  # noqa\n")
    res = _lint(src)
    assert res.returncode != 0
    assert f"{broken}" in res.stdout and "BROKEN" in res.stdout
