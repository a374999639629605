"""Soft-TIFA judging: one yes/no question per atom of the scene, scored by the judge's probability of "yes".

GenEval 2 (Kamath et al., 2025, arXiv:2512.16853; github.com/facebookresearch/GenEval2) replaced GenEval's
detector-and-CLIP judge, which drifted away from human judgment as generators improved, with Soft-TIFA: a
VQA model is asked one question per *atom* of the prompt (an object, a count, an attribute, a relation), each
answer is scored softly by the probability the model gives the correct answer, and the scores are
aggregated twice — the arithmetic mean per prompt estimates atom-level correctness ("Soft-TIFA AM"), the
geometric mean estimates prompt-level correctness ("Soft-TIFA GM"). `docs/tifa.md` says what is followed
and what differs here, with its sources.

Here the atoms are limner's own checkable statements (`limner.tools.vlm_checker.statements`: one per
element presence/absence, count, attribute and text, one per relation, plus background and style), so a
Soft-TIFA verdict has the same targets, kinds and dimensions as the `vlm_checker`'s and feeds the
Evaluator, the repairs and the performance matrix alike. Every atom becomes a yes/no question; an absence
atom asks the positive question ("Is there a dog in the image?") and expects "no", because vision models
answer negated questions badly.

    call = ToolCall(tool=name, params={"scene": <Scene JSON or dict>, "lam": 0.5})
    result = judge(call, image=image)   # meta["verdict"]: Verdict JSON; meta["tifa"]: TifaResult JSON

How an atom is judged: one chat request with the image and the question (`logprobs=True,
top_logprobs=5`, a few tokens at most). p(yes) is read from the top log-probabilities of the answer's
first word token, summing the surface forms of each answer ("Yes", "yes", " yes", ...):
p_yes = P(yes) / (P(yes) + P(no)). A server that returns no log-probabilities still gets judged from the
answer's text (yes → 1, no → 0), flagged `soft: false`. An answer that is neither yes nor no is asked again
(`answer_retries` times); after that the atom is *not judged*: it becomes an unchecked part of the verdict,
never a passed check, because a verdict never claims more than it checked.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from limner.tools.base import Tool, ToolError, parse_options
from limner.tools.openai_client import OpenAISettings, Secret, redact, server_message
from limner.tools.vlm_checker import (
    AnswerKind,
    ChatJudgeOptions,
    Statement,
    lam_param,
    scene_param,
    statements,
    vision_url,
)
from limner.types import Check, Element, Scene, ToolCall, ToolResult, Verdict

if TYPE_CHECKING:  # pragma: no cover
    import openai

__all__ = [
    "TOOL_TYPES",
    "Atom",
    "AtomResult",
    "Reading",
    "SoftTifaChecker",
    "SoftTifaOptions",
    "TifaResult",
    "atoms",
    "geometric_mean",
    "read_answer",
    "summarise",
    "to_verdict",
]

YesNo = Literal["yes", "no"]
SoftScore = Literal["normalized", "raw"]

#: An atom passes when the judge gives its expected answer at least this probability.
PASS_AT = 0.5
_EVIDENCE_CHARS = 300
_ANSWER_CHARS = 200
_ASK = "Answer with one word: yes or no."
_REASK = "That was not a yes or no. Answer the question with exactly one word: yes or no."


# ----------------------------------------------------------------------------------------------------
# Atoms: one yes/no question per statement of the scene
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """One checkable part of the scene as a yes/no question, and the answer that means it holds."""

    statement: Statement
    question: str
    expected: YesNo = "yes"

    @property
    def target(self) -> str:
        return self.statement.target

    @property
    def kind(self) -> AnswerKind:
        return self.statement.kind

    @property
    def dimension(self) -> str | None:
        return self.statement.dimension


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
#: 2D predicates read as English after "is the X ..." ("left of" alone is a caption, not a question).
_PREDICATE_WORDS = {"left of": "to the left of", "right of": "to the right of"}


def _number(n: int) -> str:
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def _a(phrase: str) -> str:
    return f"{'an' if phrase[:1].lower() in 'aeiou' else 'a'} {phrase}"


def _plural(e: Element) -> bool:
    return e.count > 1


def _the(e: Element) -> str:
    """"the man", "the apples": the prompt's own words, so that the question asks what the prompt asked
    (a man, not any person, which the canonical class would accept)."""
    return f"the {e.noun}"


def _be(e: Element) -> str:
    return "Are" if _plural(e) else "Is"


def _element_question(e: Element, kind: AnswerKind) -> tuple[str, YesNo]:
    attribute = {"color": e.color, "texture": e.texture, "shape": e.shape, "size": e.size}
    if kind == "absence":  # the class, singular: "no dogs" asks "Is there a dog in the image?", expecting no
        return f"Is there {_a(e.cls)} in the image?", "no"
    if kind == "presence":
        if _plural(e):
            return f"Are there any {e.noun} in the image?", "yes"
        return f"Is there {_a(e.noun)} in the image?", "yes"
    if kind == "count":
        return f"Are there exactly {_number(e.count)} {e.noun} in the image?", "yes"
    if kind == "text":
        verb = "Do" if _plural(e) else "Does"
        return f'{verb} {_the(e)} show the text "{e.text}"?', "yes"
    if kind in attribute:
        return f"{_be(e)} {_the(e)} {attribute[kind]}?", "yes"
    raise ValueError(f"no question for an element statement of kind {kind!r}")


def _relation_question(st: Statement, scene: Scene) -> tuple[str, YesNo]:
    r = next(r for r in scene.relations if r.id == st.target)
    s, o = scene.element(r.subject), scene.element(r.object)
    predicate = _PREDICATE_WORDS.get(r.predicate, r.predicate)
    return f"{_be(s)} {_the(s)} {predicate} {_the(o)}?", "yes"


def _scene_question(st: Statement, scene: Scene) -> tuple[str, YesNo]:
    if st.kind == "background":
        return f"Does the image have {_a(scene.background or '')} background?", "yes"
    return f"Is the image in {_a(scene.style or '')} style?", "yes"


def _question(st: Statement, scene: Scene) -> tuple[str, YesNo]:
    if st.target == "scene":
        return _scene_question(st, scene)
    if st.kind in ("position", "depth", "action"):
        return _relation_question(st, scene)
    return _element_question(scene.element(st.target), st.kind)


def atoms(scene: Scene) -> list[Atom]:
    """The scene's atoms, one per `statements(scene)` entry and in that order, each as a yes/no question."""
    return [Atom(st, *_question(st, scene)) for st in statements(scene)]


# ----------------------------------------------------------------------------------------------------
# Reading an answer: p(yes) from the first word token's top log-probabilities, or from the text
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What one reply says about an atom. `p_yes` is P(yes)/(P(yes)+P(no)); `mass` is P(yes)+P(no) among
    the top tokens (None when it came from the text alone, `soft` false)."""

    answer: str
    p_yes: float
    mass: float | None
    soft: bool


_ANSWER_WORD = re.compile(r"^[\W_]*(yes|no)\b", re.IGNORECASE)
#: Tokens that carry no word (whitespace, markdown, quotes): skipped to find the answer's first word.
_NO_WORD = re.compile(r"^[\W_]*$")


def _yes_or_no(token: str) -> YesNo | None:
    """"Yes", " yes", "YES", "**Yes" are yes; the same for no; anything else is neither."""
    word = token.strip().strip("*_`\"'.,:;!").lower()
    if word == "yes":
        return "yes"
    return "no" if word == "no" else None


def _soft(tokens: Sequence[Any] | None) -> tuple[float, float] | None:
    """(p_yes, mass) from the answer's first word token and its top alternatives, or None when there
    are no log-probabilities or no yes/no form among them (a reply that starts "The image...")."""
    word = next((t for t in tokens or () if not _NO_WORD.match(t.token or "")), None)
    if word is None:
        return None
    candidates = {alt.token: alt.logprob for alt in (word.top_logprobs or ())}
    candidates.setdefault(word.token, word.logprob)  # a sampled token may be missing from its top list
    p = {"yes": 0.0, "no": 0.0}
    for token, logprob in candidates.items():
        side = _yes_or_no(token)
        if side is not None and logprob is not None:
            p[side] += math.exp(logprob)
    total = p["yes"] + p["no"]
    # Servers round their log-probabilities, so the top tokens may add up to a hair over 1.
    return (p["yes"] / total, min(total, 1.0)) if total > 0 else None


def read_answer(content: str | None, tokens: Sequence[Any] | None) -> Reading | None:
    """The reading of one reply (`content`, and the `logprobs.content` token list when the server sent
    one), or None when it is neither a yes nor a no: then the atom is asked again."""
    answer = " ".join((content or "").split())[:_ANSWER_CHARS]
    soft = _soft(tokens)
    if soft is not None:
        return Reading(answer, soft[0], soft[1], soft=True)
    hard = _ANSWER_WORD.match(answer)
    if hard is None:
        return None
    return Reading(answer, 1.0 if hard.group(1).lower() == "yes" else 0.0, None, soft=False)


def expected_probability(reading: Reading, expected: YesNo, mode: SoftScore) -> float:
    """The probability of the answer that means the atom holds: normalised over yes+no, or (`raw`) as the
    share of the whole first-token distribution, GenEval 2's own quantity."""
    p = reading.p_yes if expected == "yes" else 1.0 - reading.p_yes
    return p * reading.mass if mode == "raw" and reading.mass is not None else p


# ----------------------------------------------------------------------------------------------------
# Results and their aggregation
# ----------------------------------------------------------------------------------------------------


class AtomResult(BaseModel):
    """How one atom was judged. `score` is the probability of the expected answer (p_yes for every atom
    but an absence, whose expected answer is "no"); None when the atom was not judged."""

    model_config = ConfigDict(extra="forbid")

    question: str
    kind: AnswerKind
    target: str
    dimension: str | None
    expected: YesNo
    answer: str | None = Field(description="the judge's last reply, one line")
    p_yes: float | None = Field(ge=0, le=1, description="P(yes)/(P(yes)+P(no)); 1/0 from the text if not soft")
    yes_no_mass: float | None = Field(ge=0, le=1, description="P(yes)+P(no) among the top tokens")
    soft: bool = Field(description="p_yes came from log-probabilities, not from the answer text")
    score: float | None = Field(ge=0, le=1)
    passed: bool
    judged: bool
    asks: int = Field(ge=0, description="requests sent for this atom (1 + re-asks)")
    problem: str | None = Field(default=None, description="why the atom was not judged")


class TifaResult(BaseModel):
    """A Soft-TIFA judgement of one image (`result.meta["tifa"]`).

    `atom_score`: mean score over the judged atoms (Soft-TIFA AM). `prompt_score`: geometric mean of the
    scores (Soft-TIFA GM), None unless every atom was judged: a prompt-level score over part of the prompt
    would claim more than was checked. `prompt_correct`: every atom judged and passed (and at least one)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    soft_score: SoftScore
    atoms: list[AtomResult]
    atom_score: float | None
    prompt_score: float | None
    prompt_correct: bool
    judged: int
    not_judged: int
    soft_atoms: int
    requests: int


def geometric_mean(values: Sequence[float]) -> float:
    """exp(mean(log v)); 0 when any value is 0 (one impossible atom makes the prompt impossible)."""
    if not values:
        raise ValueError("geometric mean of nothing")
    if min(values) <= 0.0:
        return 0.0
    return math.exp(sum(math.log(v) for v in values) / len(values))


def summarise(results: list[AtomResult], model: str, mode: SoftScore) -> TifaResult:
    """The atom- and prompt-level scores of one image's atom results."""
    scores = [r.score for r in results if r.judged and r.score is not None]
    complete = bool(results) and len(scores) == len(results)
    return TifaResult(
        model=model,
        soft_score=mode,
        atoms=results,
        atom_score=sum(scores) / len(scores) if scores else None,
        prompt_score=geometric_mean(scores) if complete else None,
        prompt_correct=complete and all(r.passed for r in results),
        judged=len(scores),
        not_judged=len(results) - len(scores),
        soft_atoms=sum(r.soft for r in results if r.judged),
        requests=sum(r.asks for r in results),
    )


def _evidence(r: AtomResult) -> str:
    how = "from the log-probabilities" if r.soft else "from the answer text (no log-probabilities)"
    expect = "" if r.expected == "yes" else ", expected no"
    text = f'asked "{r.question}", answered "{r.answer}": p(yes) = {r.p_yes:.3f} {how}{expect}'
    return text[:_EVIDENCE_CHARS]


def to_verdict(tifa: TifaResult, scene: Scene, lam: float, evaluator: str) -> Verdict:
    """The limner Verdict: one Check per judged atom; every atom not judged is an unchecked part, beside
    the scene's own unsupported parts, so such a verdict cannot pass. Its global score is the geometric
    mean over the judged atoms (0 when none was judged)."""
    checks = [
        Check(target=r.target, kind=r.kind, passed=r.passed, score=r.score, evidence=_evidence(r),
              dimension=r.dimension)
        for r in tifa.atoms if r.judged and r.score is not None
    ]
    unjudged = [f"{r.target}/{r.kind}: not judged ({r.problem})" for r in tifa.atoms if not r.judged]
    global_score = geometric_mean([c.score for c in checks]) if checks else 0.0
    return Verdict.combine(
        global_score, checks, lam=lam, unsupported=[*scene.unsupported, *scene.unjudged_readings, *unjudged],
        evaluator=evaluator
    )


# ----------------------------------------------------------------------------------------------------
# The tool
# ----------------------------------------------------------------------------------------------------


class SoftTifaOptions(ChatJudgeOptions):
    """Options of the `soft_tifa` tool: the VLM judges' endpoint options plus how an atom is asked."""

    max_tokens: int = Field(default=4, ge=1, le=64, description="a yes or no needs one token; a few allow markup")
    top_logprobs: int = Field(default=5, ge=1, le=20, description="alternatives read for the first token")
    soft_score: SoftScore = Field(
        default="normalized",
        description="normalized: P(yes)/(P(yes)+P(no)); raw: P(expected answer) as GenEval 2 scores it",
    )
    parallel_requests: int = Field(default=4, ge=1, le=32, description="atoms asked at the same time")


class SoftTifaChecker(Tool):
    """Judges an image atom by atom (Soft-TIFA) with a VLM over an OpenAI-compatible chat endpoint."""

    kind = "check"
    backend: ClassVar[str] = "openai"
    default_dims = ()

    def __init__(
        self, name: str, *, description: str = "", dims: list[str] | None = None, cost: float = 1.0,
        **options: Any,
    ) -> None:
        super().__init__(name, description=description, dims=dims, cost=cost, **options)
        self.opts = parse_options(SoftTifaOptions, name, options, "soft_tifa")
        if not self.opts.model:
            raise ValueError(
                f"tool {name!r}: options.model is required (the model name the server serves, "
                "e.g. gpt-4.1-mini or Qwen/Qwen2.5-VL-7B-Instruct)"
            )
        self.settings: OpenAISettings = self.opts.endpoint(name, "soft_tifa", self.opts.model)
        self._key: Secret | None = None
        self._sdk: openai.OpenAI | None = None

    @property
    def model_name(self) -> str:
        return self.settings.model

    @property
    def _who(self) -> str:
        return f"checker {self.name!r} ({self.model_name} at {self.settings.base_url})"

    def unavailable_reason(self) -> str | None:
        """Why this judge cannot run here (missing package or key), or None. Sends nothing."""
        if importlib.util.find_spec("openai") is None:
            return "missing package openai: pip install 'limner[llm]'"
        return self.settings.missing_key()

    # -- lifecycle -------------------------------------------------------------------------------

    def setup(self) -> None:
        """Read the key now (a missing one is a ToolError naming the variable) and build the SDK client."""
        if importlib.util.find_spec("openai") is None:
            raise ToolError(f"checker {self.name!r} needs the openai package: pip install 'limner[llm]'")
        self._key = self.settings.api_key()
        self._sdk = self.settings.openai_client(self._key)

    def unload(self) -> None:
        if self._sdk is not None:
            self._sdk.close()
            self._sdk = None
        self._key = None  # read again on the next setup: a rotated key is picked up
        super().unload()

    # -- the call --------------------------------------------------------------------------------

    def _run(self, call: ToolCall, image: Image.Image | None, mask: Image.Image | None) -> ToolResult:
        who = f"checker {self.name!r}"
        if image is None:
            raise ToolError(f"{who} needs an image to judge")
        scene = scene_param(call, who)
        lam = lam_param(call, self.opts.lam, who)
        asked = atoms(scene)
        tifa = summarise(self._judge_all(asked, vision_url(image, self.opts.max_image_side)),
                         self.model_name, self.opts.soft_score)
        if asked and tifa.judged == 0:
            last = tifa.atoms[-1]
            raise self._fail(
                f"{self._who}: no valid yes/no answer to any of the {len(asked)} questions after "
                f"{self.opts.answer_retries + 1} ask(s) each; last answer: {last.answer!r}"
            )
        verdict = to_verdict(tifa, scene, lam, evaluator=f"soft_tifa:{self.model_name}")
        meta: dict[str, Any] = {
            "verdict": verdict.model_dump(mode="json"),
            "tifa": tifa.model_dump(mode="json"),
            "model": self.model_name,
            "requests": tifa.requests,
        }
        return ToolResult(tool=self.name, meta=meta)

    def _judge_all(self, asked: list[Atom], image_url: str) -> list[AtomResult]:
        """Every atom judged, in order; `parallel_requests` at a time. The first ToolError (endpoint down,
        HTTP error) cancels the atoms not yet sent and is raised."""
        if not asked:
            return []
        workers = min(self.opts.parallel_requests, len(asked))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"tifa-{self.name}") as pool:
            futures = [pool.submit(self._judge, atom, image_url) for atom in asked]
            return _results_or_cancel(futures)

    def _judge(self, atom: Atom, image_url: str) -> AtomResult:
        """Ask one atom, re-asking after a reply that is neither yes nor no, at most `answer_retries` times."""
        messages: list[dict[str, Any]] = [{
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": image_url}},
                {"type": "text", "text": f"{atom.question} {_ASK}"},
            ],
        }]
        content: str | None = None
        asks = self.opts.answer_retries + 1
        for ask in range(1, asks + 1):
            content, tokens = self._chat(messages)
            reading = read_answer(content, tokens)
            if reading is not None:
                return self._judged(atom, reading, asks=ask)
            messages += [{"role": "assistant", "content": content or ""}, {"role": "user", "content": _REASK}]
        answer = " ".join((content or "").split())[:_ANSWER_CHARS]
        return AtomResult(
            question=atom.question, kind=atom.kind, target=atom.target, dimension=atom.dimension,
            expected=atom.expected, answer=answer, p_yes=None, yes_no_mass=None, soft=False, score=None,
            passed=False, judged=False, asks=asks,
            problem=f"no yes/no answer after {asks} ask(s); last answer {answer!r}",
        )

    def _judged(self, atom: Atom, reading: Reading, asks: int) -> AtomResult:
        score = expected_probability(reading, atom.expected, self.opts.soft_score)
        return AtomResult(
            question=atom.question, kind=atom.kind, target=atom.target, dimension=atom.dimension,
            expected=atom.expected, answer=reading.answer, p_yes=reading.p_yes, yes_no_mass=reading.mass,
            soft=reading.soft, score=score, passed=score >= PASS_AT, judged=True, asks=asks,
        )

    def _chat(self, messages: list[dict[str, Any]]) -> tuple[str | None, list[Any] | None]:
        """One chat completion: the reply's text and its first choice's token log-probabilities (None
        when the server sent none)."""
        import openai  # noqa: PLC0415 - optional (limner[llm]); setup() has loaded it already

        o = self.opts
        kwargs: dict[str, Any] = {
            "model": self.model_name, "messages": messages, "max_tokens": o.max_tokens,
            "logprobs": True, "top_logprobs": o.top_logprobs,
        }
        if o.temperature is not None:
            kwargs["temperature"] = o.temperature
        # A server that takes no key gets no Authorization header (the SDK would send a placeholder).
        headers = None if self._key else {"Authorization": openai.omit}
        assert self._sdk is not None
        with self._sdk_errors():
            reply = self._sdk.chat.completions.create(**kwargs, extra_headers=headers)
        return self._message(reply)

    def _message(self, reply: Any) -> tuple[str | None, list[Any] | None]:
        from openai.types.chat import ChatCompletion  # noqa: PLC0415 - optional (limner[llm]), as above

        if not isinstance(reply, ChatCompletion) or not reply.choices:
            raise self._fail(f"{self._who}: malformed reply (no choices[0] in the JSON)")
        choice = reply.choices[0]
        tokens = choice.logprobs.content if choice.logprobs is not None else None
        return choice.message.content, tokens

    @contextmanager
    def _sdk_errors(self) -> Iterator[None]:
        """The SDK's exceptions (after its own retries) as one-line ToolErrors without the key."""
        import openai  # noqa: PLC0415 - optional (limner[llm]); setup() has loaded it already

        o = self.opts
        try:
            yield
        except openai.APITimeoutError:
            raise self._fail(
                f"{self._who}: timed out after {o.timeout_s:g} s ({o.max_retries + 1} attempt(s))"
            ) from None
        except openai.APIConnectionError as e:
            cause = e.__cause__ or e
            raise self._fail(
                f"{self._who}: cannot reach the endpoint ({type(cause).__name__}: {_first_line(cause)}; "
                "is the server running?)"
            ) from None
        except openai.APIStatusError as e:
            detail = server_message(e.body) or e.response.text[:300]
            hint = f" (check the key in ${o.api_key_env})" if e.status_code in (401, 403) else ""
            raise self._fail(f"{self._who}: HTTP {e.status_code}: {detail}{hint}") from None
        except ValueError as e:  # a reply that claims to be JSON and is not
            raise self._fail(f"{self._who}: malformed reply (not JSON): {_first_line(e)}") from None

    def _fail(self, message: str) -> ToolError:
        """A one-line ToolError whose text cannot carry the key, whatever the server or the SDK put in it."""
        text = " ".join(message.split())
        now = os.environ.get(self.settings.api_key_env, "").strip()
        for key in (self._key, Secret(now) if now else None):
            text = redact(text, key)
        return ToolError(text)


def _results_or_cancel(futures: list[Future[AtomResult]]) -> list[AtomResult]:
    try:
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:400]


TOOL_TYPES: dict[str, type[Tool]] = {"soft_tifa": SoftTifaChecker}
