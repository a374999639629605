"""The one edit-instruction grammar (`limner.reading.instructions`): what the planner writes reads back to the
operation it means, the brain and the editors read an instruction the same way, and the readings chosen
where the two old copies disagreed."""

from __future__ import annotations

from typing import get_args

import pytest

from limner.llm.rule_brain import edit_target, edit_weights, repair_subtask
from limner.reading.instructions import (
    EDIT_DIMENSION,
    EditKind,
    EditOp,
    InstructionError,
    parse_instruction,
    read_form,
    say_add,
    say_attribute,
    say_background,
    say_move,
    say_recount,
    say_remove_all,
    say_style,
    say_text,
)
from limner.reading.prompt import parse_prompt
from limner.types import EDIT_DIMS, Box, Check, Element, Relation, Scene

# -- every template the planner writes reads back to the operation it means --------------------------


@pytest.mark.parametrize(("instruction", "op"), [
    (say_attribute("cat", "red"), EditOp(kind="recolor", cls="cat", color="red", all=True)),
    (say_attribute("apples", "gray"), EditOp(kind="recolor", cls="apple", color="gray", all=True)),
    (say_attribute("teddy bears", "wooden"), EditOp(kind="retexture", cls="teddy bear", texture="wooden", all=True)),
    (say_add("1 red apple"), EditOp(kind="add", cls="apple", count=1, color="red")),
    (say_add("3 blue striped cups", "left of", "dog"),
     EditOp(kind="add", cls="cup", count=3, color="blue", texture="striped", relation="left of", anchor="dog")),
    (say_add("2 buses", "in front of", "bench"),
     EditOp(kind="add", cls="bus", count=2, relation="in front of", anchor="bench")),
    (say_remove_all("forks"), EditOp(kind="remove", cls="fork", all=True)),
    (say_remove_all("sheep"), EditOp(kind="remove", cls="sheep", all=True)),
    (say_recount("apples", 3), EditOp(kind="recount", cls="apple", count=3)),
    (say_move("cat", "next to", "dog"), EditOp(kind="move", cls="cat", relation="next to", anchor="dog")),
    (say_move("apples", "below", "cup"), EditOp(kind="move", cls="apple", relation="below", anchor="cup", all=True)),
    (say_move("cup", "right of", "apples"),
     EditOp(kind="move", cls="cup", relation="right of", anchor="apple", anchor_all=True)),
    (say_move("cat", "on", "table"), EditOp(kind="move", cls="cat", relation="on", anchor="table")),
    (say_text("OPEN"), EditOp(kind="retext", text="OPEN")),
    (say_text("Don't Panic"), EditOp(kind="retext", text="Don't Panic")),
    (say_background("a sunny beach"), EditOp(kind="background", background="sunny beach")),
    (say_style("watercolor"), EditOp(kind="style", style="watercolor")),
])
def test_templates_round_trip(instruction: str, op: EditOp) -> None:
    assert parse_instruction(instruction) == op
    assert read_form(instruction) is not None and read_form(instruction)[0] == op.dimension


def _scene() -> Scene:
    return Scene(prompt="p", elements=[
        Element(id="e0", noun="apples", cls="apple", count=3, color="red"),
        Element(id="e1", noun="cup", cls="cup", color="blue", texture="striped"),
        Element(id="e2", noun="sign", cls="sign", text="SALE"),
        Element(id="e3", noun="forks", cls="fork", count=0, negated=True),
        Element(id="e4", noun="dog", cls="dog"),
    ], relations=[Relation(subject="e0", predicate="left of", object="e1"),
                  Relation(subject="e4", predicate="behind", object="e1")],
        background="beach", style="watercolor")


@pytest.mark.parametrize(("target", "kind", "op"), [
    ("e0:left_of:e1", "position", EditOp(kind="move", cls="cup", relation="right of", anchor="apple", anchor_all=True)),
    ("e4:behind:e1", "depth", EditOp(kind="move", cls="dog", relation="behind", anchor="cup")),
    ("e0", "presence", EditOp(kind="add", cls="apple", count=3, color="red", relation="left of", anchor="cup")),
    ("e0", "count", EditOp(kind="recount", cls="apple", count=3)),
    ("e0", "color", EditOp(kind="recolor", cls="apple", color="red", all=True)),
    ("e1", "texture", EditOp(kind="retexture", cls="cup", texture="striped", all=True)),
    ("e2", "text", EditOp(kind="retext", text="SALE")),
    ("e3", "absence", EditOp(kind="remove", cls="fork", all=True)),
    ("scene", "background", EditOp(kind="background", background="beach")),
    ("scene", "style", EditOp(kind="style", style="watercolor")),
])
def test_every_repair_reads_back_to_its_operation(target: str, kind: str, op: EditOp) -> None:
    sub = repair_subtask(Check(target=target, kind=kind, passed=False, score=0, evidence=""), _scene(), "s",
                         can_inpaint=False)
    assert sub is not None
    assert parse_instruction(sub.instruction) == op
    assert edit_weights(sub.instruction) == {op.dimension: 1.0}
    assert set(sub.weights) >= {op.dimension}  # the planner weighs the skill the editor will exercise


@pytest.mark.parametrize(("instruction", "dimension", "target"), [
    ("make the cats big", "attribute", "big cats"),
    ("add 2 big red cups", "add", "2 big red cups"),
    ("remove a cat", "remove", "no cat"),
    ("move the cat up", "action", "a cat up"),
])
def test_forms_the_brain_reads_but_no_sandbox_editor_resolves(instruction: str, dimension: str, target: str) -> None:
    """Size repairs, adjectives the noun reader does not know, "a" after remove: the form is an edit
    (weights, target prompt), the words are not something the sandbox editors can act on."""
    assert read_form(instruction) == (dimension, target)
    with pytest.raises(InstructionError):
        parse_instruction(instruction)


@pytest.mark.parametrize(("instruction", "op"), [
    ("make the cat round", EditOp(kind="reshape", cls="cat", shape="round", all=True)),
    ("make the boats rectangle", EditOp(kind="reshape", cls="boat", shape="rectangular", all=True)),
    ("add 3 square apples", EditOp(kind="add", cls="apple", count=3, shape="square")),
    ("add 2 red star-shaped cups left of the dog",
     EditOp(kind="add", cls="cup", count=2, color="red", shape="star-shaped", relation="left of", anchor="dog")),
    ("change the number of round beds to 4", EditOp(kind="recount", cls="bed", count=4, shape="round")),
    ("replace the cat with a triangular clock", EditOp(kind="replace", cls="cat", new_cls="clock", count=1,
                                                       shape="triangular")),
])
def test_shapes_are_attributes_the_editors_read(instruction: str, op: EditOp) -> None:
    """The rule planner repairs a failed shape check with "make the X {shape}" and asks for missing objects
    with their shape ("add 3 square apples"): every such instruction resolves (it used to be an error)."""
    assert parse_instruction(instruction) == op
    assert read_form(instruction) is not None


def test_every_kind_has_a_dimension() -> None:
    assert set(EDIT_DIMENSION) == set(get_args(EditKind))
    assert set(EDIT_DIMENSION.values()) <= set(EDIT_DIMS)


# -- one reading for the brain and the editors ----------------------------------------------------------


@pytest.mark.parametrize(("instruction", "dimension", "target"), [
    ("make the cup red", "attribute", "red cup"),
    ("Make the Cats Wooden.", "attribute", "Wooden Cats"),
    ("add a yellow banana", "add", "a yellow banana"),
    ("remove all forks", "remove", "no forks"),
    ("move the cup left of the apple", "action", "a cup left of the apple"),
    ("replace the cat with a dog", "replace", "a dog and no cat"),
    ("change the number of apples to 3", "add", "3 apples"),
    ('change the text to "OPEN"', "replace", 'a sign that says "OPEN"'),
    ("change the background to beach", "background", "a scene in beach"),
    ("make it watercolor style", "style", "watercolor style"),
    ("fix the cat", "remove", "fix the cat"),
])
def test_the_brain_reads_user_instructions_with_the_grammar(instruction: str, dimension: str, target: str) -> None:
    assert edit_weights(instruction) == {dimension: 1.0}
    assert edit_target(instruction) == target
    assert parse_instruction(instruction).dimension == dimension


def test_outside_the_grammar_the_brain_weighs_uniformly_and_checks_the_words() -> None:
    assert edit_weights("dance please") == {} and edit_target("dance please") == "dance please"
    with pytest.raises(InstructionError, match="cannot read"):
        parse_instruction("dance please")


@pytest.mark.parametrize(("instruction", "dimension", "op"), [
    # "on top of" reads as the vocabulary (and the prompt reader) read it: support, "on"
    ("add a cup on top of the table", "add", EditOp(kind="add", cls="cup", count=1, relation="on", anchor="table")),
    ("add a dog by the car", "add", EditOp(kind="add", cls="dog", count=1, relation="next to", anchor="car")),
    # what the editors did with these decides what the brain weighs
    ("make it red", "style", EditOp(kind="style", style="red")),
    ("make the background blue", "background", EditOp(kind="background", background="blue")),
    ("replace the background with a beach", "background", EditOp(kind="background", background="beach")),
    ("make the image sepia", "style", EditOp(kind="style", style="sepia")),
])
def test_readings_where_the_old_copies_disagreed(instruction: str, dimension: str, op: EditOp) -> None:
    assert parse_instruction(instruction) == op
    assert edit_weights(instruction) == {dimension: 1.0}


def test_relation_phrases_are_the_vocabulary() -> None:
    scene = parse_prompt("a cup on top of a table")
    assert scene.relations[0].predicate == parse_instruction("add a cup on top of the table").relation


def test_inpaint_repairs_carry_the_region() -> None:
    box = Box(x0=1, y0=2, x1=30, y1=40)
    sub = repair_subtask(Check(target="e0", kind="color", passed=False, score=0, evidence="", box=box), _scene(),
                         "s", can_inpaint=True)
    assert sub is not None and sub.kind == "inpaint" and sub.region == box
    assert parse_instruction(sub.instruction).kind == "recolor"
