"""Secrets: an API key set in the environment (or pasted where a key does not belong) must never appear in
what limner writes or prints — run directories (manifest, trajectory, images' metadata), the perf store,
stdout and stderr (progress lines, errors, `limner tools list`), exception messages.

`secret_cases` runs the real command line in subprocesses against the flaky endpoint (which, in `echo_key`
mode, echoes the Authorization header it got into its error message, as careless servers do) and greps every
byte written under the case's directory plus the process's output. `find_leaks` is the grep: the whole key
and any 12-character piece of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from reliability.scenarios import _LOW, _TOP, _TOP_EDIT, KEY_ENV, SECRET, TESTS


def pieces(secret: str, width: int = 12) -> list[str]:
    """The key and every `width`-character piece of it (a truncated or wrapped key is still a leak)."""
    return [secret] + [secret[i:i + width] for i in range(len(secret) - width + 1)]


def find_leaks(texts: dict[str, bytes | str], secret: str = SECRET) -> list[str]:
    """Names of the texts that hold the key or a 12-character piece of it."""
    needles = [p.encode() for p in pieces(secret)]
    found = []
    for name, text in texts.items():
        data = text.encode("utf-8", "replace") if isinstance(text, str) else text
        if any(n in data for n in needles):
            found.append(name)
    return found


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def _config(path: Path, url: str, *, brain: dict[str, Any] | None = None, remote: dict[str, Any] | None = None) -> Path:
    tools: list[dict[str, Any]] = [
        {"name": "cedar", "backend": "sandbox", "type": "painter", "scores": _LOW, "options": {"profile": "p-cedar"}},
        {"name": "gorse", "backend": "sandbox", "type": "editor", "scores": _TOP_EDIT, "options": {"profile": "e-gorse"}},
        {"name": "checker", "backend": "sandbox", "type": "checker"}]
    if remote is not None:
        tools.insert(0, {"name": "remote", "backend": "openai", "type": "images", "scores": _TOP,
                         "options": {"base_url": url, "model": "flaky-image", "max_retries": 0, "timeout_s": 2, **remote}})
    config: dict[str, Any] = {"agent": {"rounds": 2}, "perf": {"learn": True}, "tools": tools}
    if brain is not None:
        config["brain"] = {"kind": "llm", "base_url": url, "model": "flaky-model", "max_retries": 0, "timeout_s": 2,
                           **brain}
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


#: (name, flaky endpoint script, config kwargs, command after `limner`)
def _cases(url: str, tmp: Path) -> list[tuple[str, list[str], dict[str, Any], list[str]]]:
    env_key = {"api_key_env": KEY_ENV}
    gen = ["generate", "a cat", "--out", "{out}/runs", "--json"]
    return [
        ("brain_echoes_key", ["echo_key"] * 6, {"brain": env_key}, gen),
        ("brain_500_then_ok", ["500", "429", "malformed"], {"brain": env_key}, gen),
        ("images_echo_key", ["echo_key"] * 3, {"remote": env_key}, gen),
        ("both_echo_key", ["echo_key"] * 12, {"brain": env_key, "remote": env_key}, gen),
        ("check_with_llm_brain", ["echo_key"] * 4, {"brain": env_key},
         ["check", str(Path(__file__).parent / "data" / "images" / "alpha.png"), "--prompt", "a red apple", "--json"]),
        ("tools_list", [], {"remote": env_key}, ["tools", "list", "--json"]),
        ("tools_list_table", [], {"remote": env_key}, ["tools", "list"]),
        ("key_pasted_as_env_name", [], {"remote": {"api_key_env": SECRET}}, gen),
        ("key_pasted_in_options", [], {"remote": {**env_key, "api_key": SECRET}}, gen),
        ("key_pasted_in_headers", [], {"remote": {**env_key, "headers": {"Authorization": f"Bearer {SECRET}"}}}, gen),
        ("key_pasted_in_brain", [], {"brain": {"api_key_env": SECRET}}, gen),
        ("debug_tracebacks_on", ["echo_key"] * 6, {"brain": env_key}, gen),
    ]


def secret_cases(endpoint: Any, url: str, tmp: Path, only: set[str] | None = None) -> dict[str, Any]:
    """Run every case (or those named in `only`); returns {"cases": n, "places_scanned": n, "secrets_leaked": n, "leaks": [...]}. The key
    is in the environment as `OPENAI_API_KEY` and as the variable the configs name (`KEY_ENV`)."""
    leaks: list[str] = []
    scanned = 0
    outcomes = {}
    for name, script, kwargs, command in _cases(url, tmp):
        if only is not None and name not in only:
            continue
        case_dir = tmp / name
        case_dir.mkdir(parents=True, exist_ok=True)
        cfg = _config(case_dir / "config.json", url, **kwargs)
        env = {**os.environ, "OPENAI_API_KEY": SECRET, KEY_ENV: SECRET,
               "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
        if name == "debug_tracebacks_on":
            env["LIMNER_DEBUG"] = "1"
        endpoint.load(script)
        args = [a.replace("{out}", str(case_dir)) for a in command]
        res = subprocess.run([sys.executable, "-m", "limner.cli", *args, "--config", str(cfg)], env=env,
                             capture_output=True, timeout=120, check=False)
        texts: dict[str, bytes | str] = {f"{name}:stdout": res.stdout, f"{name}:stderr": res.stderr,
                                         **{f"{name}:{k}": v for k, v in files_under(case_dir / "runs").items()}}
        texts = {k: v for k, v in texts.items() if not k.endswith("config.json")}
        scanned += len(texts)
        leaks += find_leaks(texts)
        outcomes[name] = {"exit_code": res.returncode, "served": list(endpoint.served),
                          "stderr_tail": res.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]}
    return {"cases": len(outcomes), "places_scanned": scanned, "secrets_leaked": len(leaks), "leaks": leaks,
            "outcomes": outcomes}
