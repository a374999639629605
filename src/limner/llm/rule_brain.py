"""The rule-based brain: the offline default. Deterministic, fast, and honest about what it cannot read.

- analyse: `limner.reading.prompt.parse_prompt`.
- plan: a first round generates from the whole prompt with W_task over the generator dimensions the scene
  exercises; a repair round turns each failed check into one edit (or a region inpaint) in the instruction
  grammar that the sandbox editors and real instruction editors both understand
  (`limner.reading.instructions`: the `say_*` templates write it, the editors read it back):

      make the {noun} {colour|texture|shape}      add {n} {colour?} {noun} [{relation} the {noun}]
      remove all {nouns}                          change the number of {nouns} to {n}
      move the {noun} {relation} the {noun}       change the text to "{text}"
      change the background to {background}       make it {style} style
      move the {noun} into the {noun}             make the {noun} hold|wear|ride the {noun}

  A failed contact check ("a dog wearing a hat", `types.CONTACT`, and actions drawn as one) asks for the
  contact move once both ends are seen; while one is missing, its presence repair comes first.

- reflect: stop when the goal is met or the rounds are spent; regenerate when most checks failed (an
  edit per failure would cost more than a new picture, and edits compound side effects), when a repair
  round made things worse, or when no editor is configured; otherwise repair.
- a user's own edit instruction is weighed and checked through the same grammar (`edit_weights`,
  `edit_target`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection

from limner import vocab
from limner.llm.brain import Brain, NextAction, Plan, Reading, Reflection
from limner.reading.instructions import (
    CONTACT_MOVES,
    read_form,
    say_add,
    say_attribute,
    say_background,
    say_contact_move,
    say_move,
    say_recount,
    say_remove_all,
    say_style,
    say_text,
)
from limner.reading.prompt import parse_prompt, plural
from limner.types import (
    EDIT_DIMS,
    GEN_DIMS,
    Check,
    Element,
    Scene,
    Subtask,
    ToolSpec,
    Verdict,
    relation_geometry,
)

__all__ = [
    "RuleBrain", "edit_target", "edit_weights", "generation_weights", "missing_elements", "plural",
    "repair_subtask",
]

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
if not set(_EDIT_DIM.values()) <= set(EDIT_DIMS):  # keeps the mapping honest if EDIT_DIMS changes
    raise ImportError(f"rule_brain maps repairs to unknown edit dimensions: {set(_EDIT_DIM.values()) - set(EDIT_DIMS)}")


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


def _noun(e: Element) -> str:
    """The element's class as the instruction names it: plural for a group ("move the apples": every one)."""
    return e.cls if e.count == 1 else plural(e.cls)


#: Directional predicates a repair may turn around to move the single object instead of the group.
_TURNABLE = {p: vocab.INVERSE[p] for p in ("left of", "right of", "above", "below")}


def _move_instruction(check: Check, scene: Scene,
                      missing: Collection[str] = ()) -> tuple[str, list[str]] | None:
    """A failed position or depth check: move one end of the relation to where it should be. A failed
    contact check (kind "action": `types.CONTACT`, or an action drawn as one): the contact move
    (`instructions.CONTACT_MOVES` says which end moves), or "next to" for an action drawn side by side; none
    while an end is `missing` (its presence repair comes first: there is nothing to move yet)."""
    rel = next((r for r in scene.relations if r.id == check.target), None)
    if rel is None or check.kind not in ("position", "depth", "action"):
        return None
    s, o = scene.element(rel.subject), scene.element(rel.object)
    if check.kind == "action":
        geometry = relation_geometry(rel.predicate)
        if s.id in missing or o.id in missing or s.negated or o.negated:
            return None
        if geometry in CONTACT_MOVES:
            # one of each: the contact rules hold when some pair does, and moving one keeps the counts
            return say_contact_move(geometry, s.cls, o.cls), [s.id, o.id]
        if geometry == "next to":
            return say_move(_noun(s), "next to", _noun(o)), [s.id, o.id]
        return None
    if s.count > 1 and o.count == 1 and rel.predicate in _TURNABLE:
        # Moving one object beside a group is an easier edit than moving the whole group (every
        # instance must land on the right side without merging): "move the cup right of the apples".
        return say_move(o.cls, _TURNABLE[rel.predicate], plural(s.cls)), [s.id, o.id]
    return say_move(_noun(s), rel.predicate, _noun(o)), [s.id, o.id]


def _add_instruction(e: Element, scene: Scene) -> str:
    placed = next((r for r in scene.relations if r.subject == e.id and r.dimension != "non_spatial"), None)
    if placed is None:
        return say_add(_phrase(e))
    return say_add(_phrase(e), placed.predicate, scene.element(placed.object).cls)


def _attribute_instruction(e: Element, kind: str) -> str | None:
    value = getattr(e, "color" if kind == "color" else kind)
    return say_attribute(_noun(e), value) if value else None


#: Per check kind on an element: the instruction that repairs it (None: no edit can).
_ELEMENT_REPAIRS: dict[str, Callable[[Element, Scene, str], str | None]] = {
    "absence": lambda e, scene, kind: say_remove_all(plural(e.cls)),
    "presence": lambda e, scene, kind: _add_instruction(e, scene),
    "count": lambda e, scene, kind: say_recount(plural(e.cls), e.count),
    "color": lambda e, scene, kind: _attribute_instruction(e, kind),
    "texture": lambda e, scene, kind: _attribute_instruction(e, kind),
    "shape": lambda e, scene, kind: _attribute_instruction(e, kind),
    "size": lambda e, scene, kind: _attribute_instruction(e, kind),
    "text": lambda e, scene, kind: say_text(e.text) if e.text else None,
}


def _instruction(check: Check, scene: Scene, missing: Collection[str] = ()) -> tuple[str | None, list[str]]:
    """(instruction that would make `check` pass, element ids it is about); no instruction when no edit can."""
    moved = _move_instruction(check, scene, missing)
    if moved is not None:
        return moved
    e = next((x for x in scene.elements if x.id == check.target), None)
    if e is not None:
        repair = _ELEMENT_REPAIRS.get(check.kind)
        return (repair(e, scene, check.kind) if repair else None), [e.id]
    if check.kind == "background" and scene.background:
        return say_background(scene.background), []
    if check.kind == "style" and scene.style:
        return say_style(scene.style), []
    return None, []


def repair_subtask(check: Check, scene: Scene, sid: str, *, can_inpaint: bool,
                   missing: Collection[str] = ()) -> Subtask | None:
    """One edit (or inpaint) that would make `check` pass, or None when no edit can (e.g. 'global').

    `missing`: ids of elements the verdict did not see (failed presence checks, `missing_elements`); a
    contact move between them waits for their presence repair."""
    instruction, targets = _instruction(check, scene, missing)
    if instruction is None:
        return None
    kind = "inpaint" if can_inpaint and check.kind in _LOCAL_KINDS and check.box is not None else "edit"
    dim = _EDIT_DIM.get(check.kind, "attribute")
    weights = {dim: 1.0}
    if check.kind == "count":
        weights = {"add": 0.5, "remove": 0.5}
    return Subtask(id=sid, kind=kind, instruction=instruction, element_ids=targets, weights=weights,
                   region=check.box if kind == "inpaint" else None)


def missing_elements(verdict: Verdict) -> set[str]:
    """Ids of the elements whose presence check failed: not seen, so nothing of them can be moved yet."""
    return {c.target for c in verdict.failed if c.kind == "presence"}


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
        missing = missing_elements(verdict)
        for k, check in enumerate(verdict.failed):
            sub = repair_subtask(check, scene, f"r{round}-fix{k}", can_inpaint="inpaint" in kinds,
                                 missing=missing)
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
        if verdict.checks_passed:  # what is left is unsupported: no tool can fix it, so stop (passed stays False)
            why = f"all {len(verdict.checks)} checks pass (score {verdict.score:.2f})"
            if verdict.unsupported:
                why += f"; {len(verdict.unsupported)} parts not checkable: {'; '.join(verdict.unsupported)}"
            return Reflection("stop", failed, why)
        if round + 1 >= rounds:
            return Reflection("stop", failed, f"{len(failed)} checks still fail; no rounds left ({rounds})")
        kinds = {t.kind for t in tools} if tools is not None else {"edit", "inpaint"}
        missing = missing_elements(verdict)
        repairable = [c for c in verdict.failed if repair_subtask(
            c, scene, "probe", can_inpaint="inpaint" in kinds, missing=missing) is not None]
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


# ----------------------------------------------------------------------------------------------------
# A user's edit instruction: which edit skill it needs, and what the edited image must show
# ----------------------------------------------------------------------------------------------------


def edit_weights(instruction: str) -> dict[str, float]:
    """W_task over the edit dimensions for an instruction of the grammar (uniform when unrecognised)."""
    form = read_form(instruction)
    return {form[0]: 1.0} if form else {}


def edit_target(instruction: str) -> str:
    """A prompt describing what the edited image must show ("make the cat red" -> "red cat").

    Only the part of the scene the instruction talks about: the rest of the image is not re-checked.
    An instruction outside the grammar is read as a prompt as it stands.
    """
    form = read_form(instruction)
    return form[1] if form else instruction
