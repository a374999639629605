"""The rule-based brain: the offline default. Deterministic, fast, and honest about what it cannot read.

- analyse: `limner.reading.prompt.parse_prompt`.
- plan: a first round generates from the whole prompt with W_task over the generator dimensions the scene
  exercises; a repair round turns each failed check into one edit (or a region inpaint) in the instruction
  grammar that the sandbox editors and real instruction editors both understand:

      make the {noun} {colour|texture|shape}      add {n} {colour?} {noun} [{relation} the {noun}]
      remove all {nouns}                          change the number of {nouns} to {n}
      move the {noun} {relation} the {noun}       change the text to "{text}"
      change the background to {background}       make it {style} style

- reflect: stop when the goal is met or the rounds are spent; regenerate when most checks failed (an
  edit per failure would cost more than a new picture, and edits compound side effects), when a repair
  round made things worse, or when no editor is configured; otherwise repair.
"""

from __future__ import annotations

import re
from collections import Counter

from limner import vocab
from limner.llm.brain import Brain, NextAction, Plan, Reading, Reflection
from limner.reading.prompt import parse_prompt
from limner.types import EDIT_DIMS, GEN_DIMS, Check, Element, Scene, Subtask, ToolSpec, Verdict

__all__ = ["RuleBrain", "generation_weights", "plural", "repair_subtask"]

#: Share of failed checks above which a fresh generation beats a pile of edits.
REGENERATE_ABOVE = 0.5

#: Edit dimension exercised by each repair (ImgEdit-Bench's categories). Moving an object is closest to
#: "action" (a change of pose/placement), re-texting to "replace".
_EDIT_DIM = {
    "presence": "add", "absence": "remove", "count": "add", "color": "attribute", "texture": "attribute",
    "shape": "attribute", "size": "attribute", "position": "action", "depth": "action", "text": "replace",
    "background": "background", "style": "style", "action": "action", "defect": "replace",
}
_LOCAL_KINDS = {"color", "texture", "shape", "size", "text", "defect"}


def plural(noun: str) -> str:
    """English plural of a class name ("bus" -> "buses", "skis" -> "skis"); for edit instructions."""
    if noun in vocab.PLURAL_FORM_CLASSES or noun in vocab.INVARIANT_PLURALS:
        return noun
    irregular = {v: k for k, v in vocab.IRREGULAR_PLURALS.items() if " " not in k}
    head, _, last = noun.rpartition(" ")
    if last in irregular and irregular[last] != last:
        word = irregular[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        word = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        word = last[:-1] + "ies"
    else:
        word = last + "s"
    return f"{head} {word}".strip()


def generation_weights(scene: Scene) -> dict[str, float]:
    """W_task for generating `scene`: how often each generator dimension is exercised, scaled to sum 1.

    A scene with one plain object weighs only object fidelity ("non_spatial", where the checker files
    presence); an empty scene gets equal weights (empty dict = uniform).
    """
    counts: Counter[str] = Counter()
    for e in scene.elements:
        counts["color"] += e.color is not None
        counts["texture"] += e.texture is not None
        counts["shape"] += e.shape is not None
        counts["numeracy"] += e.count != 1 or e.negated
        counts["text"] += e.text is not None
    for r in scene.relations:
        counts[r.dimension] += 1
    # Every object must be drawn at all. The checker files presence checks under "non_spatial" (the
    # T2I-CompBench dimension of object/action fidelity), so the profiled matrix measures it there.
    counts["non_spatial"] += 0.5 * len([e for e in scene.elements if not e.negated])
    total = sum(counts.values())
    return {d: round(counts[d] / total, 6) for d in GEN_DIMS if counts[d]} if total else {}


def _phrase(e: Element, n: int | None = None, with_attrs: bool = True) -> str:
    n = e.count if n is None else n
    attrs = [a for a in (e.size, e.color, e.texture, e.shape) if a] if with_attrs else []
    noun = e.cls if n == 1 else plural(e.cls)
    return " ".join([str(n), *attrs, noun])


_INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


def repair_subtask(check: Check, scene: Scene, sid: str, *, can_inpaint: bool) -> Subtask | None:
    """One edit (or inpaint) that would make `check` pass, or None when no edit can (e.g. 'global')."""
    ids = {e.id: e for e in scene.elements}
    rel = next((r for r in scene.relations if r.id == check.target), None)
    e = ids.get(check.target)
    instruction: str | None = None
    targets: list[str] = []
    if rel is not None and check.kind in ("position", "depth"):
        s, o = ids[rel.subject], ids[rel.object]
        if s.count > 1 and o.count == 1 and rel.predicate in _INVERSE:
            # Moving one object beside a group is an easier edit than moving the whole group (every
            # instance must land on the right side without merging): "move the cup right of the apples".
            instruction = f"move the {o.cls} {_INVERSE[rel.predicate]} the {plural(s.cls)}"
        else:
            mover = s.cls if s.count == 1 else plural(s.cls)  # "move the apples": every apple, not one
            anchor = o.cls if o.count == 1 else plural(o.cls)
            instruction = f"move the {mover} {rel.predicate} the {anchor}"
        targets = [s.id, o.id]
    elif e is not None:
        targets = [e.id]
        if check.kind == "absence":
            instruction = f"remove all {plural(e.cls)}"
        elif check.kind == "presence":
            instruction = f"add {_phrase(e)}"
            placed = next((r for r in scene.relations if r.subject == e.id and r.dimension != "non_spatial"), None)
            if placed is not None:
                instruction += f" {placed.predicate} the {ids[placed.object].cls}"
        elif check.kind == "count":
            instruction = f"change the number of {plural(e.cls)} to {e.count}"
        elif check.kind in ("color", "texture", "shape", "size"):
            value = getattr(e, "color" if check.kind == "color" else check.kind)
            if value:
                noun = e.cls if e.count == 1 else f"{plural(e.cls)}"
                instruction = f"make the {noun} {value}"
        elif check.kind == "text" and e.text:
            instruction = f'change the text to "{e.text}"'
    elif check.kind == "background" and scene.background:
        instruction = f"change the background to {scene.background}"
    elif check.kind == "style" and scene.style:
        instruction = f"make it {scene.style} style"
    if instruction is None:
        return None
    kind = "inpaint" if can_inpaint and check.kind in _LOCAL_KINDS and check.box is not None else "edit"
    dim = _EDIT_DIM.get(check.kind, "attribute")
    weights = {dim: 1.0}
    if check.kind == "count":
        weights = {"add": 0.5, "remove": 0.5}
    return Subtask(id=sid, kind=kind, instruction=instruction, element_ids=targets, weights=weights,
                   region=check.box if kind == "inpaint" else None)


class RuleBrain(Brain):
    """Offline brain: parser + planning rules. No tokens, no network, same answer every time."""

    name = "rule"

    def analyse(self, prompt: str) -> Reading:
        return Reading(scene=parse_prompt(prompt))

    def plan(
        self,
        scene: Scene,
        tools: list[ToolSpec],
        verdict: Verdict | None = None,
        action: NextAction = "regenerate",
        round: int = 0,
    ) -> Plan:
        kinds = {t.kind for t in tools}
        if verdict is None or action == "regenerate":
            w = generation_weights(scene)
            sub = Subtask(id=f"r{round}-generate", kind="generate", instruction=scene.prompt,
                          element_ids=[e.id for e in scene.elements], weights=w)
            why = "generate the whole scene" + (f", weighted on {', '.join(w)}" if w else "")
            return Plan(subtasks=[sub], reasoning=why)
        subtasks: list[Subtask] = []
        seen: set[str] = set()
        for k, check in enumerate(verdict.failed):
            sub = repair_subtask(check, scene, f"r{round}-fix{k}", can_inpaint="inpaint" in kinds)
            if sub is None or sub.instruction in seen:
                continue
            seen.add(sub.instruction)
            subtasks.append(sub)
        # One object at a time: presence before count before attributes before placement.
        order = {"add": 0, "remove": 0, "replace": 1, "attribute": 2, "background": 3, "style": 4, "action": 5}
        subtasks.sort(key=lambda s: min(order.get(d, 9) for d in s.weights))
        why = "repair: " + "; ".join(s.instruction for s in subtasks) if subtasks else "nothing an edit can repair"
        return Plan(subtasks=subtasks, reasoning=why)

    def reflect(
        self,
        scene: Scene,
        verdict: Verdict,
        round: int,
        rounds: int,
        *,
        last_improved: bool | None = None,
        tools: list[ToolSpec] | None = None,
        last_action: NextAction | None = None,
    ) -> Reflection:
        failed = [c.target + ":" + c.kind for c in verdict.failed]
        if verdict.passed:
            return Reflection("stop", failed, f"all {len(verdict.checks)} checks pass (score {verdict.score:.2f})")
        if round + 1 >= rounds:
            return Reflection("stop", failed, f"{len(failed)} checks still fail; no rounds left ({rounds})")
        kinds = {t.kind for t in tools} if tools is not None else {"edit", "inpaint"}
        repairable = [c for c in verdict.failed
                      if repair_subtask(c, scene, "probe", can_inpaint="inpaint" in kinds) is not None]
        share = len(verdict.failed) / max(1, len(verdict.checks))
        if not kinds & {"edit", "inpaint"}:
            return Reflection("regenerate", failed, "no editor configured: draw again with a new seed")
        if not repairable:
            return Reflection("regenerate", failed, "no failed check can be fixed by an edit: draw again")
        if share > REGENERATE_ABOVE:
            return Reflection("regenerate", failed,
                              f"{len(failed)}/{len(verdict.checks)} checks fail: a new picture beats that many edits")
        if last_improved is False and last_action != "regenerate":
            return Reflection("regenerate", failed, "the last repair did not beat the best image: draw again")
        if last_improved is False:
            # Drawing again did not help either: go back to the best image and repair it (the Worker hands a
            # repair that did not help before to another tool).
            return Reflection("repair", failed, f"a new drawing did not beat the best image: repair it instead "
                                                f"({', '.join(failed)})")
        return Reflection("repair", failed, f"repair {len(repairable)} failed check(s): {', '.join(failed)}")


if not set(_EDIT_DIM.values()) <= set(EDIT_DIMS):  # keeps the mapping honest if EDIT_DIMS changes
    raise ImportError(f"rule_brain maps repairs to unknown edit dimensions: {set(_EDIT_DIM.values()) - set(EDIT_DIMS)}")


# ----------------------------------------------------------------------------------------------------
# Edit instructions: which edit skill they need, and what the edited image must show
# ----------------------------------------------------------------------------------------------------

_EDIT_PATTERNS: list[tuple[str, str, str]] = [
    # (regex over the lower-cased instruction, edit dimension, target prompt template)
    (r"^change the background to (?P<bg>.+)$", "background", "a scene in {bg}"),
    (r"^make it (?P<style>.+?) style$", "style", "{style} style"),
    (r'^change the text to "(?P<text>[^"]+)"$', "replace", 'a sign that says "{text}"'),
    (r"^remove all (?P<a>.+)$", "remove", "no {a}"),
    (r"^remove (?:the |a |an )?(?P<a>.+)$", "remove", "no {a}"),
    (r"^replace (?:the |a |an )?(?P<a>.+?) with (?P<b>.+)$", "replace", "{b} and no {a}"),
    (r"^change the number of (?P<a>.+?) to (?P<n>\w+)$", "add", "{n} {a}"),
    (r"^move (?:the |a |an )?(?P<a>.+)$", "action", "a {a}"),
    (r"^add (?P<a>.+)$", "add", "{a}"),
    (r"^make (?:the |a |an )?(?P<a>.+?) (?P<attr>\S+)$", "attribute", "{attr} {a}"),
]


def _match_edit(instruction: str) -> tuple[str, str] | None:
    text = " ".join(instruction.strip().rstrip(".").split())
    for pattern, dim, template in _EDIT_PATTERNS:
        m = re.match(pattern, text, flags=re.IGNORECASE)
        if m:
            return dim, template.format(**{k: v for k, v in m.groupdict().items()})
    return None


def edit_weights(instruction: str) -> dict[str, float]:
    """W_task over the edit dimensions for an instruction of the grammar (uniform when unrecognised)."""
    m = _match_edit(instruction)
    return {m[0]: 1.0} if m else {}


def edit_target(instruction: str) -> str:
    """A prompt describing what the edited image must show ("make the cat red" -> "red cat").

    Only the part of the scene the instruction talks about: the rest of the image is not re-checked.
    An instruction outside the grammar is read as a prompt as it stands.
    """
    m = _match_edit(instruction)
    return m[1] if m else instruction
