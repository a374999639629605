"""Soft-TIFA judging (`limner.tools.soft_tifa`): the yes/no question per atom, p(yes) from the top log-probabilities,
the atom- and prompt-level scores, the hard fallback without log-probabilities, re-asks and atoms left
unjudged, one-line errors without the key, and the tool found through the registry.

No network: the real `openai` client talks to an in-process fake chat-completions server on 127.0.0.1
(FastAPI + uvicorn in a thread, `tests/local_server.py`) that answers each question with the token
probabilities a test gives it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from local_server import dead_url, serve
from PIL import Image

from limner.config import load_config
from limner.reading import parse_prompt
from limner.tools.base import ToolError
from limner.tools.registry import ToolRegistry, default_checker, resolve_tool_class
from limner.tools.soft_tifa import (
    SoftTifaChecker,
    TifaResult,
    atoms,
    geometric_mean,
    read_answer,
)
from limner.tools.vlm_checker import statements
from limner.types import Element, Relation, Scene, ToolCall, Verdict

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
except ImportError:  # pragma: no cover - the HTTP tests skip
    Request = Any  # type: ignore[misc,assignment]

KEY = "sk-limner-tifa-test-SECRET-0123456789abcdef"
ENV = "LIMNER_TEST_TIFA_KEY"
MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
IMAGE = Image.new("RGB", (32, 32), "red")
SCENE = parse_prompt("two red apples left of a blue cup and no dog")

# What the fake judge answers to each of SCENE's seven questions: first-token probabilities (a test may
# override any). The hand-computed p_yes of each is in P_YES below.
ANSWERS: dict[str, dict[str, float]] = {
    "Are there any apples in the image?": {"Yes": 0.9, " yes": 0.05, "No": 0.05},
    "Are there exactly two apples in the image?": {"Yes": 0.6, "yes": 0.1, "No": 0.2, " no": 0.05, "The": 0.05},
    "Are the apples red?": {"Yes": 0.8, "No": 0.2},
    "Is there a cup in the image?": {"Yes": 0.99, "No": 0.01},
    "Is the cup blue?": {"No": 0.7, "Yes": 0.3},
    "Is there a dog in the image?": {"No": 0.9, "Yes": 0.1},
    "Are the apples to the left of the cup?": {"Yes": 0.5, "No": 0.25, "Sure": 0.25},
}
P_YES = [0.95, 0.7 / 0.95, 0.8, 0.99, 0.3, 0.1, 0.5 / 0.75]
#: the probability of the EXPECTED answer: the dog's absence expects "no"
SCORES = [0.95, 0.7 / 0.95, 0.8, 0.99, 0.3, 0.9, 0.5 / 0.75]
GARBAGE = "Hard to say, the picture is small."


def _call(scene: Scene = SCENE, **params: Any) -> ToolCall:
    return ToolCall(tool="judge", params={"scene": scene.model_dump(mode="json"), **params})


# -- the fake OpenAI-compatible server -------------------------------------------------------------------


class FakeJudge:
    """`/v1/chat/completions` answering each question with the most likely token of its distribution.

    `logprobs`: send the top log-probabilities (else the reply carries text only); `garbage[q]`: how many
    more times question `q` gets an answer that is neither yes nor no; `mode` switches HTTP failures."""

    def __init__(self) -> None:
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._chat)
        self.reset()

    def reset(self) -> None:
        self.answers = {q: dict(p) for q, p in ANSWERS.items()}
        self.logprobs = True
        self.garbage: dict[str, int] = {}
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []

    def asked(self, question: str) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if _question_of(r["body"]) == question]

    async def _chat(self, request: Request) -> Any:
        body = await request.json()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if self.mode == "echo-key-401":  # a careless server echoing the credential it rejected
            auth = request.headers.get("authorization", "")
            return JSONResponse({"error": {"message": f"invalid key {auth}"}}, status_code=401)
        if self.mode == "503":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        question = _question_of(body)
        if self.garbage.get(question, 0) > 0:
            self.garbage[question] -= 1
            probs = {"Hard": 0.6, "It": 0.3, "Maybe": 0.1}
            content = GARBAGE
        else:
            probs = self.answers[question]
            content = max(probs, key=probs.__getitem__).strip()
        return _completion(body, content, probs if self.logprobs else None)


def _question_of(body: dict[str, Any]) -> str:
    """The question of the first user turn (a re-ask repeats the conversation before asking again)."""
    text = next(p["text"] for p in body["messages"][0]["content"] if p["type"] == "text")
    return text.split("?")[0] + "?"


def _token(token: str, p: float) -> dict[str, Any]:
    return {"token": token, "logprob": math.log(p), "bytes": list(token.encode())}


def _completion(body: dict[str, Any], content: str, probs: dict[str, float] | None) -> dict[str, Any]:
    logprobs = None
    if probs is not None:
        top = sorted(probs.items(), key=lambda kv: -kv[1])[: body["top_logprobs"]]
        first = max(probs, key=probs.__getitem__)
        logprobs = {"content": [{**_token(first, probs[first]), "top_logprobs": [_token(t, p) for t, p in top]}]}
    return {
        "id": "chatcmpl-tifa",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "logprobs": logprobs, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 90, "completion_tokens": 1, "total_tokens": 91},
    }


@pytest.fixture(scope="module")
def judge_server() -> Iterator[tuple[FakeJudge, str]]:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    fake = FakeJudge()
    with serve(fake.app) as url:
        yield fake, url


@pytest.fixture
def server(judge_server: tuple[FakeJudge, str], monkeypatch: pytest.MonkeyPatch) -> tuple[FakeJudge, str]:
    fake, url = judge_server
    fake.reset()
    monkeypatch.setenv(ENV, KEY)
    return fake, url


def _judge(url: str, **opts: Any) -> SoftTifaChecker:
    return SoftTifaChecker("judge", **{
        "base_url": url, "model": MODEL, "api_key_env": ENV, "api_key_required": True,
        "max_retries": 0, "timeout_s": 5.0, **opts,
    })


def _run(tool: SoftTifaChecker, scene: Scene = SCENE, **params: Any) -> tuple[TifaResult, Verdict]:
    res = tool(_call(scene, **params), image=IMAGE)
    return TifaResult.model_validate(res.meta["tifa"]), Verdict.model_validate(res.meta["verdict"])


# -- atoms and their questions ---------------------------------------------------------------------------


def test_every_statement_becomes_one_yes_no_question() -> None:
    scene = Scene(
        prompt="-",
        elements=[
            Element(id="e0", noun="mugs", cls="mug", count=3, color="blue", texture="wooden", text="HOT"),
            Element(id="e1", noun="man", cls="person", shape="round", size="small"),
            Element(id="e2", noun="dogs", cls="dog", count=0, negated=True),
        ],
        relations=[
            Relation(subject="e0", predicate="left of", object="e1"),
            Relation(subject="e1", predicate="behind", object="e0"),
            Relation(subject="e1", predicate="holding", object="e0"),
        ],
        background="ocean",
        style="watercolor",
    )
    got = [(a.target, a.kind, a.dimension, a.expected, a.question) for a in atoms(scene)]
    assert got == [
        ("e0", "presence", "non_spatial", "yes", "Are there any mugs in the image?"),
        ("e0", "count", "numeracy", "yes", "Are there exactly three mugs in the image?"),
        ("e0", "color", "color", "yes", "Are the mugs blue?"),
        ("e0", "texture", "texture", "yes", "Are the mugs wooden?"),
        ("e0", "text", "text", "yes", 'Do the mugs show the text "HOT"?'),
        ("e1", "presence", "non_spatial", "yes", "Is there a man in the image?"),
        ("e1", "shape", "shape", "yes", "Is the man round?"),
        ("e1", "size", None, "yes", "Is the man small?"),
        ("e2", "absence", "numeracy", "no", "Is there a dog in the image?"),
        ("e0:left_of:e1", "position", "spatial_2d", "yes", "Are the mugs to the left of the man?"),
        ("e1:behind:e0", "depth", "spatial_3d", "yes", "Is the man behind the mugs?"),
        ("e1:holding:e0", "action", "non_spatial", "yes", "Is the man holding the mugs?"),
        ("scene", "background", None, "yes", "Does the image have an ocean background?"),
        ("scene", "style", None, "yes", "Is the image in a watercolor style?"),
    ]
    # One atom per statement of the VLM checker, in its order: the two judges check the same parts.
    assert [(a.target, a.kind) for a in atoms(scene)] == [s.key for s in statements(scene)]
    assert [a.question for a in atoms(SCENE)] == list(ANSWERS)


def test_reading_an_answer_from_log_probabilities_or_text() -> None:
    def tok(token: str, logprob: float, top: list[tuple[str, float]]) -> SimpleNamespace:
        alts = [SimpleNamespace(token=t, logprob=math.log(p)) for t, p in top]
        return SimpleNamespace(token=token, logprob=logprob, top_logprobs=alts)

    # Markup before the word is skipped; "YES"/" yes" fold into yes; a token absent from its own top list counts.
    tokens = [tok("**", 0.0, [("**", 1.0)]), tok("YES", math.log(0.2), [(" yes", 0.4), ("No", 0.2), ("I", 0.2)])]
    r = read_answer("**YES**", tokens)
    assert r is not None and r.soft and r.p_yes == pytest.approx(0.6 / 0.8) and r.mass == pytest.approx(0.8)
    # Rounded log-probabilities adding up to more than 1 still make a probability.
    over = read_answer("Yes", [tok("Yes", math.log(0.75), [("Yes", 0.75), ("No", 0.2500001)])])
    assert over is not None and over.mass == 1.0 and over.p_yes == pytest.approx(0.75 / 1.0000001)
    hard = read_answer(" No, there is none.", None)
    assert hard is not None and (hard.p_yes, hard.mass, hard.soft) == (0.0, None, False)
    # Log-probabilities with no yes/no form among them fall back to the text; neither is no reading.
    assert read_answer("Yes.", [tok("Yes.", 0.0, [("Yes.", 1.0)])]) is not None
    assert read_answer("The image shows a cup", [tok("The", 0.0, [("The", 1.0)])]) is None
    assert read_answer("Yesterday", None) is None and read_answer(None, None) is None
    assert geometric_mean([0.5, 0.125]) == pytest.approx(0.25) and geometric_mean([0.9, 0.0]) == 0.0


# -- soft scores and their aggregation, through HTTP -----------------------------------------------------


def test_soft_scores_come_from_the_top_log_probabilities(server: tuple[FakeJudge, str]) -> None:
    fake, url = server
    tifa, verdict = _run(_judge(url))
    assert [a.p_yes for a in tifa.atoms] == pytest.approx(P_YES, rel=1e-9)
    assert [a.score for a in tifa.atoms] == pytest.approx(SCORES, rel=1e-9)
    assert [a.yes_no_mass for a in tifa.atoms] == pytest.approx([1.0, 0.95, 1.0, 1.0, 1.0, 1.0, 0.75], rel=1e-9)
    assert all(a.soft and a.judged and a.asks == 1 for a in tifa.atoms)
    assert [a.passed for a in tifa.atoms] == [True, True, True, True, False, True, True]
    assert [a.answer for a in tifa.atoms] == ["Yes", "Yes", "Yes", "Yes", "No", "No", "Yes"]
    assert tifa.model == MODEL and tifa.soft_atoms == 7 and tifa.requests == 7 == len(fake.requests)
    # One request per atom, asking for what Soft-TIFA reads: the first token's top-5 log-probabilities.
    body = fake.requests[0]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 5 and body["max_tokens"] == 4
    assert body["model"] == MODEL and body["temperature"] == 0.0
    content = body["messages"][0]["content"]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert content[1]["text"].endswith("Answer with one word: yes or no.")
    # The verdict: one check per atom, its score the probability, its evidence saying so.
    assert [(c.target, c.kind, c.score) for c in verdict.checks] == [
        (a.target, a.kind, a.score) for a in tifa.atoms
    ]
    cup = verdict.checks[4]
    assert (cup.target, cup.kind, cup.passed, cup.dimension) == ("e1", "color", False, "color")
    assert "p(yes) = 0.300 from the log-probabilities" in cup.evidence and "Is the cup blue?" in cup.evidence
    assert "expected no" in verdict.checks[5].evidence
    assert verdict.evaluator == f"soft_tifa:{MODEL}" and not verdict.passed


def test_atom_and_prompt_level_scores(server: tuple[FakeJudge, str]) -> None:
    _, url = server
    tifa, verdict = _run(_judge(url), lam=0.25)
    # Soft-TIFA AM (atom level) and GM (prompt level), by hand: 5.3436.../7 and the 7th root of the product.
    am = (0.95 + 0.7 / 0.95 + 0.8 + 0.99 + 0.3 + 0.9 + 0.5 / 0.75) / 7
    gm = (0.95 * (0.7 / 0.95) * 0.8 * 0.99 * 0.3 * 0.9 * (0.5 / 0.75)) ** (1 / 7)
    assert tifa.atom_score == pytest.approx(am, rel=1e-9) == pytest.approx(0.763358395989975, rel=1e-9)
    assert tifa.prompt_score == pytest.approx(gm, rel=1e-9) == pytest.approx(0.7194716326666896, rel=1e-9)
    assert not tifa.prompt_correct  # the cup is not blue
    assert (tifa.judged, tifa.not_judged) == (7, 0)
    assert verdict.global_score == pytest.approx(gm, rel=1e-9) and verdict.lam == 0.25
    assert verdict.score == pytest.approx(0.25 * gm + 0.75 * am, rel=1e-9)


def test_a_prompt_is_correct_only_when_every_atom_passes(server: tuple[FakeJudge, str]) -> None:
    fake, url = server
    fake.answers["Is the cup blue?"] = {"Yes": 0.5, "No": 0.5}  # exactly at the threshold: passes
    tifa, verdict = _run(_judge(url))
    assert tifa.atoms[4].p_yes == pytest.approx(0.5) and tifa.atoms[4].passed
    assert tifa.prompt_correct and verdict.passed and verdict.coverage == 1.0


def test_raw_scores_are_the_share_of_the_whole_first_token(server: tuple[FakeJudge, str]) -> None:
    _, url = server
    tifa, _ = _run(_judge(url, soft_score="raw"))
    raw = [0.95, 0.7, 0.8, 0.99, 0.3, 0.9, 0.5]
    assert [a.score for a in tifa.atoms] == pytest.approx(raw, rel=1e-9)
    assert [a.p_yes for a in tifa.atoms] == pytest.approx(P_YES, rel=1e-9)  # p_yes stays normalised
    assert tifa.atom_score == pytest.approx(0.7342857142857143, rel=1e-9)
    assert tifa.prompt_score == pytest.approx(0.6854613030328586, rel=1e-9)


def test_without_log_probabilities_the_answer_text_decides_and_is_flagged(server: tuple[FakeJudge, str]) -> None:
    fake, url = server
    fake.logprobs = False
    tifa, verdict = _run(_judge(url))
    assert [a.p_yes for a in tifa.atoms] == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    assert [a.score for a in tifa.atoms] == [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    assert not any(a.soft for a in tifa.atoms) and tifa.soft_atoms == 0
    assert all(a.yes_no_mass is None for a in tifa.atoms)
    assert tifa.atom_score == pytest.approx(6 / 7) and tifa.prompt_score == 0.0 and not tifa.prompt_correct
    assert "from the answer text (no log-probabilities)" in verdict.checks[0].evidence


def test_an_empty_scene_asks_nothing_and_is_never_correct(server: tuple[FakeJudge, str]) -> None:
    fake, url = server
    tifa, verdict = _run(_judge(url), Scene(prompt="something"))
    assert fake.requests == [] and tifa.atoms == [] and (tifa.judged, tifa.requests) == (0, 0)
    assert (tifa.atom_score, tifa.prompt_score, tifa.prompt_correct) == (None, None, False)
    assert verdict.checks == [] and not verdict.passed


# -- answers that are neither yes nor no -----------------------------------------------------------------


def test_an_unparseable_answer_is_asked_again_then_accepted(server: tuple[FakeJudge, str]) -> None:
    fake, url = server
    fake.garbage["Is the cup blue?"] = 1
    tifa, _ = _run(_judge(url))
    cup = tifa.atoms[4]
    assert cup.judged and cup.asks == 2 and cup.p_yes == pytest.approx(0.3) and tifa.requests == 8
    again = fake.asked("Is the cup blue?")[1]["messages"]
    assert [m["role"] for m in again] == ["user", "assistant", "user"]
    assert again[1]["content"] == GARBAGE and "exactly one word: yes or no" in again[2]["content"]


def test_an_atom_never_answered_is_not_judged_and_the_verdict_cannot_pass(server: tuple[FakeJudge, str]) -> None:
    fake, url = server
    fake.answers["Is the cup blue?"] = {"Yes": 0.9, "No": 0.1}  # every answered atom passes
    fake.garbage["Is the cup blue?"] = 99
    tifa, verdict = _run(_judge(url, answer_retries=2))
    cup = tifa.atoms[4]
    assert not cup.judged and not cup.passed and cup.asks == 3 == len(fake.asked("Is the cup blue?"))
    assert (cup.p_yes, cup.score, cup.answer) == (None, None, GARBAGE)
    assert cup.problem == f"no yes/no answer after 3 ask(s); last answer {GARBAGE!r}"
    assert (tifa.judged, tifa.not_judged, tifa.requests) == (6, 1, 9)
    others = [s for i, s in enumerate(SCORES) if i != 4]
    assert tifa.atom_score == pytest.approx(sum(others) / 6, rel=1e-9)
    assert tifa.prompt_score is None and not tifa.prompt_correct
    # Six passed checks and one part not checked: the verdict does not claim the prompt is shown.
    assert len(verdict.checks) == 6 and verdict.checks_passed and not verdict.passed
    assert verdict.unsupported == [f"e1/color: not judged ({cup.problem})"]
    assert verdict.coverage == pytest.approx(6 / 7)


def test_a_judge_that_answers_nothing_is_a_tool_error(server: tuple[FakeJudge, str]) -> None:
    fake, url = server
    fake.garbage = dict.fromkeys(ANSWERS, 99)
    with pytest.raises(ToolError, match=r"no valid yes/no answer to any of the 7 questions after 2 ask\(s\) each"
                       ) as err:
        _judge(url, answer_retries=1)(_call(), image=IMAGE)
    assert "\n" not in str(err.value) and len(fake.requests) == 14


# -- errors, keys, configuration -------------------------------------------------------------------------


def test_http_errors_are_one_line_and_never_carry_the_key(
    server: tuple[FakeJudge, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = server
    caplog.set_level(logging.DEBUG)
    tool = _judge(url, parallel_requests=1)
    fake.mode = "echo-key-401"
    with pytest.raises(ToolError, match=r"HTTP 401: invalid key Bearer \*\*\* \(check the key in \$") as e401:
        tool(_call(), image=IMAGE)
    assert fake.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"
    fake.mode = "503"
    with pytest.raises(ToolError, match="HTTP 503: overloaded") as e503:
        tool(_call(), image=IMAGE)
    with pytest.raises(ToolError, match="cannot reach the endpoint") as down:
        _judge(dead_url())(_call(), image=IMAGE)
    errors = [str(e.value) for e in (e401, e503, down)]
    assert all("\n" not in m and KEY not in m for m in errors)
    for text in [repr(tool), repr(tool.settings), json.dumps(tool.options), *(r.getMessage() for r in caplog.records)]:
        assert KEY not in text


def test_a_missing_key_and_a_server_without_one(server: tuple[FakeJudge, str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = server
    monkeypatch.delenv(ENV)
    with pytest.raises(ToolError, match=f"environment variable {ENV} is not set"):
        _judge(url)(_call(), image=IMAGE)
    assert "LIMNER_TEST_TIFA_KEY" in (_judge(url).unavailable_reason() or "")
    local = _judge(url, api_key_required=None)  # a local server: no key needed, none sent
    assert local.unavailable_reason() is None
    tifa, _ = _run(local)
    assert tifa.judged == 7 and all("authorization" not in r["headers"] for r in fake.requests)


def test_bad_options_and_calls() -> None:
    with pytest.raises(ValueError, match="options.model is required"):
        SoftTifaChecker("judge")
    with pytest.raises(ValueError, match="output_mode"):  # a vlm_checker option, not one of soft_tifa's
        SoftTifaChecker("judge", model="m", output_mode="tool")
    with pytest.raises(ValueError, match="must be an http"):
        SoftTifaChecker("judge", model="m", base_url="localhost:8000")
    tool = SoftTifaChecker("judge", model="m", base_url=dead_url())
    with pytest.raises(ToolError, match="needs an image"):
        tool(_call())
    with pytest.raises(ToolError, match=r"params\['lam'\] must be a number in \[0, 1\]"):
        tool(_call(lam=3), image=IMAGE)


def test_the_registry_builds_it_from_a_config(server: tuple[FakeJudge, str], tmp_path: Path) -> None:
    _, url = server
    assert resolve_tool_class("openai", "soft_tifa") is SoftTifaChecker
    entry = {"name": "judge", "backend": "openai", "type": "soft_tifa",
             "options": {"base_url": url, "model": MODEL, "api_key_env": ENV, "max_retries": 0}}
    path = tmp_path / "tifa.yaml"
    path.write_text(yaml.safe_dump({"tools": [entry]}))
    registry = ToolRegistry.from_config(load_config(path))
    judge = registry.get("judge")
    assert isinstance(judge, SoftTifaChecker) and judge.kind == "check" and not judge.loaded
    assert default_checker(registry.by_name()) is judge
    tifa = TifaResult.model_validate(judge(_call(), image=IMAGE).meta["tifa"])
    assert tifa.judged == 7 and tifa.prompt_score == pytest.approx(0.7194716326666896, rel=1e-9)


def test_the_evaluation_harness_reports_soft_tifa_scores(server: tuple[FakeJudge, str], tmp_path: Path) -> None:
    """`limner eval` with a soft_tifa judge: one question per atom of GenEval's metadata, the atom- and
    prompt-level scores averaged over images in the report."""
    from collections import defaultdict  # noqa: PLC0415

    from limner.eval import EvalJob, GenEvalSuite, load_run, run_eval, score_records  # noqa: PLC0415

    fake, url = server
    fake.answers = defaultdict(lambda: {"Yes": 0.8, "No": 0.2})
    meta = tmp_path / "m.jsonl"
    meta.write_text('{"tag": "colors", "include": [{"class": "cup", "count": 1, "color": "blue"}], '
                    '"prompt": "a photo of a blue cup"}\n')
    entry = {"name": "judge", "backend": "openai", "type": "soft_tifa",
             "options": {"base_url": url, "model": MODEL, "api_key_env": ENV, "max_retries": 0}}
    painter = {"name": "alder", "backend": "sandbox", "type": "painter", "options": {"profile": "p-alder"}}
    path = tmp_path / "tifa.yaml"
    path.write_text(yaml.safe_dump({"tools": [painter, entry]}))
    suite = GenEvalSuite(meta)
    job = EvalJob.build(suite, load_config(path), images_per_prompt=2, generator="alder", judge="judge")
    assert job.protocol.judge["tool"] == "judge" and job.protocol.judge["config"]["type"] == "soft_tifa"
    run_eval(job, suite, tmp_path / "out")
    run = load_run([tmp_path / "out"])
    scores = score_records(run.protocol, run.records.values())
    assert scores["soft_tifa"]["atom_score"]["mean"] == pytest.approx(0.8)
    assert scores["soft_tifa"]["prompt_score"]["mean"] == pytest.approx(0.8)
    assert scores["soft_tifa"]["atom_score"]["n"] == 2
    assert scores["geneval"]["overall"] == 1.0
    assert len(fake.requests) == 4  # two atoms (presence, colour) × two images
