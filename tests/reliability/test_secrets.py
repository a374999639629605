"""Secrets (issue #30): a key pasted where it does not belong is refused without being repeated; the whole
scan over real command lines (`leaks.secret_cases`, a dozen subprocess runs) is in the benchmark and `-m slow`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from limner.config import BrainConfig
from limner.tools.openai_client import OpenAISettings
from reliability.leaks import find_leaks
from reliability.scenarios import SECRET


def test_a_key_pasted_as_the_variable_name_is_refused_without_repeating_it() -> None:
    for build in (lambda: OpenAISettings(model="m", api_key_env=SECRET),
                  lambda: BrainConfig(kind="llm", model="m", api_key_env=SECRET)):
        with pytest.raises(ValidationError) as err:
            build()
        assert "NAME of the environment variable" in str(err.value)
        assert find_leaks({"e": str(err.value).replace(f"input_value='{SECRET}'", "")}) == []


def test_tool_option_errors_name_the_setting_not_the_secret_value() -> None:
    pytest.importorskip("openai")
    from limner.tools.openai import OpenAIImages  # noqa: PLC0415 - the llm extra

    for options in ({"api_key": SECRET}, {"headers": {"Authorization": f"Bearer {SECRET}"}}, {"api_key_env": SECRET}):
        with pytest.raises(ValueError) as err:
            OpenAIImages("img", model="m", **options)
        assert find_leaks({"error": str(err.value)}) == [], str(err.value)
        assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[object, str]]:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from local_server import serve  # noqa: PLC0415

    from reliability.flaky import FlakyEndpoint  # noqa: PLC0415

    ep = FlakyEndpoint()
    with serve(ep.app) as url:
        yield ep, url


@pytest.mark.slow
def test_no_secret_in_anything_a_run_writes_or_prints(endpoint: tuple[object, str], tmp_path: Path) -> None:
    from reliability.leaks import secret_cases  # noqa: PLC0415

    ep, url = endpoint
    r = secret_cases(ep, url, tmp_path)
    assert r["cases"] >= 10 and r["places_scanned"] > 30
    assert r["secrets_leaked"] == 0, r["leaks"]
