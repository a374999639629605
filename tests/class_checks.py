"""Shared checks of the sandbox world's classes (tests/test_more_classes.py, tests/test_world_more_objects.py):
is a class, drawn alone on white, found as itself and not as one of its listed look-alikes?"""

from __future__ import annotations

import numpy as np
from PIL import Image

from limner.reading.prompt import parse_prompt, plural
from limner.tools.sandbox.artwork import CLASS_ART, Artwork
from limner.tools.sandbox.checker import unjudged_parts
from limner.tools.sandbox.detect import Detector


def best_matches(art: Artwork, detector: Detector, cls: str, size: int, color: str | None,
                 lookalikes: tuple[str, ...]) -> list[tuple[str, float]]:
    """(class, score) of every detection when `cls` is drawn alone and the detector is told to look for it
    and its look-alikes, best first."""
    canvas = Image.new("RGB", (256, 256), (255, 255, 255))
    sprite = art.render(cls, size, color)
    canvas.paste(sprite, ((256 - sprite.width) // 2, (256 - sprite.height) // 2), sprite)
    classes = [cls, *(c for c in lookalikes if c in CLASS_ART)]
    return sorted(((d.cls, d.score) for d in detector.detect(canvas, classes=classes)), key=lambda t: -t[1])


def assert_seen_as_itself(found: list[tuple[str, float]], cls: str) -> None:
    """The best match is the class itself, confident (≥ 0.9), and no look-alike comes within 0.05 of it."""
    assert found and found[0][0] == cls and found[0][1] >= 0.9, f"{cls} not seen as itself: {found}"
    rivals = [(c, round(s, 2)) for c, s in found if c != cls and s >= found[0][1] - 0.05]
    assert not rivals, f"{cls}: look-alikes match nearly as well: {rivals}"


def assert_recolours_keeping_outline(art: Artwork, cls: str) -> None:
    """Its body takes an asked colour (with its shades) and its black outline stays black, at 64 px."""
    body = art.body_mask(cls, 64)
    assert body.sum() > 40, f"{cls} has no recolourable body"
    red = np.asarray(art.render(cls, 64, "red"))[..., :3].astype(int)
    blue = np.asarray(art.render(cls, 64, "blue"))[..., :3].astype(int)
    r_mean, b_mean = red[body].mean(axis=0), blue[body].mean(axis=0)
    assert r_mean[0] > r_mean[2] + 50 and b_mean[2] > b_mean[0] + 50, (r_mean, b_mean)
    outline = (red.max(axis=-1) < 40) & (np.asarray(art.render(cls, 64, "red"))[..., 3] > 200)
    assert outline.sum() > 20 and (blue[outline].max(axis=-1) < 40).mean() > 0.9


def assert_read_as_itself_and_world_supported(cls: str) -> None:
    """Prompts naming it (with a colour and a relation, a plural, a texture) read as the class, and the
    world draws and judges them whole."""
    for prompt in (f"a red {cls} on the left of a blue cup", f"two {plural(cls)}", f"a wooden {cls}"):
        scene = parse_prompt(prompt)
        assert scene.elements[0].cls == cls, (prompt, scene.elements)
        assert not unjudged_parts(scene), (prompt, unjudged_parts(scene))
