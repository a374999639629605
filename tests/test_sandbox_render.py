"""The sandbox world's artwork and renderer: every class drawable and distinct, recolouring, textures,
layout relations, counts, text, truth records."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image, ImageFilter

from limner.reading.prompt import parse_prompt
from limner.tools.ocr import read_text
from limner.tools.sandbox.artwork import (
    CLASS_ART,
    COLOR_RGB,
    SUPPORTED_CLASSES,
    TEXTURE_NAMES,
    get_artwork,
)
from limner.tools.sandbox.backdrops import BACKGROUND_NAMES
from limner.tools.sandbox.render import (
    BACKGROUNDS,
    Layout,
    PlacedObject,
    PlacedText,
    layout_scene,
    measure_occlusion,
    paint_background,
    render_layout,
    render_scene,
)
from limner.tools.sandbox.world import (
    WorldTruth,
    grade_truth,
    random_scene,
    rle_decode,
    rle_encode,
)
from limner.types import Element, Relation, Scene
from limner.vocab import COLORS, GENEVAL_CLASSES, TEXTURES


@pytest.fixture(scope="module")
def art():
    return get_artwork()


def _canvas(art, cls: str, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """The sprite centred on a white square, and its centred silhouette."""
    sp = art.render(cls, size)
    bg = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    w, h = sp.size
    bg.alpha_composite(sp, ((size - w) // 2, (size - h) // 2))
    sil = np.zeros((size, size), bool)
    sil[(size - h) // 2 : (size - h) // 2 + h, (size - w) // 2 : (size - w) // 2 + w] = np.asarray(sp)[..., 3] > 127
    return np.asarray(bg.convert("RGB"), np.float32), sil


def test_every_geneval_class_and_colour_is_covered():
    assert set(GENEVAL_CLASSES) <= set(SUPPORTED_CLASSES)
    assert set(COLOR_RGB) == set(COLORS)
    assert set(TEXTURE_NAMES) == set(TEXTURES)
    fidelity = [CLASS_ART[c].fidelity for c in GENEVAL_CLASSES]
    assert fidelity.count("exact") >= 60 and fidelity.count("drawn") == 11


@pytest.mark.parametrize("cls", GENEVAL_CLASSES)
def test_each_geneval_class_renders_at_the_requested_size(art, cls):
    sp = art.render(cls, 64)
    assert sp.mode == "RGBA" and max(sp.size) == 64
    alpha = np.asarray(sp)[..., 3]
    assert (alpha > 127).mean() > 0.08, f"{cls} is nearly empty"
    body = art.body_mask(cls, 64)
    assert body.shape == alpha.shape[:2] and body.sum() > 20, f"{cls} has no recolourable body"
    assert art.default_color(cls) in COLOR_RGB


def test_all_classes_are_pairwise_distinct(art):
    """No two classes look alike: appearance differs on a 48 px canvas (mean |RGB| difference)."""
    feats = {c: _canvas(art, c) for c in SUPPORTED_CLASSES}
    closest = min(
        (float(np.abs(feats[a][0] - feats[b][0]).mean()), a, b)
        for a, b in itertools.combinations(SUPPORTED_CLASSES, 2)
    )
    assert closest[0] > 15, f"{closest[1]} and {closest[2]} look alike (difference {closest[0]:.1f})"
    # silhouettes alone separate most GenEval pairs too (colour separates the rest)
    ious = [
        (feats[a][1] & feats[b][1]).sum() / max(1, (feats[a][1] | feats[b][1]).sum())
        for a, b in itertools.combinations(GENEVAL_CLASSES, 2)
    ]
    assert np.mean(np.asarray(ious) > 0.9) < 0.01


@pytest.mark.parametrize("color", COLORS)
def test_recolouring_paints_the_body_in_the_prototype(art, color):
    for cls in ("car", "apple", "cat", "fire hydrant", "umbrella"):
        sp = np.asarray(art.render(cls, 96, color))
        body = art.body_mask(cls, 96) & (sp[..., 3] == 255)
        px = sp[..., :3][body].reshape(-1, 3)
        values, counts = np.unique(px, axis=0, return_counts=True)
        dominant = values[counts.argmax()]
        assert np.abs(dominant.astype(int) - COLOR_RGB[color]).max() <= 3, (cls, color, dominant)


def test_outlines_stay_black_and_black_objects_are_near_black(art):
    sp = np.asarray(art.render("car", 128, "black"))
    opaque = sp[..., 3] == 255
    outline = (sp[..., :3].max(axis=-1) < 10) & opaque
    assert outline.sum() > 100
    body = art.body_mask("car", 128) & opaque
    assert np.median(sp[..., :3][body], axis=0).min() >= 35  # #303030, not #000000


def test_recolouring_changes_only_the_body(art):
    a = np.asarray(art.render("bus", 96, "green")).astype(int)
    b = np.asarray(art.render("bus", 96, "purple")).astype(int)
    body = art.body_mask("bus", 96)
    opaque = a[..., 3] == 255
    differ = (np.abs(a - b).max(axis=-1) > 20) & opaque
    near_body = np.asarray(Image.fromarray(body.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3))) > 0
    assert (differ & ~near_body).sum() == 0  # only anti-aliased edges of the body blend with the outline
    assert (body & opaque & ~differ).sum() <= 0.02 * body.sum()


@pytest.mark.parametrize("texture", TEXTURE_NAMES)
def test_textures_change_the_body_and_are_deterministic(art, texture):
    plain = np.asarray(art.render("vase", 96, "blue")).astype(int)
    tex = np.asarray(art.render("vase", 96, "blue", texture)).astype(int)
    again = np.asarray(get_artwork().render("vase", 96, "blue", texture)).astype(int)
    body = art.body_mask("vase", 96)
    changed = np.abs(plain - tex).max(axis=-1) > 8
    assert changed[body].mean() > 0.2, f"{texture} barely visible"
    assert not changed[~body & (plain[..., 3] == 255)].any(), f"{texture} leaks outside the body"
    assert np.array_equal(tex, again)


def test_unknown_colour_class_texture_are_clear_errors(art):
    with pytest.raises(KeyError, match="cannot draw"):
        art.render("griffin", 64)
    with pytest.raises(KeyError, match="unknown colour"):
        art.render("car", 64, "ultraviolet")
    with pytest.raises(KeyError, match="unknown texture"):
        art.render("car", 64, None, "hairy")


def test_rle_round_trip():
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (5, 7), (13, 4)]:
        for p in (0.0, 0.3, 1.0):
            m = rng.random(shape) < p
            assert np.array_equal(rle_decode(rle_encode(m), *shape), m)


def _scene(*elements: Element, relations=(), background=None) -> Scene:
    return Scene(prompt="test", elements=list(elements), relations=list(relations), background=background)


@pytest.mark.parametrize("pred", ["left of", "right of", "above", "below", "next to", "on", "in front of", "behind"])
def test_faithful_layout_satisfies_relations(pred):
    ok = 0
    for seed in range(10):
        scene = _scene(Element(id="a", noun="cat", cls="cat"), Element(id="b", noun="car", cls="car"),
                       relations=[Relation(subject="a", predicate=pred, object="b")])
        _, truth = render_scene(scene, seed=seed, width=320, height=320)
        checks = {c.target: c.passed for c in grade_truth(scene, truth)}
        ok += checks[f"a:{pred.replace(' ', '_')}:b"]
    assert ok >= 9, f"{pred}: only {ok}/10 layouts hold"


def test_depth_is_drawn_by_overlap_order_and_scale():
    scene = _scene(Element(id="a", noun="dog", cls="dog"), Element(id="b", noun="bench", cls="bench"),
                   relations=[Relation(subject="a", predicate="in front of", object="b")])
    _, truth = render_scene(scene, seed=3, width=320, height=320)
    a, b = truth.objects_of("a")[0], truth.objects_of("b")[0]
    assert a.z > b.z and a.scale > b.scale
    assert min(a.box.x1, b.box.x1) > max(a.box.x0, b.box.x0)  # they overlap


def test_truth_records_who_visibly_hides_whom():
    scene = _scene(Element(id="a", noun="dog", cls="dog"), Element(id="b", noun="bench", cls="bench"),
                   relations=[Relation(subject="a", predicate="in front of", object="b")])
    _, truth = render_scene(scene, seed=3, width=320, height=320)
    a, b = truth.objects_of("a")[0], truth.objects_of("b")[0]
    assert a.covers == [b.z] and b.covers == []
    assert b.visible < 1.0 == a.visible


def test_depth_needs_visible_occlusion_not_box_overlap():
    """Boxes that overlap at a corner show no depth order: the truth fails the relation (as the checker)."""
    scene = _scene(Element(id="a", noun="dog", cls="dog"), Element(id="b", noun="bench", cls="bench"),
                   relations=[Relation(subject="a", predicate="in front of", object="b")])
    _, truth = render_scene(scene, seed=3, width=320, height=320)
    a, b = truth.objects_of("a")[0], truth.objects_of("b")[0]
    assert grade_truth(scene, truth)[-1].passed
    a.covers = []  # the same boxes, but nothing of the bench hidden
    assert a.box.overlaps(b.box) and not grade_truth(scene, truth)[-1].passed
    a.covers = b.covers = None  # a truth that never measured occlusion falls back to box overlap
    assert grade_truth(scene, truth)[-1].passed


def test_a_sign_is_not_hidden_by_its_own_text_plate():
    scene = _scene(Element(id="s", noun="sign", cls="sign", text="MUSEUM"))
    _, truth = render_scene(scene, seed=0)
    assert truth.objects[0].visible == 1.0
    assert all(c.passed for c in grade_truth(scene, truth))


def _sign_with_clock_in_front(clock_cy: float) -> tuple[np.ndarray, WorldTruth, Scene]:
    """A sign saying OPEN (its plate written at the sign's depth) and a clock drawn after it at (160, clock_cy)."""
    layout = Layout(objects=[PlacedObject(element_id="s", cls="sign", cx=160, cy=160, size=220, z=0),
                             PlacedObject(element_id="c", cls="clock", cx=160, cy=clock_cy, size=60, z=1)],
                    texts=[PlacedText(element_id="s", text="OPEN", cx=160, cy=160 - 110 + 220 * 0.37,
                                      width=int(220 * 0.86), on=0)])
    image, truth = render_layout(layout, 320, 320)
    scene = _scene(Element(id="s", noun="sign", cls="sign", text="OPEN"), Element(id="c", noun="clock", cls="clock"))
    return np.asarray(image), truth, scene


def test_a_text_is_written_at_its_signs_depth():
    """What stands in front of a sign stands in front of its text: the clock over the plate is drawn whole
    and in view, and the word it hides is not counted as written."""
    cy = truth_plate_cy(220)
    rgb, truth, scene = _sign_with_clock_in_front(clock_cy=cy)
    clock, text = truth.objects_of("c")[0], truth.texts[0]
    assert text.z == truth.objects_of("s")[0].z < clock.z
    assert clock.visible == 1.0  # the plate did not hide it
    assert text.plate is not None and clock.box.intersection(text.plate) is not None
    assert text.visible is not None and text.visible < 0.95
    c = clock.box  # every pixel of the clock's silhouette shows the clock, as drawn with no text at all
    sil = np.asarray(get_artwork().render("clock", 60))[..., 3] == 255
    alone, _ = render_layout(Layout(objects=[PlacedObject(element_id="c", cls="clock", cx=160, cy=cy, size=60)]),
                             320, 320)
    window = (slice(c.y0, c.y0 + sil.shape[0]), slice(c.x0, c.x0 + sil.shape[1]))
    assert (rgb[window][sil] == np.asarray(alone)[window][sil]).all()
    checks = {ch.kind: ch.passed for ch in grade_truth(scene, truth)}
    assert checks["text"] is False and checks["presence"] is True


def test_a_text_clear_of_whatever_is_in_front_is_written():
    _, truth, scene = _sign_with_clock_in_front(clock_cy=250)  # the clock on the sign's lower part
    assert truth.texts[0].visible == 1.0
    assert all(c.passed for c in grade_truth(scene, truth) if c.kind == "text")


def test_a_text_written_over_everything_still_hides_what_is_under_its_plate():
    """An editor's new text (z None) is drawn last: its plate hides the clock under it."""
    _, truth, _ = _sign_with_clock_in_front(clock_cy=truth_plate_cy(220))
    truth.texts[0].z = None
    measure_occlusion(truth)
    assert truth.objects_of("c")[0].visible < 1.0 and truth.texts[0].visible == 1.0


def truth_plate_cy(sign_size: int) -> float:
    """Where `_place_texts` centres a sign's plate, for a sign of this size centred at y = 160."""
    return 160 - sign_size / 2 + sign_size * 0.37


@pytest.mark.parametrize("count", [1, 2, 4, 6, 9])
def test_counts_are_drawn_exactly_and_mostly_separate(count):
    scene = _scene(Element(id="a", noun="apples", cls="apple", count=count, color="green"),
                   Element(id="b", noun="cup", cls="cup"))
    _, truth = render_scene(scene, seed=count, width=512, height=512)
    apples = truth.objects_of("a")
    assert len(apples) == count
    assert all(o.color == "green" for o in apples)
    assert min(o.visible for o in truth.objects) > 0.6


def test_unknown_class_is_recorded_not_dropped():
    scene = _scene(Element(id="a", noun="griffin", cls="griffin"), Element(id="b", noun="cat", cls="cat"))
    _, truth = render_scene(scene, seed=0)
    assert truth.unsupported == ["griffin"]
    assert [o.cls for o in truth.objects] == ["cat"]


def test_text_is_drawn_on_a_plate_and_recorded():
    scene = _scene(Element(id="s", noun="sign", cls="sign", text="OPEN"), Element(id="c", noun="cat", cls="cat"))
    image, truth = render_scene(scene, seed=1)
    assert [t.text for t in truth.texts] == ["OPEN"]
    t = truth.texts[0]
    crop = np.asarray(image)[t.box.y0 : t.box.y1, t.box.x0 : t.box.x1]
    assert (crop.max(axis=-1) < 80).mean() > 0.08  # dark ink on the white plate
    assert t.box.y1 - t.box.y0 >= 12  # big enough for OCR


def test_text_is_readable_by_ocr():
    pytest.importorskip("rapidocr")
    scene = _scene(Element(id="s", noun="sign", cls="sign", text="BAKERY"), Element(id="c", noun="dog", cls="dog"))
    image, _ = render_scene(scene, seed=2)
    assert "BAKERY" in [line[0] for line in read_text(image)]


@pytest.mark.parametrize("name", BACKGROUND_NAMES)
def test_named_backgrounds_are_light_enough_to_separate_objects(name):
    assert name in BACKGROUNDS
    bg = np.asarray(paint_background(name, 128, 128)).astype(int)
    assert bg.shape == (128, 128, 3)
    if name != "night":
        assert bg.mean() > 150


def test_render_is_deterministic_and_truth_round_trips():
    rng = np.random.default_rng(5)
    scene = random_scene(rng, p_texture=0.5, p_text=1.0)
    a, ta = render_scene(scene, seed=7)
    b, tb = render_scene(scene, seed=7)
    pa, pb = io.BytesIO(), io.BytesIO()
    a.save(pa, "PNG")
    b.save(pb, "PNG")
    assert pa.getvalue() == pb.getvalue()
    assert WorldTruth.model_validate_json(ta.model_dump_json()) == ta == tb
    assert ta.simulated is True


def test_random_scenes_are_described_in_english_the_reader_understands():
    rng = np.random.default_rng(11)
    agree = 0
    for _ in range(30):
        scene = random_scene(rng)
        parsed = parse_prompt(scene.prompt)
        agree += sorted((e.cls, e.count, e.color) for e in parsed.elements) == sorted(
            (e.cls, e.count, e.color) for e in scene.elements)
    assert agree >= 25


def test_layout_respects_image_bounds_for_busy_scenes():
    scene = _scene(*[Element(id=f"e{i}", noun=c, cls=c, count=3) for i, c in enumerate(["cat", "dog", "car", "cup"])])
    layout = layout_scene(scene, np.random.default_rng(0), 256, 192)
    image, truth = render_layout(layout, 256, 192)
    assert image.size == (256, 192) and len(truth.objects) == 12
    for o in truth.objects:
        assert 0 <= o.box.x0 < o.box.x1 <= 256 and 0 <= o.box.y0 < o.box.y1 <= 192
