"""Contact sheet of sandbox classes: each in its default colour, beside a small blue recolouring.

    PYTHONPATH=src python scripts/class_sheet.py docs/img/sandbox-more-classes.png            # issue #23's classes
    PYTHONPATH=src python scripts/class_sheet.py docs/img/sandbox-more-classes-2.png --second-round  # its 2nd round
    PYTHONPATH=src python scripts/class_sheet.py out.png rug towel blanket                     # any classes

Each cell is labelled with the class and its fidelity (e: exact emoji, a: approximate emoji, d: drawn).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from limner.files import atomic_save_image
from limner.tools.sandbox.artwork import get_artwork
from limner.tools.sandbox.drawings import DRAWINGS

#: The OpenMoji glyphs issue #23 added (the drawn classes are `drawings.DRAWINGS`).
ISSUE_23_GLYPHS = ("lizard", "flamingo", "soap", "ruler", "paintbrush", "tire", "cabinet", "sculpture")
#: Its second round: 43 glyphs and 6 drawings (`tests/test_world_more_objects.py` checks each).
SECOND_ROUND_GLYPHS = (
    "goldfish", "paper", "wave", "hook", "rope", "clipboard", "potato", "badge", "armchair", "shower", "salad",
    "ribbon", "pepper", "briefcase", "planet", "lettuce", "squirrel", "volleyball", "parrot", "pie", "honey",
    "popcorn", "palette", "bookmark", "flashlight", "sandal", "ladybug", "rhinoceros", "bacon", "steak",
    "cocktail", "melon", "log", "temple", "notepad", "microscope", "toolbox", "hedgehog", "jellyfish", "beetle",
    "pretzel", "croissant", "butter",
)
SECOND_ROUND_DRAWN = ("rubber band", "cutlery", "phone case", "sharpener", "bush", "snowflake")
CELL, COLS = 110, 9


def sheet(classes: list[str]) -> Image.Image:
    """The classes in a grid: an 80 px sprite in its own colours and a 28 px blue one."""
    art = get_artwork()
    rows = (len(classes) + COLS - 1) // COLS
    img = Image.new("RGB", (COLS * CELL, rows * CELL), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, cls in enumerate(classes):
        x, y = (i % COLS) * CELL, (i // COLS) * CELL
        big, small = art.render(cls, 80), art.render(cls, 28, "blue")
        img.paste(big, (x + 5, y + 2), big)
        img.paste(small, (x + 80, y + 60), small)
        draw.text((x + 4, y + 96), f"{cls} ({art.fidelity(cls)[0]})", fill=(0, 0, 0))
    return img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="PNG to write")
    ap.add_argument("classes", nargs="*", help="classes to show (default: issue #23's new classes)")
    ap.add_argument("--second-round", action="store_true", help="issue #23's second round of classes")
    args = ap.parse_args()
    art = get_artwork()
    first = [*ISSUE_23_GLYPHS, *(c for c in DRAWINGS if c not in SECOND_ROUND_DRAWN)]
    classes = args.classes or ([*SECOND_ROUND_GLYPHS, *SECOND_ROUND_DRAWN] if args.second_round else first)
    unknown = [c for c in classes if not art.supports(c)]
    if unknown:
        raise SystemExit(f"the sandbox cannot draw {unknown}")
    atomic_save_image(args.out, sheet(classes), compress_level=9)
    print(f"wrote {args.out} ({len(classes)} classes)")


if __name__ == "__main__":
    main()
