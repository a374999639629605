from __future__ import annotations

from pathlib import Path

import pytest

from limner.config import ConfigError, load_config, preset_names
from limner.tools.registry import ToolRegistry


def test_defaults_are_the_sandbox() -> None:
    cfg = load_config()
    assert cfg.agent.rounds == 3 and cfg.seed == 0
    assert cfg.tools and all(t.backend == "sandbox" for t in cfg.tools)
    assert "sandbox" in preset_names()


def test_precedence_yaml_env_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("seed: 5\nagent:\n  rounds: 4\n  lam: 0.3\nwidth: 256\n")
    cfg = load_config(f)
    assert (cfg.seed, cfg.agent.rounds, cfg.agent.lam, cfg.width) == (5, 4, 0.3, 256)
    monkeypatch.setenv("LIMNER_SEED", "7")
    monkeypatch.setenv("LIMNER_AGENT__ROUNDS", "6")
    cfg = load_config(f)
    assert (cfg.seed, cfg.agent.rounds) == (7, 6)
    cfg = load_config(f, seed=9, out_dir=None)
    assert cfg.seed == 9 and cfg.out_dir == Path("runs")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("agent:\n  rounds: lots\n", "agent.rounds"),
        ("agent:\n  roundz: 3\n", "agent.roundz: unknown setting"),
        ("seed: -1\n", "seed"),
        ("tools:\n  - name: a\n    backend: sandbox\n  - name: a\n    backend: sandbox\n", "duplicate tool names"),
        ("brain:\n  kind: llm\n", "brain.model"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("seed: [unclosed\n", "not valid YAML"),
        ("tools:\n  - name: a\n    backend: sandbox\n    dims: [smell]\n", "unknown dimensions"),
    ],
)
def test_bad_config_names_the_field(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_bad_env_var_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMNER_AGENT__ROUNDS", "zero")
    with pytest.raises(ConfigError, match="agent.rounds"):
        load_config()


def test_missing_file_and_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config("nope/missing.yaml")
    with pytest.raises(ConfigError, match="unknown config preset"):
        load_config("no-such-preset")


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_loads_and_builds_its_tools(preset: str) -> None:
    """Constructing tools loads no weights, so every packaged preset can be checked here."""
    cfg = load_config(preset)
    registry = ToolRegistry.from_config(cfg)
    tools = registry.tools()
    assert tools and [t.name for t in tools] == registry.names
    assert any(t.kind == "generate" for t in tools), f"{preset}: nothing can draw"
    assert any(t.kind == "check" for t in tools), f"{preset}: nothing can judge the images"


def test_every_perf_key_loads_from_yaml_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "perf.yaml"
    f.write_text(
        "perf:\n  updater: apu\n  eta: 0.05\n  top_m: 3\n  random_n: 0\n  learn: false\n  explore: true\n"
        "  cost_weight: 0.2\n  min_p_best: 0.1\n  family_sd: 0.1\n  store: x.sqlite\n"
    )
    p = load_config(f).perf
    assert (p.updater, p.eta, p.top_m, p.random_n, p.learn, p.explore) == ("apu", 0.05, 3, 0, False, True)
    assert (p.cost_weight, p.min_p_best, p.family_sd, p.store) == (0.2, 0.1, 0.1, Path("x.sqlite"))
    monkeypatch.setenv("LIMNER_PERF__FAMILY_SD", "0.2")
    assert load_config(f).perf.family_sd == 0.2
    f.write_text("perf:\n  min_p_best: 1.0\n")
    with pytest.raises(ConfigError, match=r"perf.min_p_best: .* \(got 1.0\)"):
        load_config(f)
