"""Sandbox editors and inpainters: the instruction grammar, edits that do what they say (checked with the
pixel detector), profiles and side effects, masks, truth continuity, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageFilter

from limner.geometry import relation_holds_boxes
from limner.tools.base import ToolError
from limner.tools.ocr import read_text
from limner.tools.sandbox.blemishes import add_blemish
from limner.tools.sandbox.editors import (
    _EDITS,
    EditOp,
    Editor,
    Inpainter,
    _edit,
    _group,
    _Seen,
    load_image,
    parse_instruction,
)
from limner.tools.sandbox.profiles import EDITOR_PROFILES, EditorProfile
from limner.tools.sandbox.render import render_scene
from limner.tools.sandbox.world import WorldTruth
from limner.types import EDIT_DIMS, Box, Element, Scene, ToolCall

detect = pytest.importorskip("limner.tools.sandbox.detect")

PERFECT = EditorProfile(skill={d: 1.0 for d in EDIT_DIMS}, blemish_rate=0.0)
HOPELESS = EditorProfile(skill={d: 0.0 for d in EDIT_DIMS}, partial=0.0, blemish_rate=0.0)


def _tool(cls=Editor, profile: EditorProfile = PERFECT, name: str = "fern"):
    tool = cls(name, profile="e-fern" if cls is Editor else "i-heath")
    tool.profile = profile
    return tool


@pytest.fixture(scope="module")
def scene_image():
    scene = Scene(prompt="a red cat and two cars", elements=[
        Element(id="e0", noun="cat", cls="cat", color="red"),
        Element(id="e1", noun="cars", cls="car", count=2, color="blue"),
    ])
    image, truth = render_scene(scene, seed=1, width=384, height=384)
    return image, truth


def _seen(image, classes):
    return [d for d in detect.detect_objects(image, classes) if d.score >= 0.8]


@pytest.mark.parametrize("text,expected", [
    ("make the cat blue", EditOp(kind="recolor", cls="cat", color="blue", all=True)),
    ("Make the Cats Wooden.", EditOp(kind="retexture", cls="cat", texture="wooden", all=True)),
    ("change the colour of the sofa to grey", EditOp(kind="recolor", cls="couch", color="gray", all=True)),
    ("add two red dogs left of the car", EditOp(kind="add", cls="dog", count=2, color="red", relation="left of", anchor="car")),
    ("add a cup", EditOp(kind="add", cls="cup", count=1)),
    # "on top of" reads as in a prompt (vocab.RELATION_PHRASES): support, "on"
    ("add 3 apples on top of the table", EditOp(kind="add", cls="apple", count=3, relation="on", anchor="table")),
    ("add a cup on the table", EditOp(kind="add", cls="cup", count=1, relation="on", anchor="table")),
    ("remove the dog", EditOp(kind="remove", cls="dog")),
    ("remove all apples", EditOp(kind="remove", cls="apple", all=True)),
    ("replace the cat with a brown dog", EditOp(kind="replace", cls="cat", new_cls="dog", color="brown", count=1)),
    ("change the number of apples to five", EditOp(kind="recount", cls="apple", count=5)),
    ("move the cat to the right of the car", EditOp(kind="move", cls="cat", relation="right of", anchor="car")),
    ("move the cup right of the apples",
     EditOp(kind="move", cls="cup", relation="right of", anchor="apple", anchor_all=True)),
    ('change the text to "OPEN"', EditOp(kind="retext", text="OPEN")),
    ("change the background to a sunny beach", EditOp(kind="background", background="beach")),
    ("make it watercolor style", EditOp(kind="style", style="watercolor")),
    ("fix", EditOp(kind="restore")),
    ("fix the cat", EditOp(kind="restore", cls="cat")),
])
def test_instruction_grammar(text, expected):
    assert parse_instruction(text) == expected


@pytest.mark.parametrize("text", ["dance please", "make the cat happy", "add a flibbertigibbet",
                                  "make it zorblax style"])
def test_unknown_instructions_are_clear_tool_errors(text):
    with pytest.raises(ToolError):
        parse_instruction(text)


def test_every_operation_maps_to_an_edit_dimension():
    kinds = ["recolor", "retexture", "reshape", "add", "remove", "replace", "move", "recount", "retext",
             "background", "style", "restore"]
    assert {EditOp(kind=k).dimension for k in kinds} <= set(EDIT_DIMS)
    assert set(_EDITS) == set(kinds)  # one operation per kind
    assert all(set(p.skill) == set(EDIT_DIMS) for p in EDITOR_PROFILES.values())


def _edit_with(image, instruction, tool=None, **params):
    tool = tool or _tool()
    return tool(ToolCall(tool=tool.name, prompt=instruction, seed=0, params=params), image=image)


def test_recolour(scene_image):
    image, _ = scene_image
    out = _edit_with(image, "make the cat green").image
    cats = _seen(out, ["cat", "car"])
    assert [d.color for d in cats if d.cls == "cat"] == ["green"]
    assert sorted(d.color for d in cats if d.cls == "car") == ["blue", "blue"]


def test_reshape_and_shaped_additions_keep_their_shape(scene_image):
    """A failed shape check is repaired with "make the X {shape}", and missing objects are added in their
    shape; the truth carried through the edit records the shape."""
    image, truth = scene_image
    res = _edit_with(image, "make the cat triangular", _truth_in=truth.model_dump(mode="json"))
    seen = _seen(res.image, ["cat", "cat|triangular", "car"])
    assert [d.cls for d in seen if d.cls.startswith("cat")] == ["cat|triangular"]
    after = WorldTruth.model_validate(res.ground_truth)
    assert [(o.shape, o.element_id) for o in after.objects if o.cls == "cat"] == [("triangular", "e0")]
    out = _edit_with(image, "add 2 square apples below the cat").image
    apples = [d for d in _seen(out, ["apple", "apple|square", "cat", "car"]) if d.cls.startswith("apple")]
    assert [d.cls for d in apples] == ["apple|square", "apple|square"]


def test_remove_and_remove_all(scene_image):
    image, _ = scene_image
    out = _edit_with(image, "remove the cat").image
    assert sorted(d.cls for d in _seen(out, ["cat", "car"])) == ["car", "car"]
    out = _edit_with(image, "remove all cars").image
    assert [d.cls for d in _seen(out, ["cat", "car"])] == ["cat"]


def test_add_with_relation(scene_image):
    image, _ = scene_image
    out = _edit_with(image, "add a yellow dog left of the cat").image
    seen = _seen(out, ["cat", "car", "dog"])
    dogs = [d for d in seen if d.cls == "dog"]
    cat = next(d for d in seen if d.cls == "cat")
    assert len(dogs) == 1 and dogs[0].color == "yellow"
    assert dogs[0].center[0] < cat.center[0]
    assert len([d for d in seen if d.cls == "car"]) == 2  # nothing else disturbed


@pytest.mark.parametrize("instruction", ["add a bus on the knife", "move the bus on the knife"])
def test_a_thing_put_on_a_flat_one_rests_on_it(instruction):
    """"on" by the thing's drawn height: placed by its longer side, a bus floated 30 px above a flat knife,
    and the support rule (touching, above) fails that."""
    scene = Scene(prompt="a bus and a knife", elements=[
        Element(id="e0", noun="bus", cls="bus"), Element(id="e1", noun="knife", cls="knife")])
    image, truth = render_scene(scene, seed=2, width=384, height=384)
    res = _edit_with(image, instruction, _truth_in=truth.model_dump(mode="json"))
    after = WorldTruth.model_validate(res.ground_truth)
    buses = [o for o in after.objects if o.cls == "bus"]
    knives = [o for o in after.objects if o.cls == "knife"]
    assert relation_holds_boxes("on", [o.box for o in buses], [o.box for o in knives], after.width, after.height)


def test_replace_recount_move(scene_image):
    image, _ = scene_image
    out = _edit_with(image, "replace the cat with a dog").image
    assert sorted(d.cls for d in _seen(out, ["cat", "car", "dog"])) == ["car", "car", "dog"]
    out = _edit_with(image, "change the number of cars to 3").image
    assert [d.cls for d in _seen(out, ["car"])].count("car") == 3
    out = _edit_with(image, "change the number of cars to 1").image
    assert [d.cls for d in _seen(out, ["car"])].count("car") == 1
    out = _edit_with(image, "move the cat below the car").image
    seen = _seen(out, ["cat", "car"])
    cat = next(d for d in seen if d.cls == "cat")
    first_car = min((d for d in seen if d.cls == "car"), key=lambda d: (d.box.x0, d.box.y0))
    assert cat.center[1] > first_car.center[1]


def test_a_plural_anchor_is_the_whole_group(scene_image):
    a = _Seen(cls="car", box=Box(x0=10, y0=10, x1=50, y1=40), color="blue", size=40)
    b = _Seen(cls="car", box=Box(x0=200, y0=100, x1=260, y1=150), color="blue", size=60)
    group = _group([a, b])
    assert group is not None and group.box == Box(x0=10, y0=10, x1=260, y1=150) and _group([]) is None
    image, _ = scene_image
    out = _edit_with(image, "move the cat below the cars").image  # below both cars, not just the first
    seen = _seen(out, ["cat", "car"])
    cat = next(d for d in seen if d.cls == "cat")
    cars = [d for d in seen if d.cls == "car"]
    assert len(cars) == 2 and all(cat.center[1] > car.center[1] for car in cars)


def test_background_and_style_change_the_whole_picture(scene_image):
    image, _ = scene_image
    out = _edit_with(image, "change the background to night").image
    assert np.asarray(out)[:5, :5].mean() < 150
    assert len(_seen(out, ["cat", "car"])) == 3
    out = _edit_with(image, "make it black and white style").image
    arr = np.asarray(out).astype(int)
    assert np.abs(arr[..., 0] - arr[..., 1]).max() == 0


def test_retext():
    pytest.importorskip("rapidocr")
    scene = Scene(prompt="p", elements=[Element(id="s", noun="sign", cls="sign", text="SALE"),
                                        Element(id="c", noun="cat", cls="cat")])
    image, truth = render_scene(scene, seed=0)
    res = _edit_with(image, 'change the text to "OPEN"', _truth_in=truth.model_dump(mode="json"))
    assert "OPEN" in [line[0] for line in read_text(res.image)]
    assert [t.text for t in WorldTruth.model_validate(res.ground_truth).texts] == ["OPEN"]


def test_hopeless_editor_changes_nothing(scene_image):
    image, _ = scene_image
    res = _edit_with(image, "make the cat green", tool=_tool(profile=HOPELESS))
    assert np.array_equal(np.asarray(res.image), np.asarray(image))
    assert "outcome" not in res.meta  # success is for the agent to see in the pixels, not to be told


def test_profiles_differ_in_success_rates():
    image, _ = render_scene(Scene(prompt="p", elements=[Element(id="a", noun="dog", cls="dog")]), seed=0,
                            width=192, height=192)
    rates = {}
    for name in ("e-fern", "e-gorse"):
        prof = dataclasses.replace(EDITOR_PROFILES[name], shift_neighbours=0.0, recolour_neighbours=0.0)
        done = [_edit(EditOp(kind="style", style="sepia"), image, prof, np.random.default_rng(s), None).done
                for s in range(60)]
        rates[name] = done.count("full") / len(done)
    assert rates["e-gorse"] > rates["e-fern"]


def test_sloppy_editor_disturbs_neighbours(scene_image):
    image, truth = scene_image
    sloppy = EditorProfile(skill={d: 1.0 for d in EDIT_DIMS}, shift_neighbours=1.0, recolour_neighbours=1.0,
                           blemish_rate=0.0)
    res = _edit_with(image, "make the cat green", tool=_tool(profile=sloppy), _truth_in=truth.model_dump(mode="json"))
    after = WorldTruth.model_validate(res.ground_truth)
    assert any("side effect" in n for n in after.notes)
    cars_before = sorted((o.box.x0, o.box.y0, o.color) for o in truth.objects if o.cls == "car")
    cars_after = sorted((o.box.x0, o.box.y0, o.color) for o in after.objects if o.cls == "car")
    assert cars_before != cars_after  # a car it was not asked about moved or changed colour
    seen = sorted((d.box.x0, d.box.y0, d.color) for d in _seen(res.image, ["car"]))
    assert seen != sorted((d.box.x0, d.box.y0, d.color) for d in _seen(image, ["car"]))
    cat = [d for d in _seen(res.image, ["cat"])]
    assert [d.color for d in cat] == ["green"]  # the asked-for edit is still done


def test_inpainter_changes_only_inside_the_mask_and_restores_blemishes(scene_image):
    image, truth = scene_image
    truth = truth.model_copy(deep=True)
    cat = next(o for o in truth.objects if o.cls == "cat")
    blemished, blemish = add_blemish(image, truth, "noise_patch", np.random.default_rng(0), target=cat.box)
    assert blemish is not None
    mask_arr = blemish.mask(*image.size)
    mask = Image.fromarray(mask_arr.astype(np.uint8) * 255)
    tool = _tool(Inpainter, name="heath")
    res = tool(ToolCall(tool="heath", prompt="fix the cat", seed=0,
                        params={"_truth_in": truth.model_dump(mode="json")}), image=blemished, mask=mask)
    out = np.asarray(res.image).astype(int)
    grown = np.asarray(mask.filter(ImageFilter.MaxFilter(5))) > 127
    assert np.array_equal(out[~grown], np.asarray(blemished).astype(int)[~grown])
    clean = np.asarray(image).astype(int)
    err_before = np.abs(np.asarray(blemished).astype(int) - clean)[mask_arr].mean()
    err_after = np.abs(out - clean)[mask_arr].mean()
    assert err_after < 0.5 * err_before
    assert WorldTruth.model_validate(res.ground_truth).blemishes == []  # repainted: no blemish left


def test_inpainter_without_noun_uses_classic_inpainting(scene_image):
    image, truth = scene_image
    truth = truth.model_copy(deep=True)
    blemished, blemish = add_blemish(image, truth, "stray_marks", np.random.default_rng(2))
    assert blemish is not None
    mask = Image.fromarray(blemish.mask(*image.size).astype(np.uint8) * 255)
    res = _tool(Inpainter, name="heath")(ToolCall(tool="heath", prompt="fix", seed=0), image=blemished, mask=mask)
    assert res.ground_truth is None  # no private truth channel -> no truth
    m = blemish.mask(*image.size)
    clean = np.asarray(image).astype(int)
    assert np.abs(np.asarray(res.image).astype(int) - clean)[m].mean() < np.abs(
        np.asarray(blemished).astype(int) - clean)[m].mean()


def test_inpainter_adds_inside_its_mask(scene_image):
    image, _ = scene_image
    mask = np.zeros((384, 384), bool)
    mask[250:384, 200:384] = True
    res = _tool(Inpainter, name="heath")(ToolCall(tool="heath", prompt="add a green dog", seed=1), image=image,
                                         mask=Image.fromarray(mask.astype(np.uint8) * 255))
    dogs = [d for d in _seen(res.image, ["dog"]) if d.cls == "dog"]
    assert len(dogs) == 1 and dogs[0].color == "green"
    assert dogs[0].box.x0 >= 196 and dogs[0].box.y0 >= 246


def test_truth_continuity_through_an_edit(scene_image):
    image, truth = scene_image
    res = _edit_with(image, "remove the cat", _truth_in=truth.model_dump(mode="json"))
    after = WorldTruth.model_validate(res.ground_truth)
    assert sorted(o.cls for o in after.objects) == ["car", "car"]
    res = _edit_with(image, "add a dog right of the cat", _truth_in=truth.model_dump(mode="json"))
    after = WorldTruth.model_validate(res.ground_truth)
    assert sorted(o.cls for o in after.objects) == ["car", "car", "cat", "dog"]
    assert res.meta["simulated"] is True
    res = _edit_with(image, "move the cat below the car", _truth_in=truth.model_dump(mode="json"))
    after = WorldTruth.model_validate(res.ground_truth)
    cat_before = next(o for o in truth.objects if o.cls == "cat")
    cat_after = next(o for o in after.objects if o.cls == "cat")
    assert cat_after.element_id == cat_before.element_id == "e0" and cat_after.box != cat_before.box
    res = _edit_with(image, "make the cars wooden", _truth_in=truth.model_dump(mode="json"))
    after = WorldTruth.model_validate(res.ground_truth)
    assert [o.texture for o in after.objects if o.cls == "car"] == ["wooden", "wooden"]
    assert {o.element_id for o in after.objects if o.cls == "car"} == {"e1"}


def test_bad_inputs_are_clear_errors(scene_image, tmp_path):
    image, _ = scene_image
    ed = _tool()
    with pytest.raises(ToolError, match="needs an input image"):
        ed(ToolCall(tool="fern", prompt="make the cat red"))
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(ToolError, match="not a readable image"):
        load_image(corrupt)
    with pytest.raises(ToolError, match="not a readable image"):
        load_image(b"garbage")
    with pytest.raises(ToolError, match="no dog found"):
        _edit_with(image, "remove the dog")
    inp = _tool(Inpainter, name="heath")
    with pytest.raises(ToolError, match="mask is empty"):
        inp(ToolCall(tool="heath", prompt="fix"), image=image, mask=Image.new("L", image.size, 0))
    with pytest.raises(ToolError, match="differs from image size"):
        inp(ToolCall(tool="heath", prompt="fix"), image=image, mask=Image.new("L", (10, 10), 255))
    with pytest.raises(ToolError, match="inpainters"):
        ed(ToolCall(tool="fern", prompt="fix"), image=image)


def test_editing_is_deterministic(scene_image):
    image, _ = scene_image
    ed = Editor("gorse", profile="e-gorse")
    a = ed(ToolCall(tool="gorse", prompt="add two dogs", seed=3), image=image).image
    b = ed(ToolCall(tool="gorse", prompt="add two dogs", seed=3), image=image).image
    assert np.array_equal(np.asarray(a), np.asarray(b))
