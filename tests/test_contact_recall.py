"""A small object drawn over a big one is found (issue #23, contact relations on painted images).

The sandbox draws contents in front of their container and a worn thing on its wearer's top. The matcher
found the big object and then took its whole silhouette as explained, so the small one was missed (false
fails of containment and wearing, never false passes). The second proposal pass now erases only the pixels
the found objects' own drawings explain (`Detector._drawn_by`); what is drawn over them stays and is
proposed there. These tests pin both sides: the small object is found at its place, and
nothing else appears.
"""

from __future__ import annotations

import pytest
from PIL import Image

from limner.config import load_config
from limner.eval.painted import png_roundtrip
from limner.geometry import MIN_VISIBLE_SHARE, paste_mask
from limner.imaging import paste_centered
from limner.reading import parse_prompt
from limner.tools.registry import ToolRegistry
from limner.tools.sandbox import world
from limner.tools.sandbox.artwork import get_artwork
from limner.tools.sandbox.checker import _drawn_small, check_image
from limner.tools.sandbox.detect import CONFIDENT_SCORE, Detector, DetectorConfig, _Candidate, get_detector
from limner.tools.sandbox.render import WORN_DEPTH, WORN_SCALE, render_scene, resting_cy
from limner.tools.sandbox.segment import estimate_background, load_rgb
from limner.types import Box, ToolCall


def _near(a: Box, b: Box, px: int = 4) -> bool:
    return max(abs(a.x0 - b.x0), abs(a.y0 - b.y0), abs(a.x1 - b.x1), abs(a.y1 - b.y1)) <= px


#: (prompt, classes searched) — each missed by the matcher before: the small object lies (mostly) on the
#: big one's silhouette (a cow 0.45 of a hair drier's size on its top, a kite in front of a pizza's crust).
SMALL_ON_BIG = [
    ("a kite in a pizza", ["kite", "pizza"]),
    ("a purple clock wearing an orange baseball bat", ["clock", "baseball bat"]),
    ("a hair drier wearing a pink cow", ["hair drier", "cow"]),
]


@pytest.mark.parametrize(("prompt", "classes"), SMALL_ON_BIG)
def test_a_small_object_drawn_over_a_big_one_is_found_and_nothing_else(prompt: str, classes: list[str]) -> None:
    image, truth = render_scene(parse_prompt(prompt), seed=0)
    dets = get_detector().detect(image, classes)
    assert sorted(d.cls for d in dets) == sorted(o.cls for o in truth.objects)  # both, and nothing extra
    for o in truth.objects:
        assert any(d.cls == o.cls and _near(d.box, o.box) for d in dets), f"{o.cls} not found at its place"


@pytest.mark.parametrize(("prompt", "classes"), SMALL_ON_BIG)
def test_the_contact_relation_passes_in_truth_and_checker(prompt: str, classes: list[str]) -> None:
    scene = parse_prompt(prompt)
    image, truth = render_scene(scene, seed=0)
    rid = scene.relations[0].id
    assert [c.passed for c in world.grade_truth(scene, truth) if c.target == rid] == [True]
    assert [c.passed for c in check_image(image, scene, ocr=False).checks if c.target == rid] == [True]


@pytest.mark.parametrize("prompt", ["a pizza", "a clock and a hair drier"])
def test_no_small_object_is_hallucinated_on_a_bare_big_one(prompt: str) -> None:
    """The scene's small classes are searched too (as the checker does for "a kite in a pizza"), but nothing
    lies on the big objects: the residual holds no object."""
    image, truth = render_scene(parse_prompt(prompt), seed=0)
    dets = get_detector().detect(image, ["pizza", "clock", "hair drier", "kite", "bed", "cow", "baseball bat"])
    assert sorted(d.cls for d in dets) == sorted(o.cls for o in truth.objects)


def test_a_found_objects_drawing_explains_its_pixels_but_not_what_lies_on_it() -> None:
    image, truth = render_scene(parse_prompt("a kite in a pizza"), seed=0)
    rgb = load_rgb(image)
    fg = estimate_background(rgb).foreground
    det = Detector()
    pizza = next(d for d in det.detect(image, ["pizza"]) if d.cls == "pizza")
    kite = next(o for o in truth.objects if o.cls == "kite")
    pad = max(1, round(det.config.pad_frac * pizza.size))
    t = det.template("pizza", pizza.size, 2)
    cand = _Candidate("pizza", pizza.size, pizza.box.x0 - pad, pizza.box.y0 - pad, t.shape[1] * 2, t.shape[0] * 2,
                      pizza.score)
    drawn = det._drawn_by([cand], rgb, fg, {})
    sil = paste_mask(det.artwork.silhouette("pizza", pizza.size), pizza.box.x0, pizza.box.y0, fg.shape)
    kite_sil = paste_mask(det.artwork.silhouette("kite", kite.size), kite.box.x0, kite.box.y0, fg.shape)
    bare = sil & ~kite_sil  # the pizza where the kite does not hide it
    assert (drawn & bare).sum() >= 0.95 * bare.sum()
    on_it = sil & kite_sil  # the kite drawn over the pizza: mostly not explained by the pizza's drawing
    assert on_it.sum() > 500 and (drawn & on_it).sum() <= on_it.sum() / 3  # (its edges, within 2 px, are)


#: Crowded scenes shrink every object, and a worn thing is drawn `render.WORN_SCALE` of its wearer's size: a
#: carrot worn by a parking meter in a picture of eleven objects is 34 px at 512, under the matcher's usual
#: smallest size (7 % of the side), and shows only ~30 outline pixels off its wearer's strokes.
CROWDED_WEARING = "a photo of six red parking meters wearing three orange carrots and two yellow pizzas"


@pytest.mark.parametrize("seed", [0, 2])
def test_small_worn_things_in_a_crowded_picture_are_found_and_the_relation_judged(seed: int) -> None:
    scene = parse_prompt(CROWDED_WEARING)
    image, truth = render_scene(scene, seed=seed)
    worn = [o for o in truth.objects if o.cls == "carrot"]
    assert worn and all(o.size < Detector().sizes(*image.size)[0] for o in worn)  # the case this pins
    dets = get_detector().detect(image, ["parking meter", "carrot", "pizza"], small={"carrot"})
    for o in worn:
        assert any(d.cls == "carrot" and _near(d.box, o.box, 6) for d in dets), f"carrot at {o.box} not found"
    assert sum(d.cls == "carrot" for d in dets) == len(worn)
    rid = scene.relations[0].id
    assert [c.passed for c in world.grade_truth(scene, truth) if c.target == rid] == [True]
    assert [c.passed for c in check_image(image, scene, ocr=False).checks if c.target == rid] == [True]


def test_only_worn_classes_are_searched_small() -> None:
    det = Detector()
    assert det.sizes(512, 512, small=True)[0] < det.sizes(512, 512)[0]
    assert _drawn_small(parse_prompt(CROWDED_WEARING)) == {"carrot"}
    assert _drawn_small(parse_prompt("a dog on a table and a red cup")) == set()


def test_an_object_touching_another_is_seen_with_confidence() -> None:
    """A pillow on a round bed: the bed's outline runs through the pillow's template window, so its plain score
    (0.75) fell under the presence rule's confidence and the checker said "only weak matches" of a pillow drawn
    whole (and every data-orchestra negative "removed" a pillow it never saw). Re-scored without the pixels the
    bed's drawing explains, it is seen."""
    scene = parse_prompt("The blue pillow was on top of the round bed.")
    image, _ = render_scene(scene, seed=0)
    pillow = next(d for d in get_detector().detect(image, ["pillow", "bed", "bed|round"]) if d.cls == "pillow")
    assert pillow.score >= CONFIDENT_SCORE
    presence = [c for c in check_image(image, scene, ocr=False).checks if c.kind == "presence"]
    assert presence and all(c.passed for c in presence), [c.evidence for c in presence]


#: (prompt, seed) of clean renders whose contents sit in front of their container and were missed before:
#: a hair drier's handle rests on the bed's black mattress (the first pass scored it 0.55 beside the bed's
#: ink and refused it; the residual pass skipped it as "already proposed there"), a hot dog lies over a
#: parking meter's head (a third of its template window on the meter: the neighbour re-scoring refused it
#: by that window share, though its whole body is its own).
IN_FRONT_OF_CONTAINER = [
    ("a hair drier in a bed", 0),
    ("a hair drier in a bed", 1),
    ("a hair drier in a black bed", 3),
    ("a hot dog in a parking meter", 0),
    ("a hot dog in a parking meter", 2),
]


@pytest.mark.parametrize(("prompt", "seed"), IN_FRONT_OF_CONTAINER)
def test_contents_drawn_in_front_of_their_container_are_found(prompt: str, seed: int) -> None:
    scene = parse_prompt(prompt)
    image, truth = render_scene(scene, seed=seed)
    assert all(c.passed for c in world.grade_truth(scene, truth))
    verdict = check_image(image, scene, ocr=False)
    assert [c.evidence for c in verdict.checks if not c.passed] == []
    contents = scene.relations[0].subject
    drawn = next(o.box for o in truth.objects if o.element_id == contents)
    found = [c.box for c in verdict.checks if c.target == contents and c.kind == "presence"]
    assert found and found[0] is not None and _near(found[0], drawn, 8)


#: (painter, prompt, seed, class) of painted pictures (`PaintedStream` seed 1's scenes 55, 11 and 20) where
#: the painter drew one instance more than asked and the checker counted exactly the asked number: a count
#: false pass. The instance it missed touches another object: a dining table drawn right under another (its
#: margin held the other's body, read as "inside a bigger blob"), a handbag riding a toilet next to another
#: such pair, a baseball bat 2 px under another (0.73 beside the other's strokes).
TOUCHING_INSTANCES = [
    ("birch", ("a photo of two blue microwaves with a purple chair, four brown dining tables and five pentagonal "
               "bowls"), 1055, "dining table"),
    ("birch", "a photo of three black stone handbags riding three black toilets and a blue couch", 1011, "handbag"),
    ("cedar", ("a photo of a red traffic light below four cell phones, five cylindrical baseball bats and a blue "
               "motorcycle on a desert background"), 1020, "baseball bat"),
]


@pytest.mark.parametrize(("painter", "prompt", "seed", "cls"), TOUCHING_INSTANCES)
def test_an_instance_touching_another_is_counted(painter: str, prompt: str, seed: int, cls: str) -> None:
    tool = ToolRegistry.from_config(load_config("sandbox")).by_name()[painter]
    res = tool(ToolCall(tool=painter, prompt=prompt, seed=seed, width=512, height=512))
    truth = world.WorldTruth.model_validate(res.ground_truth)
    drawn = sum(o.cls == cls and o.visible >= MIN_VISIBLE_SHARE for o in truth.objects)
    scene = parse_prompt(prompt)
    element = next(e for e in scene.elements if e.cls == cls)
    assert drawn == element.count + 1  # the painter's extra instance
    verdict = check_image(png_roundtrip(res.image), scene, ocr=False)
    count = next(c for c in verdict.checks if c.target == element.id and c.kind == "count")
    assert not count.passed and count.evidence.startswith(f"found {drawn} "), count.evidence


#: (big, its size, small, its size, how far below the big one's centre the small one is drawn): the small one
#: lies wholly inside the big one's box, in front. The world's own placement keeps such boxes apart; an editor
#: (or a real model) does not: a cup an editor left on a handbag was dropped as a duplicate of the handbag
#: (`DetectorConfig.overlap_max`), a false fail of "wearing" (painted images, seed 0).
INSIDE_THE_BOX = [("handbag", 150, "cup", 60, 15), ("bowl", 150, "apple", 56, 10), ("suitcase", 150, "clock", 60, 0)]


def _small_in_big(big: str, big_size: int, small: str, small_size: int, dy: int) -> Image.Image:
    art = get_artwork()
    canvas = Image.new("RGBA", (512, 512), (235, 235, 235, 255))
    paste_centered(canvas, art.render(big, big_size), (256, 256))
    if small_size:
        paste_centered(canvas, art.render(small, small_size, "red"), (256, 256 + dy))
    return canvas.convert("RGB")


@pytest.mark.parametrize(("big", "big_size", "small", "small_size", "dy"), INSIDE_THE_BOX)
def test_a_small_object_drawn_inside_a_big_ones_box_is_found(big: str, big_size: int, small: str, small_size: int,
                                                             dy: int) -> None:
    image = _small_in_big(big, big_size, small, small_size, dy)
    dets = Detector().detect(image, [big, small])
    assert sorted(d.cls for d in dets) == sorted([big, small])
    found = next(d for d in dets if d.cls == small)
    cx, cy = found.center
    assert abs(cx - 256) < 8 and abs(cy - 256 - dy) < 8 and abs(found.size - small_size) <= 0.1 * small_size


@pytest.mark.parametrize(("big", "big_size", "small", "small_size", "dy"), INSIDE_THE_BOX)
def test_nothing_is_found_inside_a_bare_big_ones_box(big: str, big_size: int, small: str, small_size: int,
                                                      dy: int) -> None:
    image = _small_in_big(big, big_size, small, 0, dy)
    assert [d.cls for d in Detector().detect(image, [big, small])] == [big]



#: (wearer, its size, worn thing): each worn thing, 0.45 of its wearer's size on its top as the world draws it,
#: was missed before the margin-masked refit (`Detector._refit_beside`): the wearer lies in the worn thing's
#: template margin, which the matcher expects to be background, so the climb settled on a bigger, misaligned
#: fit whose outline missed the ink (a 40 px sink fitted at 50 px on a traffic light, painted pictures of
#: seed 0: "three traffic lights wearing two black sinks").
WORN_ON_TOP = [("traffic light", 90, "apple"), ("cell phone", 70, "sink")]


def _worn_on_top(big: str, big_size: int, small: str, with_small: bool) -> tuple[Image.Image, int, int]:
    """The picture, the worn thing's size and its centre's height (the world's `WORN_SCALE`/`WORN_DEPTH`)."""
    art = get_artwork()
    small_size = round(WORN_SCALE * big_size)
    cy = 256 - big_size // 2 + round(WORN_DEPTH * small_size)
    canvas = Image.new("RGBA", (512, 512), (235, 235, 235, 255))
    paste_centered(canvas, art.render(big, big_size), (256, 256))
    if with_small:
        paste_centered(canvas, art.render(small, small_size), (256, cy))
    return canvas.convert("RGB"), small_size, cy


@pytest.mark.parametrize(("big", "big_size", "small"), WORN_ON_TOP)
def test_a_thing_worn_on_top_is_fitted_at_its_own_size(big: str, big_size: int, small: str) -> None:
    image, small_size, cy = _worn_on_top(big, big_size, small, with_small=True)
    dets = Detector().detect(image, [big, small], small={small})  # as the checker asks for a worn class
    assert sorted(d.cls for d in dets) == sorted([big, small])
    found = next(d for d in dets if d.cls == small)
    # Within 15 %: the failure was a fit 25 % too large. Since 12 coarse peaks per template (session 45) the
    # 32-px sink is proposed and kept at 28 px (0.93; 35 px scored 0.88 with 8 peaks): at its drawn size its
    # template margin still holds the phone's strokes.
    assert abs(found.size - small_size) <= 0.15 * small_size and abs(found.center[1] - cy) < 8


@pytest.mark.parametrize(("big", "big_size", "small"), WORN_ON_TOP)
def test_the_margin_masked_refit_finds_nothing_on_a_bare_wearer(big: str, big_size: int, small: str) -> None:
    image, _, _ = _worn_on_top(big, big_size, small, with_small=False)
    assert [d.cls for d in Detector().detect(image, [big, small], small={small})] == [big]


def test_worn_cups_on_fire_hydrants_are_judged_worn() -> None:
    """A faithful render (seed 3) where the cups were missed before the refit: truth and checker agree."""
    scene = parse_prompt("two fire hydrants wearing two cups")
    image, truth = render_scene(scene, seed=3)
    rid = scene.relations[0].id
    assert [c.passed for c in world.grade_truth(scene, truth) if c.target == rid] == [True]
    assert [c.passed for c in check_image(image, scene, ocr=False).checks if c.target == rid] == [True]


#: (thing, its size, anchor, its size): a triangular truck resting on a green car, 0.75 of its size as the world
#: draws "on". A bigger fit of the same triangle (its apex and sides on the truck's, its extra area on the car)
#: went first by its area and swallowed the car, which was lost: seed 0's painted "five triangular trucks on a
#: green car" (51 px on 68, scored 0.84 against 0.94 at the truck's size), and these sizes on a plain picture.
RESTING = [("truck|triangular", 36, "car", 48), ("truck|triangular", 40, "car", 54), ("truck|triangular", 57, "car", 76)]


def _resting(top: str, top_size: int, under: str, under_size: int) -> Image.Image:
    """`top` resting on `under`'s drawn top, placed as the world places "on" (`render.resting_cy`)."""
    art = get_artwork()
    canvas = Image.new("RGBA", (512, 512), (200, 225, 240, 255))
    anchor, thing = art.render(under, under_size, "green"), art.render(top, top_size)
    paste_centered(canvas, anchor, (256, 300))
    paste_centered(canvas, thing, (256, round(resting_cy(300 - anchor.height / 2, thing.height, anchor.height))))
    return canvas.convert("RGB")


@pytest.mark.parametrize(("top", "top_size", "under", "under_size"), RESTING)
def test_a_thing_resting_on_another_is_found_at_its_own_size_and_the_anchor_too(
    top: str, top_size: int, under: str, under_size: int
) -> None:
    dets = Detector().detect(_resting(top, top_size, under, under_size), [top, under])
    assert sorted(d.cls for d in dets) == sorted([top, under])
    found = next(d for d in dets if d.cls == top)
    assert abs(found.size - top_size) <= 0.1 * top_size, found


def test_without_the_swap_the_anchor_is_swallowed() -> None:
    """The same picture with `part_lead` off (the swap never made): the anchor is lost, so the test above pins
    `Detector._unswallow` and not some other rule."""
    top, top_size, under, under_size = RESTING[1]
    dets = Detector(DetectorConfig(part_lead=2.0)).detect(_resting(top, top_size, under, under_size), [top, under])
    assert [d.cls for d in dets] == [top]
