"""What the world's truth says about a written word after blemishes and sloppy edits, and how the checker
crops a plate whose end a blemish cut off (issues #22, #23; SIMULATED).

- A blemish that takes letters away (a smear, a broken outline, a missing part, a pasted fragment) over more
  than 5 % of a word's letter pixels unwrites the word, as an object in front of it does (`TEXT_MIN_VISIBLE`); one
  that leaves the strokes in place (noise, a colour bleed) does not.
- A sign a sloppy edit pushes aside takes its text, and the blemishes on it, along; a word an edit paints
  over or erases is no longer written (`WorldText.intact`).
- A line read up to the edge of a plate crop is read again on a wider crop.
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

from limner.tools.sandbox.blemishes import add_blemish
from limner.tools.sandbox.checker import _read_scene_text, find_plates
from limner.tools.sandbox.editors import _SideEffect, _update_truth, parse_instruction
from limner.tools.sandbox.render import Layout, PlacedObject, PlacedText, placed_silhouette, render_layout
from limner.tools.sandbox.segment import estimate_background
from limner.tools.sandbox.world import TEXT_MIN_VISIBLE, WorldTruth, grade_truth, text_legible
from limner.types import Box, Element, Scene


def _sign(word: str = "HELLO", size: int = 200) -> tuple[Image.Image, WorldTruth, Scene]:
    layout = Layout(objects=[PlacedObject(element_id="s", cls="sign", cx=160, cy=160, size=size)],
                    texts=[PlacedText(element_id="s", text=word, cx=160, cy=160 - size / 2 + size * 0.37,
                                      width=int(size * 0.86), on=0)])
    image, truth = render_layout(layout, 320, 320)
    scene = Scene(prompt="test", elements=[Element(id="s", noun="sign", cls="sign", text=word)])
    return image, truth, scene


def _text_passes(scene: Scene, truth: WorldTruth) -> bool:
    return [c.passed for c in grade_truth(scene, truth) if c.kind == "text"] == [True]


def _erased_share(truth: WorldTruth) -> float:
    """Share of the letters' pixels the blemishes changed."""
    t = truth.texts[0]
    b = t.box
    return float(truth.blemish_mask()[b.y0 : b.y1, b.x0 : b.x1][t.ink_mask()].mean())


def test_a_clean_word_is_written_and_its_letters_recorded() -> None:
    image, truth, scene = _sign()
    t = truth.texts[0]
    letters = t.ink_mask()
    dark = np.asarray(image)[t.box.y0 : t.box.y1, t.box.x0 : t.box.x1].max(axis=-1) < 128
    assert t.ink is not None and (letters == dark).all() and 0.1 < letters.mean() < 0.9  # letters, not the box
    assert text_legible(t, truth) and _text_passes(scene, truth)


def test_an_object_over_an_empty_part_of_the_words_box_leaves_it_written() -> None:
    """Visibility is measured on the letters: clocks over the empty band above the lower-case letters hide
    more than 5 % of the word's box but none of its letters (measured on the box, the word was unwritten)."""
    base = Layout(objects=[PlacedObject(element_id="s", cls="sign", cx=160, cy=160, size=200)],
                  texts=[PlacedText(element_id="s", text="Teaa", cx=160, cy=160 - 100 + 200 * 0.37,
                                    width=int(200 * 0.86), on=0)])
    _, alone = render_layout(base, 320, 320)
    b, letters = alone.texts[0].box, alone.texts[0].ink_mask()
    band = letters.shape[0] // 4
    empty = ~letters[:band].any(axis=0)
    c1 = int(np.flatnonzero(empty)[-1])  # the last empty column ...
    c0 = c1
    while c0 > 0 and empty[c0 - 1]:
        c0 -= 1  # ... and the empty run it ends
    size = 2 * band  # clocks centred on the box's top edge: their lower halves fill the band
    assert c1 - c0 >= 3 * size
    clocks = [PlacedObject(element_id="c", cls="clock", cx=b.x0 + c0 + size * (i + 0.5), cy=b.y0, size=size, z=1 + i)
              for i in range(3)]
    _, truth = render_layout(base.model_copy(update={"objects": [*base.objects, *clocks]}), 320, 320)
    t = truth.texts[0]
    on_box = np.zeros((320, 320), dtype=bool)
    for c in truth.objects_of("c"):
        sil, (ys, xs), _ = placed_silhouette(c, 320, 320)
        on_box[ys, xs] |= sil
    assert on_box[b.y0 : b.y1, b.x0 : b.x1].mean() > 1 - TEXT_MIN_VISIBLE  # a box-based measure unwrites it
    assert t.visible is not None and t.visible >= TEXT_MIN_VISIBLE
    assert text_legible(t, truth)


@pytest.mark.parametrize("kind", ["smear", "missing_part"])
def test_a_blemish_that_takes_letters_away_unwrites_the_word(kind: str) -> None:
    image, truth, scene = _sign()
    _, blemish = add_blemish(image, truth, kind, np.random.default_rng(3), target=truth.texts[0].box)
    assert blemish is not None and _erased_share(truth) > 1 - TEXT_MIN_VISIBLE  # it lies on the letters
    assert not _text_passes(scene, truth)


@pytest.mark.parametrize("kind", ["noise_patch", "color_bleed"])
def test_a_blemish_that_leaves_the_strokes_keeps_the_word(kind: str) -> None:
    image, truth, scene = _sign()
    _, blemish = add_blemish(image, truth, kind, np.random.default_rng(3), target=truth.texts[0].box)
    assert blemish is not None and _erased_share(truth) > 0
    assert _text_passes(scene, truth)


def _sign_blob(image: Image.Image) -> np.ndarray:
    """The sign's foreground pixels (the one blob in the picture), as `editors._neighbour_blob` finds it."""
    fg = estimate_background(np.asarray(image)).foreground
    _, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def _edit(truth: WorldTruth, before: Image.Image, after: np.ndarray, effects: list[_SideEffect]) -> WorldTruth:
    cv = SimpleNamespace(side_effects=effects, seen=[], initial=[])
    return _update_truth(truth, parse_instruction("make the sign red"), before, Image.fromarray(after), cv,
                         "test", [])


def test_a_sign_pushed_aside_takes_its_text_and_its_blemishes_along() -> None:
    image, truth, scene = _sign(size=160)
    image, blemish = add_blemish(image, truth, "smear", np.random.default_rng(3), target=truth.texts[0].box)
    assert blemish is not None
    rgb = np.asarray(image)
    blob = _sign_blob(image)
    ys, xs = np.nonzero(blob)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    dx, dy = -30, 20  # as `editors._shift_blob` moves it
    after = rgb.copy()
    after[blob] = estimate_background(rgb).fill[blob]
    after[ys + dy, xs + dx] = rgb[ys, xs]
    effect = _SideEffect("shift", Box(x0=int(x0), y0=int(y0), x1=int(x1), y1=int(y1)), (dx, dy), None, blob)
    new = _edit(truth, image, after, [effect])
    old_box, new_box = truth.texts[0].box, new.texts[0].box
    assert (new_box.x0 - old_box.x0, new_box.y0 - old_box.y0) == (dx, dy)
    assert new.texts[0].intact is None  # its pixels were copied as they were
    # the smear moved with the sign: it is on the word at its new place, and the word is still not written
    moved = new.blemish_mask()[new_box.y0 : new_box.y1, new_box.x0 : new_box.x1][new.texts[0].ink_mask()]
    assert moved.mean() > 1 - TEXT_MIN_VISIBLE
    assert not _text_passes(scene, new)


def test_a_word_an_edit_erases_is_no_longer_written() -> None:
    image, truth, scene = _sign()
    rgb = np.asarray(image)
    blob = _sign_blob(image)
    after = rgb.copy()
    after[blob] = estimate_background(rgb).fill[blob]  # the sign (and its plate) erased
    new = _edit(truth, image, after, [])
    assert new.texts[0].intact is not None and new.texts[0].intact < TEXT_MIN_VISIBLE
    assert not _text_passes(scene, new)


def test_an_edit_elsewhere_leaves_the_word_written() -> None:
    image, truth, scene = _sign()
    after = np.asarray(image).copy()
    after[300:315, 10:40] = 0  # a mark far from the sign
    new = _edit(truth, image, after, [])
    assert new.texts[0].intact is None and _text_passes(scene, new)


def test_a_word_running_to_the_plate_crops_edge_is_read_on_a_wider_crop() -> None:
    """A colour bleed over the plate's right end stops its white region before the last letter: the crop around
    that region cut "BAKERYY" to "BAKERY" (a false pass, painted images, seed 1)."""
    pytest.importorskip("rapidocr")
    image, truth, _ = _sign("BAKERYY", size=110)
    rgb = np.asarray(image).copy()
    ink = truth.texts[0].box
    cut = ink.x1 - (ink.x1 - ink.x0) // 12  # through the last letter
    plate = truth.texts[0].plate
    assert plate is not None
    region = rgb[plate.y0 : plate.y1, cut : plate.x1 + 2]
    white = region.min(axis=-1) >= 200
    region[white] = (240, 150, 190)  # tinted: no longer the plate's white
    plates = find_plates(rgb)
    assert plates and min(abs(p.x1 - cut) for p in plates) < abs(ink.x1 - cut) + 8  # the crop ends near the cut
    read = [t for t, _, _ in _read_scene_text(rgb, ["BAKERY"])]
    assert "BAKERYY" in read and "BAKERY" not in read


def test_a_shifted_blob_carries_every_object_on_it() -> None:
    """A blob is every touching object at once: the clock hung on the sign moves with it (matching the blob's
    box alone moved the sign and left the clock's truth behind)."""
    layout = Layout(objects=[PlacedObject(element_id="s", cls="sign", cx=160, cy=160, size=160),
                             PlacedObject(element_id="c", cls="clock", cx=160, cy=175, size=50)])
    image, truth = render_layout(layout, 320, 320)
    rgb = np.asarray(image)
    blob = _sign_blob(image)
    ys, xs = np.nonzero(blob)
    dx, dy = 25, -20
    after = rgb.copy()
    after[blob] = estimate_background(rgb).fill[blob]
    after[ys + dy, xs + dx] = rgb[ys, xs]
    box = Box(x0=int(xs.min()), y0=int(ys.min()), x1=int(xs.max()) + 1, y1=int(ys.max()) + 1)
    new = _edit(truth, image, after, [_SideEffect("shift", box, (dx, dy), None, blob)])
    for old, moved in zip(truth.objects, new.objects, strict=True):
        assert (moved.box.x0 - old.box.x0, moved.box.y0 - old.box.y0) == (dx, dy), old.cls
