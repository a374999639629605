"""The second round of classes issue #23 adds to the sandbox world (T2I-CompBench nouns the world could not
draw or see): each is its own OpenMoji glyph or a drawing of its own, is read from a prompt under its name,
is drawn by the world's renderer, found by the sandbox checker where it is drawn (in the colour asked for)
and not found where it is not, and is not mistaken for the classes it could be taken for. The sweep over
four sizes and colours is `slow`: `pytest -m slow tests/test_world_more_objects.py`."""

from __future__ import annotations

import pytest
from class_checks import (
    assert_read_as_itself_and_world_supported,
    assert_recolours_keeping_outline,
    assert_seen_as_itself,
    best_matches,
)

from limner.reading.prompt import parse_prompt
from limner.tools.sandbox.artwork import CLASS_ART, COLOR_RGB, get_artwork
from limner.tools.sandbox.checker import check_image, unjudged_parts
from limner.tools.sandbox.detect import Detector
from limner.tools.sandbox.drawings import DRAWN_WITH
from limner.tools.sandbox.render import render_scene
from limner.tools.sandbox.world import phrase
from limner.types import Element, Scene
from limner.vocab import GENEVAL_CLASSES

#: The OpenMoji glyphs added, with their fidelity (approx: the closest depiction of the same object).
GLYPHS: dict[str, str] = {
    "goldfish": "exact", "paper": "approx", "wave": "exact", "hook": "exact", "rope": "approx",
    "clipboard": "exact", "potato": "exact", "badge": "approx", "armchair": "exact", "shower": "exact",
    "salad": "exact", "ribbon": "exact", "pepper": "exact", "briefcase": "exact", "planet": "exact",
    "lettuce": "approx", "squirrel": "approx", "volleyball": "exact", "parrot": "exact", "pie": "exact",
    "honey": "approx", "popcorn": "exact", "palette": "exact", "bookmark": "exact", "flashlight": "exact",
    "sandal": "exact", "ladybug": "exact", "rhinoceros": "exact", "bacon": "exact",
    "steak": "exact", "cocktail": "exact", "melon": "exact", "log": "exact", "temple": "approx",
    "notepad": "exact", "microscope": "exact", "toolbox": "exact", "hedgehog": "exact",
    "jellyfish": "exact", "beetle": "exact", "pretzel": "exact", "croissant": "exact", "butter": "exact",
}
#: The classes drawn in `sandbox/drawings.py` for want of a glyph.
DRAWN: tuple[str, ...] = ("rubber band", "cutlery", "phone case", "sharpener", "bush", "snowflake")
NEW_CLASSES: tuple[str, ...] = (*GLYPHS, *DRAWN)

#: Classes each new one could be mistaken for: on a clean render the detector must prefer the new class.
LOOKALIKES: dict[str, tuple[str, ...]] = {
    "goldfish": ("fish", "shark", "dolphin"), "paper": ("envelope", "notebook", "book", "notepad"),
    "wave": ("cloud", "shell"), "hook": ("anchor", "key", "umbrella"), "rope": ("snake", "necklace", "belt"),
    "clipboard": ("notebook", "book", "notepad", "paper"), "potato": ("rock", "bread", "egg", "avocado"),
    "badge": ("sign", "stop sign", "frame"), "armchair": ("chair", "couch", "stool"), "shower": ("lamp",),
    "salad": ("bowl", "broccoli", "cake"), "ribbon": ("tie", "butterfly"), "pepper": ("tomato", "apple", "eggplant"),
    "briefcase": ("suitcase", "handbag", "toolbox", "box"), "planet": ("globe", "sports ball", "moon"),
    "lettuce": ("broccoli", "leaf"), "squirrel": ("mouse", "fox"),
    "volleyball": ("sports ball", "basketball", "globe"), "parrot": ("bird", "flamingo", "chicken"),
    "pie": ("cake", "cookie", "bread"), "honey": ("jar", "bucket", "mug"), "popcorn": ("cup", "cupcake", "bucket"),
    "palette": ("cookie", "plate"), "bookmark": ("flag", "ribbon", "tie"),
    "flashlight": ("microphone", "battery", "telescope"), "sandal": ("shoe", "boot"), "ladybug": ("beetle", "spider"),
    "rhinoceros": ("elephant", "cow", "pig"), "bacon": ("snake", "ribbon"),
    "steak": ("bread", "cheese"), "cocktail": ("wine glass", "cup"), "melon": ("watermelon", "orange", "lemon"),
    "log": ("tree", "rock", "battery"), "temple": ("church", "house", "castle", "building"),
    "notepad": ("notebook", "clipboard", "paper"),
    "microscope": ("telescope", "lamp"), "toolbox": ("briefcase", "suitcase", "box"), "hedgehog": ("mouse", "squirrel"),
    "jellyfish": ("octopus", "mushroom"), "beetle": ("ladybug", "ant", "spider", "bee"),
    "pretzel": ("bagel", "donut", "cookie"), "croissant": ("bread", "banana", "moon"), "butter": ("cheese", "cake", "soap"),
    # cutlery's own fork, knife and spoon match its parts, small (`DRAWN_WITH`); 🍴 (fork) is the whole look-alike
    "rubber band": ("bracelet", "ring", "belt", "tire"), "cutlery": ("fork", "chopsticks"),
    "phone case": ("cell phone", "tv remote", "eraser"), "sharpener": ("eraser", "camera", "battery", "box"),
    "bush": ("tree", "broccoli", "cloud", "potted plant"), "snowflake": ("star", "flower", "sun"),
}
#: Words for the same thing a class shows, read as that class.
SYNONYMS: dict[str, str] = {
    "pants": "jeans", "trousers": "jeans", "coat": "jacket", "raincoat": "jacket", "purse": "handbag",
    "statue": "sculpture", "tortoise": "turtle", "seashell": "shell", "journal": "notebook", "rhino": "rhinoceros",
    "shrub": "bush", "pencil sharpener": "sharpener", "stone": "rock", "ladybird": "ladybug",
    "lab coat": "jacket",
}
#: Scenes of three new classes each, in three colours none of them has by default where possible.
COLOURS: tuple[str, ...] = ("red", "blue", "green")
GROUPS: list[tuple[str, ...]] = [NEW_CLASSES[i : i + 3] for i in range(0, len(NEW_CLASSES), 3)]


@pytest.fixture(scope="module")
def art():
    return get_artwork()


def test_the_new_classes_are_registered_each_with_a_look_of_its_own():
    assert len(NEW_CLASSES) >= 40 and len(set(NEW_CLASSES)) == len(NEW_CLASSES)
    for cls, fidelity in GLYPHS.items():
        assert CLASS_ART[cls].glyph is not None and CLASS_ART[cls].fidelity == fidelity, cls
    for cls in DRAWN:
        assert CLASS_ART[cls].glyph is None and CLASS_ART[cls].fidelity == "drawn", cls
    glyphs = [a.glyph for a in CLASS_ART.values() if a.glyph]
    assert len(glyphs) == len(set(glyphs)), "two classes share a glyph: one object under two names"
    assert not set(NEW_CLASSES) & set(GENEVAL_CLASSES)


@pytest.mark.parametrize("cls", NEW_CLASSES)
def test_recolours_its_body_and_keeps_its_outline(art, cls):
    assert_recolours_keeping_outline(art, cls)
    assert art.default_color(cls) in COLOR_RGB


@pytest.mark.parametrize("cls", NEW_CLASSES)
def test_a_prompt_about_it_is_read_as_the_class_and_world_supported(cls):
    assert_read_as_itself_and_world_supported(cls)


@pytest.mark.parametrize(("word", "cls"), SYNONYMS.items())
def test_a_word_for_the_same_thing_reads_as_the_class(word, cls):
    scene = parse_prompt(f"a red {word} and a blue cup")
    assert [e.cls for e in scene.elements] == [cls, "cup"] and scene.elements[0].noun == word
    assert not unjudged_parts(scene)


def test_a_scene_naming_cutlery_and_one_of_its_parts_is_not_judged():
    """Cutlery is drawn as a fork, a knife and a spoon, and the detector finds those in it: "a cutlery and a
    knife" cannot be judged (a picture of the cutlery alone would show the knife), so the checker says so."""
    assert DRAWN_WITH["cutlery"] == ("fork", "knife", "spoon")
    for part in DRAWN_WITH["cutlery"]:
        parts = unjudged_parts(parse_prompt(f"a plastic cutlery and a metallic {part}"))
        assert len(parts) == 1 and "cannot tell the scene's " + part in parts[0], parts
    assert not unjudged_parts(parse_prompt("a plastic cutlery and a glass cup"))
    assert not unjudged_parts(parse_prompt("a fork and a knife"))


def test_the_world_says_their_plurals():
    said = {c: phrase(Element(id="e0", noun=c, cls=c, count=2)) for c in ("goldfish", "cutlery", "potato", "bush")}
    assert said == {"goldfish": "two goldfish", "cutlery": "two cutlery", "potato": "two potatoes",
                    "bush": "two bushes"}


def _scene(classes: tuple[str, ...], colours: tuple[str | None, ...]) -> Scene:
    elements = [Element(id=f"e{i}", noun=c, cls=c, count=1, color=col)
                for i, (c, col) in enumerate(zip(classes, colours, strict=True))]
    return Scene(prompt=" and ".join(f"a {col or ''} {c}" for c, col in zip(classes, colours, strict=True)),
                 elements=elements)


@pytest.mark.parametrize("k", range(len(GROUPS)))
def test_drawn_in_a_scene_the_checker_finds_each_in_its_colour_and_not_one_left_out(k):
    """A picture of one group, checked against a scene that also asks for the next group's classes (as if a
    painter had left them out): the drawn ones are found in their colours, the others are not found."""
    group, left_out = GROUPS[k], GROUPS[(k + 1) % len(GROUPS)]
    image, truth = render_scene(_scene(group, COLOURS[: len(group)]), seed=k, width=288, height=288)
    assert sorted(o.cls for o in truth.objects) == sorted(group)
    scene = _scene((*group, *left_out), (*COLOURS[: len(group)], *(None,) * len(left_out)))
    checks = {(c.target, c.kind): c for c in check_image(image, scene, ocr=False).checks}
    for i, cls in enumerate(group):
        for kind in ("presence", "color"):
            assert checks[(f"e{i}", kind)].passed, (cls, checks[(f"e{i}", kind)].evidence)
    for i, cls in enumerate(left_out, start=len(group)):
        assert not checks[(f"e{i}", "presence")].passed, (cls, checks[(f"e{i}", "presence")].evidence)


@pytest.fixture(scope="module")
def detector():
    return Detector()


def test_every_new_class_has_its_lookalikes_listed():
    assert set(LOOKALIKES) == set(NEW_CLASSES)
    assert all(c in CLASS_ART for cs in LOOKALIKES.values() for c in cs)


#: The default-suite subset of the look-alike check: the new classes nearest an older one.
QUICK = ("paper", "potato", "pie", "steak", "croissant", "cutlery", "phone case", "sharpener")


@pytest.mark.parametrize("cls", QUICK)
def test_detected_as_itself_not_as_a_lookalike(art, detector, cls):
    assert_seen_as_itself(best_matches(art, detector, cls, 72, "blue", tuple(LOOKALIKES[cls])), cls)


@pytest.mark.slow
@pytest.mark.parametrize("cls", NEW_CLASSES)
@pytest.mark.parametrize(("size", "color"), [(48, "red"), (64, None), (110, "blue"), (150, "green")])
def test_detected_as_itself_at_every_size(art, detector, cls, size, color):
    assert_seen_as_itself(best_matches(art, detector, cls, size, color, tuple(LOOKALIKES[cls])), cls)
