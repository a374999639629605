"""One typed configuration for everything limner does.

Sources, strongest first: explicit arguments (CLI flags) > `LIMNER_*` environment variables (nested with
`__`, e.g. `LIMNER_AGENT__ROUNDS=5`) > a YAML file (`--config FILE` or a preset name such as `sandbox`)
> defaults. Unknown keys are errors, and every error names the field that is wrong, so a typo in a
config never silently falls back to a default.

No paths or devices are hard-coded anywhere else: modules receive what they need from this object.
"""

from __future__ import annotations

import contextvars
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from limner.types import ALL_DIMS, check_scores


class ConfigError(ValueError):
    """The configuration is invalid. The message names the file and field and is meant for a human."""


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def check_env_name(name: str) -> str:
    """`name` if it can name an environment variable; else a ValueError that does not repeat it (it may be
    the key itself, pasted where its variable's name belongs)."""
    if not _ENV_NAME.match(name):
        raise ValueError("must be the NAME of the environment variable that holds the key (e.g. OPENAI_API_KEY), "
                         "not the key; the value given is not a variable name and is not repeated here")
    return name


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolConfig(_Section):
    """One configured tool. `backend` selects the implementation; `options` go to its constructor."""

    name: str
    backend: str = Field(description="sandbox | diffusers | openai | classic | module.path:ClassName")
    type: str = Field(default="", description="implementation within the backend, e.g. 'painter', 'text2image'")
    description: str = ""
    dims: list[str] | None = None
    cost: float = Field(default=1.0, ge=0)
    family: str | None = Field(
        default=None,
        description="tools built on one base model (its checkpoints, LoRAs, versions) share a family: the "
        "bayes router lets a run of one member teach the others",
    )
    enabled: bool = True
    scores: dict[str, float] | None = Field(
        default=None, description="per-dimension skill in [0, 1] (profiled or published): the routing prior"
    )
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("scores")
    @classmethod
    def _valid_scores(cls, scores: dict[str, float] | None) -> dict[str, float] | None:
        return check_scores(scores) if scores is not None else None

    @field_validator("dims")
    @classmethod
    def _known_dims(cls, dims: list[str] | None) -> list[str] | None:
        if dims is not None:
            unknown = [d for d in dims if d not in ALL_DIMS]
            if unknown:
                raise ValueError(f"unknown dimensions {unknown}; expected some of {list(ALL_DIMS)}")
        return dims


class BrainConfig(_Section):
    """The agent's brain: the offline rule-based one, or an LLM/VLM over an OpenAI-compatible endpoint."""

    kind: Literal["rule", "llm"] = "rule"
    base_url: str | None = Field(default=None, description="e.g. http://localhost:8000/v1 for vLLM")
    model: str | None = None
    api_key_env: str = Field(default="OPENAI_API_KEY", description="name of the env var holding the key")
    max_retries: int = Field(default=2, ge=0, le=10)
    timeout_s: float = Field(default=60.0, gt=0)
    vision: bool = Field(default=True, description="send images to the model as data URLs (off for text-only models)")
    output_mode: Literal["tool", "json", "native"] = Field(
        default="tool", description="how answers are structured: the answer tool forced by name (OpenAI, vLLM), "
        "'json' (response_format json_object with the schema: llama.cpp's server) or 'native' (json_schema)")
    max_tokens: int | None = Field(default=512, ge=16, description="cap on each answer (sent as max_tokens)")
    prompt_style: Literal["full", "compact"] = Field(
        default="full", description="the Analyst's instructions: full, or compact for small (fine-tuned) models")
    breaker_after: int = Field(default=3, ge=0, description="failed calls in a row before the model is not asked "
                               "for a while (0: never)")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        return check_env_name(v)

    @model_validator(mode="after")
    def _llm_needs_model(self) -> BrainConfig:
        if self.kind == "llm" and not self.model:
            raise ValueError("brain.kind is 'llm' but brain.model is not set")
        return self


class AgentConfig(_Section):
    rounds: int = Field(default=3, ge=1, le=50, description="maximum evaluate→repair rounds")
    lam: float = Field(default=0.5, ge=0, le=1, description="λ in score = λ·global + (1−λ)·mean(local)")
    goal: float = Field(default=1.0, ge=0, le=1, description="stop once the verdict score reaches this")
    tool_timeout_s: float = Field(default=300.0, gt=0)
    max_fallbacks: int = Field(default=3, ge=0, description="next-ranked tools tried when a tool fails")
    verify_repairs: bool = Field(
        default=True, description="evaluate after each repair; undo one that does not raise the score"
    )
    repair_retries: int = Field(
        default=1, ge=0, le=5, description="next-ranked tools tried on an undone repair (with verify_repairs)"
    )
    allow_redraw: bool = Field(
        default=False,
        description="editing: when no editor can carry out the instruction, draw a fresh picture from it "
        "(the user's image is then not kept); off: the user's image stays the final and the run fails",
    )


class PerfConfig(_Section):
    """Where the performance matrix lives, which updater learns it, and the router knobs a user sets.

    `limner.perf.RouterOptions.from_perf_config` turns these into the routers' one validated options object
    (which also holds the Bayesian model's finer knobs, at their benchmarked defaults).
    """

    store: Path | None = Field(default=None, description="SQLite file; default <out_dir>/perf.sqlite")
    updater: Literal["static", "apu", "bayes"] = "bayes"
    eta: float = Field(default=0.13, gt=0, description="APU learning rate (PerfGuard: 0.13)")
    top_m: int = Field(default=2, ge=1)
    random_n: int = Field(default=1, ge=0)
    learn: bool = Field(default=True, description="update the matrix from the agent's own runs")
    cost_weight: float = Field(
        default=0.0, ge=0, description="bayes updater: score penalty per unit tool cost"
    )
    explore: bool = Field(
        default=False,
        description="generations run the router's top_m + random_n tools, keep the best image and learn "
        "from the comparison (APU needs it; costs that many painter and checker calls)",
    )
    min_p_best: float = Field(
        default=0.0, ge=0, lt=1,
        description="bayes updater: explore only tools at least this likely to be best",
    )
    family_sd: float = Field(
        default=0.06, gt=0, le=1,
        description="bayes updater: how far a tool's skill strays from its family's, per dimension and as a "
        "level",
    )


class LimnerConfig(BaseSettings):
    """Everything configurable. See `configs/` presets and README for examples."""

    model_config = SettingsConfigDict(
        env_prefix="LIMNER_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    out_dir: Path = Field(default=Path("runs"), description="where run directories are created")
    seed: int = Field(default=0, ge=0, lt=2**32)
    width: int = Field(default=512, ge=64, le=4096)
    height: int = Field(default=512, ge=64, le=4096)
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N | mps, for real backends")
    threads: int | None = Field(default=None, ge=1, description="torch/numpy threads; None leaves the default")
    tools: list[ToolConfig] = Field(default_factory=lambda: _preset_tools("sandbox"))
    brain: BrainConfig = Field(default_factory=BrainConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    perf: PerfConfig = Field(default_factory=PerfConfig)

    @field_validator("tools")
    @classmethod
    def _unique_names(cls, tools: list[ToolConfig]) -> list[ToolConfig]:
        names = [t.name for t in tools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate tool names: {dupes}")
        return tools

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def perf_store_path(self) -> Path:
        return self.perf.store if self.perf.store is not None else self.out_dir / "perf.sqlite"


# The YAML mapping being loaded; a context variable so concurrent loads in threads do not mix.
_YAML_DATA: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("_YAML_DATA", default=None)


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_YAML_DATA.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_YAML_DATA.get() or {})


def preset_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in resources.files("limner.presets").iterdir() if p.name.endswith(".yaml"))


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A preset name (`sandbox`, `sdxl`, ...) or a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists() or "/" in str(name_or_path):
        if not p.is_file():
            raise ConfigError(f"config file not found (or not a regular file): {p}")
        return p
    preset = resources.files("limner.presets") / f"{name_or_path}.yaml"
    if not preset.is_file():
        raise ConfigError(f"unknown config preset {str(name_or_path)!r}; presets: {', '.join(preset_names())}")
    return Path(str(preset))


#: A config file larger than this is refused unread (configs are a few KB; presets under 10 KB).
MAX_CONFIG_BYTES = 1_000_000
#: Values a config may expand to, aliases followed: a "billion laughs" YAML bomb is refused at this count
#: instead of being validated (and printed) value by value.
MAX_CONFIG_VALUES = 100_000


def _check_expansion(data: Any, path: Path) -> None:
    """Refuse YAML whose aliases expand to more than MAX_CONFIG_VALUES values, or refer to themselves.
    Costs at most MAX_CONFIG_VALUES steps whatever the file holds."""
    count = 0
    stack: list[tuple[Any, tuple[int, ...]]] = [(data, ())]
    while stack:
        node, ancestors = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(f"{path}: expands to more than {MAX_CONFIG_VALUES:,} values through YAML aliases "
                              "(a YAML bomb?); write the values out")
        if isinstance(node, dict | list):
            if id(node) in ancestors:
                raise ConfigError(f"{path}: a YAML alias refers to a value that contains it (a recursive config)")
            children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
            stack.extend((child, (*ancestors, id(node))) for child in children)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is {size:,} bytes; a config file may be at most {MAX_CONFIG_BYTES:,}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML ({getattr(e, 'problem', e)})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read (thousands of levels); flatten it") from None
    if data is None:
        return {}
    _check_expansion(data, path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of settings, got {type(data).__name__}")
    return data


def _preset_tools(name: str) -> list[ToolConfig]:
    data = read_yaml(resolve_config_path(name))
    return [ToolConfig.model_validate(t) for t in data.get("tools", [])]


#: Settings whose values are never repeated in an error message (a key pasted where it does not belong).
_SECRET_SETTING = re.compile(r"key|token|secret|password|authorization|header", re.IGNORECASE)


def describe_validation_error(e: ValidationError) -> str:
    """`loc: message (got value)` for each error, on one line. A value is shown only when short and never
    for a setting whose name looks secret: the message goes to the terminal and into the run's manifest."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        got = err.get("input")
        show = got is not None and err["type"] != "extra_forbidden" and len(repr(got)) < 60 and not _SECRET_SETTING.search(loc)
        parts.append(f"{loc}: {msg}" + (f" (got {got!r})" if show else ""))
    return "; ".join(parts)


def format_validation_error(e: ValidationError, source: str) -> str:
    return f"invalid config ({source}): " + describe_validation_error(e)


def load_config(path: str | Path | None = None, **overrides: Any) -> LimnerConfig:
    """Build the config from defaults, an optional YAML file or preset, the environment and `overrides`.

    `overrides` with value None are ignored, so CLI options can be passed straight through.
    """
    data: dict[str, Any] = {}
    source = "defaults + environment"
    if path is not None:
        resolved = resolve_config_path(path)
        data = read_yaml(resolved)
        source = str(path)
    token = _YAML_DATA.set(data)
    try:
        return LimnerConfig(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None
    finally:
        _YAML_DATA.reset(token)
