"""More vector-drawn classes of the sandbox world: T2I-CompBench's household nouns that OpenMoji has no glyph for.

Each drawing is made on OpenMoji's 72-unit grid in its style (black 2-unit outline, flat fills) by the
artwork's pen (`artwork._Pen`): `p.body` is the recolourable fill, `p.dark` its shade; every other colour
here is fixed, so the artwork's body mask (the pixels a recolouring changes) is exactly the object's own
material. Silhouettes are made to differ from the classes they could be mistaken for (a rug has fringes, a
towel hangs from a rail, a frame is empty inside, a single glove has a cuff and five fingers), because the
sandbox detector matches outline and structure templates and a look-alike would be a confident false
match. Kept apart from `artwork.py` so that module keeps its font machinery and the first drawings; it
imports nothing from the sandbox, so `artwork` can import it.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from typing import Protocol

RGBA = tuple[int, int, int, int]

_GRAY: RGBA = (155, 155, 154, 255)
_LIGHT: RGBA = (208, 207, 206, 255)
_DARK: RGBA = (63, 63, 63, 255)
_WHITE: RGBA = (255, 255, 255, 255)
_BLUE: RGBA = (146, 211, 245, 255)
_CLEAR: RGBA = (0, 0, 0, 0)  # a hole: pixels drawn with it are transparent

class Pen(Protocol):
    """What a drawing needs of `artwork._Pen` (coordinates on the 72-unit grid)."""

    body: RGBA
    dark: RGBA

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: RGBA, r: float = 0) -> None: ...
    def ellipse(self, x0: float, y0: float, x1: float, y1: float, fill: RGBA) -> None: ...
    def polygon(self, points: list[tuple[float, float]], fill: RGBA) -> None: ...
    def line(self, points: list[tuple[float, float]], width: float = 2) -> None: ...
    def chord(self, x0: float, y0: float, x1: float, y1: float, start: float, end: float, fill: RGBA) -> None: ...
    def arc(self, x0: float, y0: float, x1: float, y1: float, start: float, end: float, fill: RGBA) -> None: ...


def _light(p: Pen, step: float = 0.18) -> RGBA:
    """The body colour lightened (a lit face): still body, since it follows the recolouring."""
    h, lum, s = colorsys.rgb_to_hls(*(c / 255.0 for c in p.body[:3]))
    r, g, b = colorsys.hls_to_rgb(h, min(0.96, lum + step), s)
    return (round(r * 255), round(g * 255), round(b * 255), 255)


# --- textiles ------------------------------------------------------------------------------------------


def _rug(p: Pen) -> None:
    for y in range(19, 55, 4):                       # fringes at both ends
        p.line([(2, y), (9, y)], 1.2)
        p.line([(63, y), (70, y)], 1.2)
    p.rect(8, 16, 64, 56, p.body)
    p.rect(13, 21, 59, 51, p.dark)                   # border band
    p.rect(17, 25, 55, 47, p.body)
    p.polygon([(36, 28), (47, 36), (36, 44), (25, 36)], p.dark)  # medallion


def _blanket(p: Pen) -> None:
    p.polygon([(6, 8), (66, 8), (66, 48), (48, 66), (6, 66)], p.body)
    p.rect(6, 30, 66, 38, p.dark)                    # tartan bands
    p.rect(26, 8, 34, 66, p.dark)
    p.rect(6, 8, 66, 16, p.dark)                     # satin binding
    p.polygon([(66, 48), (48, 48), (48, 66)], _light(p))          # turned-back corner


def _towel(p: Pen) -> None:
    p.rect(22, 12, 50, 66, p.body, 2)                # hanging cloth
    p.rect(22, 50, 50, 54, _WHITE)                   # woven stripes
    p.rect(22, 57, 50, 59, _WHITE)
    p.rect(8, 8, 64, 15, _GRAY, 3)                   # rail
    p.line([(22, 22), (50, 22)], 1.5)                # fold over the rail


def _mat(p: Pen) -> None:
    """A mat rolled up, lying down: the roll, its spiral end, the last stretch unrolled."""
    p.polygon([(14, 48), (68, 48), (68, 60), (14, 60)], _light(p, 0.1))   # unrolled tongue
    p.rect(14, 14, 62, 48, p.body)                   # the roll
    p.ellipse(2, 14, 26, 48, p.dark)                 # its end
    p.arc(8, 20, 20, 42, 0, 360, _DARK)              # spiral
    p.ellipse(11, 26, 17, 36, p.body)


def _curtain(p: Pen) -> None:
    p.polygon([(8, 10), (32, 10), (24, 40), (28, 66), (8, 66)], p.body)   # left drape, tied back
    p.polygon([(40, 10), (64, 10), (64, 66), (44, 66), (48, 40)], p.body)
    for x0, x1 in ((18, 16), (54, 56)):                                   # folds
        p.line([(x0, 12), (x1, 64)], 2)
    p.rect(20, 38, 28, 43, _DARK, 1)                 # tie-backs
    p.rect(44, 38, 52, 43, _DARK, 1)
    p.rect(2, 6, 70, 11, _DARK, 2)                   # rod
    p.polygon([(4, 10), (68, 10), (68, 20), (60, 16), (52, 20), (44, 16), (36, 20), (28, 16), (20, 20),
               (12, 16), (4, 20)], p.dark)           # scalloped valance joining the drapes


def _cushion(p: Pen) -> None:
    p.polygon([(8, 8), (36, 13), (64, 8), (59, 36), (64, 64), (36, 59), (8, 64), (13, 36)], p.body)
    for a, b in (((13, 13), (30, 30)), ((59, 13), (42, 30)), ((13, 59), (30, 42)), ((59, 59), (42, 42))):
        p.line([a, b], 1.2)                          # tufting seams
    p.ellipse(31, 31, 41, 41, p.dark)                # button


def _sweater(p: Pen) -> None:
    p.polygon([(22, 8), (50, 8), (66, 22), (66, 58), (58, 58), (56, 30), (52, 30), (52, 64), (20, 64),
               (20, 30), (16, 30), (14, 58), (6, 58), (6, 22)], p.body)
    p.chord(27, 2, 45, 16, 0, 180, p.dark)           # neck rib
    p.rect(20, 58, 52, 64, p.dark)                   # waist rib
    p.rect(6, 54, 14, 60, p.dark)                    # cuffs
    p.rect(58, 54, 66, 60, p.dark)


def _glove(p: Pen) -> None:
    """One glove (a pair is the 🧤 glyph): four fingers, a thumb and a cuff."""
    for x, top in ((20, 12), (27, 7), (34, 6), (41, 10)):
        p.rect(x, top, x + 7, 36, p.body, 3.5)
    p.polygon([(20, 36), (10, 24), (6, 28), (16, 46)], p.body)   # thumb
    p.rect(19, 30, 49, 56, p.body, 4)                # palm
    p.rect(21, 54, 47, 68, p.dark, 2)                # cuff
    p.line([(24, 30), (24, 36)], 1.2)
    p.line([(31, 30), (31, 36)], 1.2)
    p.line([(38, 30), (38, 36)], 1.2)


def _belt(p: Pen) -> None:
    """A belt buckled into a loop, seen at an angle: the buckle in front, the tongue hanging out."""
    p.ellipse(4, 14, 68, 50, p.body)                 # strap loop
    p.ellipse(12, 20, 60, 42, _CLEAR)
    p.polygon([(40, 44), (52, 44), (56, 66), (46, 70), (40, 60)], p.body)  # free end, pointed
    for y in (52, 59):
        p.ellipse(45, y, 49, y + 4, _DARK)           # holes
    p.rect(24, 38, 42, 54, _GRAY, 3)                 # buckle
    p.rect(28, 42, 38, 50, p.body, 1)


# --- furniture -----------------------------------------------------------------------------------------


def _frame(p: Pen) -> None:
    """An empty picture frame on its stand (the painting glyph is a frame with a picture in it)."""
    p.polygon([(44, 60), (56, 70), (60, 66), (50, 58)], _DARK)   # easel back stand
    p.rect(8, 4, 64, 64, p.body, 1)                  # moulding
    p.rect(18, 14, 54, 54, _WHITE)                   # the empty opening (its white backing card)
    for a, b in (((8, 4), (18, 14)), ((64, 4), (54, 14)), ((8, 64), (18, 54)), ((64, 64), (54, 54))):
        p.line([a, b], 1.5)                          # mitred corners


def _stool(p: Pen) -> None:
    p.line([(22, 24), (14, 68)], 3)                  # legs
    p.line([(50, 24), (58, 68)], 3)
    p.line([(36, 26), (36, 66)], 3)
    p.line([(18, 50), (54, 50)], 2)                  # foot ring
    p.rect(14, 14, 58, 24, p.dark, 3)                # seat edge
    p.ellipse(14, 6, 58, 20, p.body)                 # round seat


def _shelf(p: Pen) -> None:
    p.polygon([(12, 36), (22, 36), (12, 52)], _DARK)   # brackets
    p.polygon([(50, 36), (60, 36), (60, 52)], _DARK)
    p.rect(4, 30, 68, 37, p.body, 1)                 # plank
    p.rect(16, 16, 22, 30, (210, 47, 39, 255))       # a few books on it
    p.rect(22, 18, 28, 30, (97, 178, 228, 255))
    p.rect(44, 22, 56, 30, _LIGHT, 1)


def _bookshelf(p: Pen) -> None:
    p.rect(10, 2, 62, 70, p.body, 1)                 # case
    books = ((210, 47, 39, 255), (97, 178, 228, 255), (252, 234, 43, 255), (92, 158, 49, 255))
    for row, y in enumerate((6, 28, 50)):
        p.rect(14, y, 58, y + 18, p.dark)            # shelf back
        for i in range(4 - row % 2):
            x = 16 + 9 * i + 3 * (row % 2)
            p.rect(x, y + 3 + (i % 2) * 2, x + 7, y + 18, books[(i + row) % 4])


def _nightstand(p: Pen) -> None:
    """A bedside table: one drawer, an open shelf under it, long legs."""
    p.rect(16, 44, 20, 68, _DARK)                    # legs
    p.rect(52, 44, 56, 68, _DARK)
    p.rect(14, 14, 58, 48, p.body, 1)                # case
    p.rect(10, 8, 62, 15, p.body, 1)                 # top
    p.rect(18, 18, 54, 28, p.dark, 1)                # drawer
    p.ellipse(33, 20, 39, 26, _GRAY)
    p.rect(18, 32, 54, 44, _DARK)                    # open shelf
    p.rect(22, 36, 34, 44, _LIGHT, 1)                # a book on it


def _dresser(p: Pen) -> None:
    """A wide chest of three full-width drawers, two pulls each, on turned feet."""
    p.ellipse(6, 58, 16, 68, _DARK)                  # bun feet
    p.ellipse(56, 58, 66, 68, _DARK)
    p.rect(4, 16, 68, 62, p.body, 1)                 # chest
    p.rect(2, 10, 70, 17, p.dark, 2)                 # overhanging top
    for y in (21, 35, 49):
        p.rect(9, y, 63, y + 10, _light(p, 0.1), 1)
        p.rect(17, y + 4, 25, y + 6, _DARK)
        p.rect(47, y + 4, 55, y + 6, _DARK)


def _bookend(p: Pen) -> None:
    p.polygon([(14, 6), (30, 6), (30, 52), (62, 52), (62, 66), (14, 66)], p.body)  # L-shaped stand
    p.ellipse(17, 14, 27, 24, p.dark)                # ornament
    p.rect(34, 26, 42, 52, (210, 47, 39, 255))       # the books it holds
    p.rect(42, 30, 50, 52, (97, 178, 228, 255))


def _fence(p: Pen) -> None:
    p.rect(2, 26, 70, 32, p.body)                    # rails
    p.rect(2, 50, 70, 56, p.body)
    for x in (4, 18, 32, 46, 60):                    # pickets with pointed tops
        p.polygon([(x, 16), (x + 4, 10), (x + 8, 16), (x + 8, 66), (x, 66)], p.body)


# --- small things --------------------------------------------------------------------------------------


def _eraser(p: Pen) -> None:
    p.polygon([(8, 34), (22, 22), (66, 22), (52, 34)], _light(p))  # top face
    p.polygon([(52, 34), (66, 22), (66, 42), (52, 54)], p.dark)     # end face
    p.rect(8, 34, 52, 54, p.body)                                  # front face
    p.rect(30, 34, 52, 54, _BLUE)                    # paper sleeve


def _jewelry_box(p: Pen) -> None:
    p.polygon([(12, 30), (18, 6), (54, 6), (60, 30)], p.body)   # open lid
    p.polygon([(18, 26), (22, 10), (50, 10), (54, 26)], (120, 30, 50, 255))  # velvet lining
    p.rect(8, 30, 64, 64, p.body, 2)                 # box
    p.rect(8, 30, 64, 38, p.dark)                    # tray rim
    p.ellipse(30, 20, 42, 34, _CLEAR)                # a ring in the tray
    p.rect(30, 44, 42, 50, (241, 179, 28, 255), 1)   # clasp


def _keychain(p: Pen) -> None:
    p.ellipse(4, 4, 30, 30, _GRAY)                   # split ring
    p.ellipse(9, 9, 25, 25, _CLEAR)
    p.line([(25, 25), (34, 34)], 2.5)                # link
    p.polygon([(32, 30), (50, 30), (66, 46), (66, 66), (46, 66), (32, 52)], p.body)  # charm tag
    p.ellipse(36, 34, 42, 40, _CLEAR)


def _bracelet(p: Pen) -> None:
    p.ellipse(6, 18, 66, 56, p.body)                 # band seen at an angle
    p.ellipse(14, 24, 58, 48, _CLEAR)
    for i in range(9):                               # beads on the near side
        x = 12 + 6 * i
        y = 50 - abs(i - 4) * 1.6
        p.ellipse(x - 3, y - 3, x + 3, y + 3, _light(p, 0.12))


def _necklace(p: Pen) -> None:
    for i in range(13):                              # a string of pearls hanging in a U
        t = (i - 6) / 6
        x, y = 36 + 26 * t, 50 - 40 * t * t
        p.ellipse(x - 3.5, y - 3.5, x + 3.5, y + 3.5, p.body)
    p.polygon([(36, 54), (42, 62), (36, 70), (30, 62)], (210, 47, 39, 255))  # centre stone


def _pendant(p: Pen) -> None:
    p.line([(14, 4), (36, 30), (58, 4)], 1.2)        # fine chain
    p.ellipse(32, 26, 40, 34, _GRAY)                 # bail
    p.polygon([(36, 32), (50, 48), (36, 70), (22, 48)], p.body)  # the pendant stone
    p.polygon([(36, 38), (44, 48), (36, 60), (28, 48)], _light(p))


def _earring(p: Pen) -> None:
    p.arc(26, 2, 42, 18, 180, 20, _DARK)             # ear hook
    p.line([(34, 18), (34, 28)], 1.5)
    p.ellipse(29, 26, 39, 36, _GRAY)                 # bead
    p.polygon([(34, 36), (46, 56), (34, 70), (22, 56)], p.body)  # drop
    p.ellipse(30, 52, 38, 60, _light(p))


def _brooch(p: Pen) -> None:
    for i in range(10):                              # scalloped rim
        a = 2 * math.pi * i / 10
        x, y = 36 + 24 * math.cos(a), 36 + 24 * math.sin(a)
        p.ellipse(x - 8, y - 8, x + 8, y + 8, p.body)
    p.ellipse(14, 14, 58, 58, p.body)
    p.ellipse(24, 24, 48, 48, (210, 47, 39, 255))    # centre stone
    p.ellipse(29, 28, 37, 36, _WHITE)


def _mug(p: Pen) -> None:
    """A tall straight mug with a big squared handle (the cup glyph is low, on a saucer)."""
    p.rect(40, 18, 62, 54, p.body, 8)                # handle
    p.rect(46, 25, 56, 47, _CLEAR, 4)
    p.rect(12, 8, 46, 68, p.body, 3)                 # body
    p.rect(12, 8, 46, 14, p.dark, 2)                 # rim band


def _knob(p: Pen) -> None:
    p.ellipse(10, 52, 62, 66, p.dark)                # rosette
    p.rect(30, 34, 42, 58, p.body)                   # neck
    p.ellipse(14, 6, 58, 42, p.body)                 # knob
    p.ellipse(22, 12, 34, 22, _light(p, 0.3))        # shine


def _tray(p: Pen) -> None:
    """A serving tray from the side: a shallow well between two raised handles."""
    p.polygon([(8, 36), (64, 36), (58, 52), (14, 52)], p.body)   # well
    p.rect(2, 22, 16, 40, p.body, 4)                 # handles
    p.rect(56, 22, 70, 40, p.body, 4)
    p.rect(6, 26, 12, 32, _CLEAR, 2)
    p.rect(60, 26, 66, 32, _CLEAR, 2)
    p.rect(8, 34, 64, 38, p.dark)                    # rim


def _cutting_board(p: Pen) -> None:
    p.rect(54, 28, 70, 46, p.body, 6)                # handle
    p.ellipse(58, 33, 66, 41, _CLEAR)
    p.rect(4, 12, 58, 62, p.body, 6)                 # board
    p.line([(12, 22), (48, 22)], 1)                  # grain
    p.line([(12, 37), (50, 37)], 1)
    p.line([(12, 52), (46, 52)], 1)


def _paddle(p: Pen) -> None:
    """A double-bladed paddle (a kayak's): a long shaft, a broad blade at each end, set at opposite slants
    (as a kayak's are feathered). Narrow spoon-shaped blades made it a spoon's twin: a spoon matched a
    green paddle at 150 px within 0.03 of the paddle itself, and a paddle outscored a red spoon at 48 px."""
    p.rect(16, 34, 56, 38, p.dark)                   # shaft
    p.polygon([(0, 28), (18, 30), (18, 42), (2, 48)], p.body)     # blades, broad and slanted
    p.polygon([(54, 30), (72, 24), (70, 44), (54, 42)], p.body)
    p.rect(30, 33, 42, 39, _DARK, 1)                 # grip


def _paperweight(p: Pen) -> None:
    p.rect(12, 58, 60, 64, _GRAY, 2)                 # base
    p.chord(10, 14, 62, 102, 180, 360, p.body)       # glass dome
    for x, y in ((36, 40), (30, 46), (42, 46), (36, 52)):   # the flower inside
        p.ellipse(x - 5, y - 5, x + 5, y + 5, (250, 135, 185, 255))
    p.ellipse(32, 42, 40, 50, (252, 234, 43, 255))
    p.ellipse(20, 26, 28, 34, _WHITE)                # shine


def _skyscraper(p: Pen) -> None:
    p.line([(36, 2), (36, 12)], 1.5)                 # antenna
    p.rect(28, 10, 44, 18, p.body)                   # setback crown
    p.rect(22, 16, 50, 70, p.body)                   # tower
    for y in range(22, 66, 7):                       # window grid
        for x in (26, 34, 42):
            p.rect(x, y, x + 4, y + 4, _BLUE)


# --- geometric solids ----------------------------------------------------------------------------------


def _cube(p: Pen) -> None:
    p.polygon([(36, 4), (66, 19), (36, 34), (6, 19)], _light(p))   # top face
    p.polygon([(6, 19), (36, 34), (36, 68), (6, 53)], p.body)        # left face
    p.polygon([(36, 34), (66, 19), (66, 53), (36, 68)], p.dark)      # right face


def _block(p: Pen) -> None:
    """A rectangular block (a cuboid longer than it is high): the cube's proportions differ."""
    p.polygon([(4, 30), (20, 16), (68, 16), (52, 30)], _light(p))
    p.polygon([(52, 30), (68, 16), (68, 42), (52, 56)], p.dark)
    p.rect(4, 30, 52, 56, p.body)


def _sphere(p: Pen) -> None:
    p.ellipse(6, 6, 66, 66, p.body)
    p.chord(6, 6, 66, 66, 20, 160, p.dark)           # shadowed underside
    p.ellipse(18, 16, 32, 28, _light(p, 0.3))        # highlight


def _pyramid(p: Pen) -> None:
    p.polygon([(36, 4), (4, 58), (40, 68)], p.body)  # lit face
    p.polygon([(36, 4), (40, 68), (68, 52)], p.dark)  # shaded face


def _cylinder(p: Pen) -> None:
    bottom = [(36 + 20 * math.cos(math.pi * i / 12), 62 + 8 * math.sin(math.pi * i / 12)) for i in range(13)]
    p.polygon([(56, 12), *bottom, (16, 12)], p.body)  # side, with its rounded bottom edge
    p.ellipse(16, 4, 56, 20, _light(p))              # top face


def _cone(p: Pen) -> None:
    p.chord(10, 50, 62, 70, 0, 180, p.body)
    p.polygon([(36, 2), (62, 60), (10, 60)], p.body)
    p.polygon([(36, 2), (62, 60), (48, 63)], p.dark)  # shaded side


def _prism(p: Pen) -> None:
    """A triangular prism lying on a long face: the triangular end faces the viewer."""
    p.polygon([(16, 10), (62, 22), (70, 60), (28, 66)], p.body)     # long rectangular face
    p.polygon([(16, 10), (28, 66), (2, 56)], p.dark)                # triangular end


# --- more of T2I-CompBench's nouns (issue #23, second round) ---------------------------------------------


def _rubber_band(p: Pen) -> None:
    """A rubber band dropped on a table: one loop twisted once into a big and a small lobe (a bracelet is
    one round ring with beads; a lone thin ring was taken for a tyre)."""
    p.ellipse(2, 16, 50, 58, p.body)                 # the big lobe
    p.ellipse(8, 22, 44, 52, _CLEAR)
    p.ellipse(40, 24, 70, 50, p.body)                # the small lobe, crossing over the big one
    p.ellipse(46, 30, 64, 44, _CLEAR)
    p.polygon([(40, 31), (50, 35), (50, 41), (40, 45)], p.body)   # the twist
    p.line([(43, 33), (47, 43)], 1.2)


def _cutlery(p: Pen) -> None:
    """A set of cutlery bundled in a napkin: fork, knife and spoon side by side, their handles held by a wide
    band (🍴, the fork class, shows a fork and a knife, no spoon; three loose utensils drawn thin were
    matched, small, on any other object's stripes)."""
    p.rect(6, 30, 20, 70, p.body, 5)                 # fork: handle, head, four tines
    p.polygon([(6, 32), (20, 32), (22, 18), (4, 18)], p.body)
    for x in (5, 10.5, 16, 21.5):
        p.rect(x - 2, 2, x + 2, 20, p.body, 1)
    p.rect(29, 30, 43, 70, p.body, 5)                # knife: handle and a blade rounded at the tip
    p.polygon([(29, 32), (43, 32), (44, 2), (36, 2), (29, 12)], p.body)
    p.rect(52, 30, 66, 70, p.body, 5)                # spoon: handle and an oval bowl
    p.ellipse(46, 0, 72, 30, p.body)
    p.ellipse(51, 4, 61, 18, _light(p, 0.15))
    p.polygon([(2, 42), (70, 38), (70, 54), (2, 58)], _WHITE)   # the napkin wrapped round the handles,
    for x in range(12, 66, 9):                                   # slanting, its folds showing
        p.line([(x, 42 - (x - 2) / 17 + 1), (x - 3, 58 - (x - 2) / 17 - 1)], 1)


def _phone_case(p: Pen) -> None:
    """An empty phone case seen from the back: the camera opening cut through it, a raised rim, the side
    button covers (the cell phone glyph shows a screen; a case has none)."""
    p.rect(58, 18, 62, 28, p.dark, 1)                # button covers on the side
    p.rect(58, 32, 62, 38, p.dark, 1)
    p.rect(16, 2, 60, 70, p.body, 9)                 # shell
    p.rect(20, 6, 56, 66, _light(p, 0.08), 7)        # the back, inside the raised rim
    p.rect(22, 8, 38, 26, p.dark, 5)                 # camera opening: a bumper ring ...
    p.rect(25, 11, 35, 23, _CLEAR, 4)                # ... around the hole


def _sharpener(p: Pen) -> None:
    """A pencil sharpener from the front: a long, low block, the cone-shaped pencil hole at one end, the
    blade screwed flat into its top, finger grooves at the other end (a taller block with the hole in the
    middle and a raised top read as the camera glyph)."""
    p.rect(2, 22, 70, 52, p.body, 3)                 # block
    p.rect(30, 22, 66, 30, _GRAY, 1)                 # blade, flush with the top
    p.ellipse(56, 23, 62, 29, _LIGHT)                # its screw
    p.ellipse(7, 26, 29, 48, p.dark)                 # the hole's rim
    p.polygon([(11, 37), (25, 31), (25, 43)], _DARK)  # the cone going in
    for x in (38, 44, 50, 56, 62):                   # finger grip grooves
        p.line([(x, 35), (x, 48)], 1.2)


def _bush(p: Pen) -> None:
    """A bush: a low, wide mound of leafy lobes on a strip of earth, its stems showing at the foot, no trunk
    (the tree glyph stands on one)."""
    p.rect(0, 62, 72, 68, (165, 121, 57, 255), 1)   # the strip of earth
    for x in (20, 30, 42, 52):                       # stems
        p.rect(x - 1.5, 50, x + 1.5, 63, (106, 70, 47, 255))
    for x0, y0, x1, y1 in ((0, 28, 26, 56), (46, 28, 72, 56), (10, 14, 38, 46), (34, 12, 62, 44),
                           (20, 26, 52, 56)):
        p.ellipse(x0, y0, x1, y1, p.body)
    for x, y in ((14, 40), (28, 26), (48, 26), (58, 42), (36, 44)):   # leaf clusters
        p.arc(x - 6, y - 5, x + 6, y + 5, 200, 340, p.dark)


def _snowflake(p: Pen) -> None:
    """A six-armed snowflake drawn solid (the ❄ glyph is lines only: nothing to colour): each arm a bar with
    two side branches, around a hexagonal centre."""
    for k in range(6):
        a = math.pi / 2 + k * math.pi / 3
        ca, sa = math.cos(a), math.sin(a)

        def at(r: float, s: float, ca: float = ca, sa: float = sa) -> tuple[float, float]:
            return (36 + r * ca - s * sa, 36 - r * sa - s * ca)

        p.polygon([at(8, -3), at(33, -3), at(35, 0), at(33, 3), at(8, 3)], p.body)       # arm
        for side in (-1, 1):                                                              # branches
            p.polygon([at(18, 2.5 * side), at(27, 11 * side), at(29, 9 * side), at(23, 2.5 * side)], p.body)
    p.polygon([(36 + 11 * math.cos(k * math.pi / 3), 36 + 11 * math.sin(k * math.pi / 3)) for k in range(6)],
              _light(p, 0.1))


# --- issue #23, third round (session 47): household nouns that alone keep train prompts from the world ---


def _placemat(p: Pen) -> None:
    """A placemat, long and low: scalloped short ends, two woven bands across it and a stitched hem line (a
    rug has fringes and a medallion; vertical weave lines read as a keyboard's keys at 48 px)."""
    p.rect(6, 16, 66, 56, p.body, 3)
    for y in (18, 28, 38, 48):                       # scalloped ends
        p.chord(0, y, 12, y + 10, 90, 270, p.body)
        p.chord(60, y, 72, y + 10, 270, 450, p.body)
    p.rect(6, 24, 66, 29, p.dark)                    # woven bands
    p.rect(6, 43, 66, 48, p.dark)
    for x in range(12, 62, 6):                       # stitches along the hem
        p.line([(x, 20), (x + 3, 20)], 1)
        p.line([(x, 52), (x + 3, 52)], 1)

def _napkin(p: Pen) -> None:
    """A cloth napkin drawn through a napkin ring: the cloth fans out on both sides of the ring, its folds
    showing (a bow tie is flat and small in the middle, a ribbon has tails)."""
    p.polygon([(4, 12), (30, 28), (30, 44), (4, 60), (10, 36)], p.body)     # left fan
    p.polygon([(68, 12), (42, 28), (42, 44), (68, 60), (62, 36)], p.body)   # right fan
    for a, b in (((8, 18), (28, 32)), ((8, 54), (28, 40)), ((64, 18), (44, 32)), ((64, 54), (44, 40))):
        p.line([a, b], 1.2)                          # folds
    p.rect(28, 22, 44, 50, _GRAY, 3)                 # the ring
    p.rect(31, 25, 41, 47, _LIGHT, 2)


def _charger(p: Pen) -> None:
    """A phone charger: a square plug block with two prongs on top, its cable looping down to a small
    connector (a cell phone has a screen, a battery terminals)."""
    p.rect(25, 2, 29, 14, _GRAY, 1)                  # prongs
    p.rect(39, 2, 43, 14, _GRAY, 1)
    p.rect(16, 12, 52, 40, p.body, 5)                # block
    p.rect(30, 30, 38, 36, p.dark, 1)                # the port
    p.line([(34, 40), (34, 50), (22, 60), (12, 56), (14, 46), (30, 50), (50, 62), (58, 58)], 2.5)  # cable
    p.rect(56, 50, 68, 66, p.dark, 2)                # connector


def _pencil_holder(p: Pen) -> None:
    """An empty desk pencil cup of wire mesh: a tall, narrow open cylinder, its mouth seen from above, a
    diamond mesh (a mug has a handle, a cup a saucer, a jar a lid; a wider cup matched the cup glyph within
    0.05)."""
    p.rect(18, 10, 54, 68, p.body, 3)                # the cup
    for x in range(18, 50, 6):                       # mesh
        p.line([(x, 12), (x + 6, 64)], 1)
        p.line([(x + 6, 12), (x, 64)], 1)
    p.ellipse(16, 2, 56, 18, p.dark)                 # rim
    p.ellipse(21, 5, 51, 15, _DARK)                  # the open mouth
    p.rect(16, 62, 56, 68, p.dark, 2)                # base band


def _container(p: Pen) -> None:
    """A food storage container: a low rectangular tub, its snap-on lid with a tab at each end, the lid's
    latches down the sides (a box has no lid rim, a suitcase a handle)."""
    p.polygon([(8, 30), (64, 30), (58, 64), (14, 64)], _light(p, 0.2))   # translucent tub, tapering
    p.rect(4, 20, 68, 32, p.body, 3)                 # lid
    p.rect(0, 23, 6, 29, p.body, 1)                  # tabs
    p.rect(66, 23, 72, 29, p.body, 1)
    for x in (10, 56):                               # latches
        p.rect(x, 30, x + 6, 40, p.dark, 1)
    p.line([(16, 56), (56, 56)], 1)                  # the fill line


def _vanity(p: Pen) -> None:
    """A bathroom vanity: a cabinet with two doors under a countertop, a basin sunk in the top and its tap
    (a dresser has drawers, a sink alone no cabinet)."""
    p.rect(8, 30, 64, 68, p.body, 1)                 # cabinet
    p.rect(12, 36, 34, 64, _light(p, 0.1), 1)        # doors
    p.rect(38, 36, 60, 64, _light(p, 0.1), 1)
    p.rect(29, 46, 32, 54, _DARK)                    # pulls
    p.rect(40, 46, 43, 54, _DARK)
    p.rect(4, 24, 68, 31, _LIGHT, 1)                 # countertop
    p.ellipse(22, 25, 50, 31, _WHITE)                # basin
    p.rect(33, 12, 39, 26, _GRAY, 1)                 # tap
    p.rect(33, 12, 46, 17, _GRAY, 2)


def _tablecloth(p: Pen) -> None:
    """A tablecloth laid over a table: the flat top seen at an angle, the cloth falling in folds to a scalloped
    hem, a checked pattern (a curtain hangs from a rod, a rug lies flat)."""
    p.polygon([(16, 10), (56, 10), (70, 26), (2, 26)], p.body)   # the top
    p.polygon([(2, 26), (70, 26), (70, 62), (2, 62)], p.body)    # the drop
    for x in range(2, 70, 12):                       # scalloped hem
        p.chord(x, 56, x + 12, 68, 0, 180, p.body)
    for x in (14, 26, 38, 50, 62):                   # checks on the drop
        p.line([(x, 28), (x, 60)], 1.2)
    for y in (36, 46):
        p.line([(4, y), (68, y)], 1.2)
    p.line([(24, 12), (14, 24)], 1)                  # checks on the top
    p.line([(48, 12), (58, 24)], 1)


def _basketball_hoop(p: Pen) -> None:
    """A basketball hoop on its pole: a backboard with its square, the orange rim, the net below it."""
    p.rect(52, 24, 58, 70, _DARK)                    # pole
    p.rect(8, 4, 66, 40, p.body, 2)                  # backboard
    p.rect(26, 18, 48, 34, _WHITE, 1)                # shooting square
    p.rect(29, 21, 45, 34, p.body)
    p.ellipse(20, 34, 54, 42, (245, 130, 20, 255))   # rim
    p.ellipse(24, 36, 50, 40, _CLEAR)
    p.polygon([(22, 39), (52, 39), (46, 62), (28, 62)], _WHITE)   # net
    for x0, x1 in ((26, 31), (32, 35), (38, 39), (44, 43), (50, 47)):
        p.line([(x0, 40), (x1, 61)], 1)
    p.line([(24, 48), (50, 48)], 1)
    p.line([(26, 55), (48, 55)], 1)


# --- fourth round (session 48) -------------------------------------------------------------------------


def _locket(p: Pen) -> None:
    """A closed locket on its chain: a deep oval case with a raised rim, the hinge knuckle at its top and a
    heart engraved on the lid (a pendant is a flat cut stone on a fine chain, an earring hangs from a
    hook)."""
    for i in range(9):                               # a chain of round links, hanging in a V
        t = i / 8
        p.ellipse(6 + 11 * t - 2, 2 + 24 * t - 2, 6 + 11 * t + 2, 2 + 24 * t + 2, _GRAY)
        p.ellipse(66 - 11 * t - 2, 2 + 24 * t - 2, 66 - 11 * t + 2, 2 + 24 * t + 2, _GRAY)
    p.rect(31, 22, 41, 30, _GRAY, 2)                 # hinge knuckle
    p.ellipse(14, 26, 58, 70, p.dark)                # the case's rim
    p.ellipse(18, 30, 54, 66, p.body)                # the lid
    heart = [(36, 58), (26, 46), (27, 40), (31, 38), (36, 42), (41, 38), (45, 40), (46, 46)]
    p.polygon(heart, _light(p, 0.2))                # the engraved heart
    p.line([(54, 48), (58, 48)], 1.5)                # the clasp's lip


def _zucchini(p: Pen) -> None:
    """A zucchini lying down: long, club-ended and gently bowed, dark with pale speckled stripes along it, its
    woody stalk bent up at the narrow end (the cucumber glyph is bumpy and uniformly bright). A straight
    sliver with the stalk in line was found again, small, on the border of its own shaped outline ("an oblong
    zucchini" seen twice)."""
    spine = [(8 + 8 * i, 38 - 5 * math.sin(math.pi * i / 7)) for i in range(8)]   # bowed, club-ended
    half = [7.5 + 3 * i / 7 for i in range(8)]
    top = [(x, y - h) for (x, y), h in zip(spine, half)]
    bottom = [(x, y + h) for (x, y), h in zip(spine, half)]
    p.polygon([*top, (66, 28), (70, 34), (70, 42), (66, 48), *reversed(bottom), (5, 38)], p.body)
    for dy in (-0.55, 0.0, 0.55):                    # speckled stripes
        for i in range(1, 7):
            (x, y), h = spine[i], half[i]
            p.ellipse(x + 1, y + dy * h - 0.8, x + 3.4, y + dy * h + 0.8, _light(p, 0.3))
    p.polygon([(6, 31), (12, 30), (12, 46), (6, 45)], (120, 160, 60, 255))  # the calyx
    p.polygon([(6, 36), (2, 20), (8, 18), (11, 35)], (150, 130, 90, 255))   # the stalk, bent up
    p.ellipse(63, 34, 68, 40, p.dark)                # blossom end


def _acorn(p: Pen) -> None:
    """An acorn: the smooth nut pointed at its foot, in a scaly cup with a short stalk (an egg has no cup, a
    mushroom's cap sits on a stem, an onion has roots and a sprout)."""
    p.polygon([(20, 30), (52, 30), (54, 44), (48, 58), (36, 70), (24, 58), (18, 44)], p.body)  # the nut
    p.ellipse(24, 36, 30, 50, _light(p, 0.2))        # its shine
    p.chord(12, 14, 60, 46, 180, 360, p.dark)        # the cup
    p.rect(12, 28, 60, 34, p.dark, 2)
    for x in range(18, 56, 6):                       # its scales
        p.line([(x, 22), (x + 3, 26), (x + 6, 22)], 1)
        p.line([(x - 2, 28), (x + 1, 32), (x + 4, 28)], 1)
    p.rect(34, 4, 38, 16, (120, 80, 40, 255), 1)     # the stalk


def _tripod(p: Pen) -> None:
    """A camera tripod, empty: three long legs splayed from a head plate, each with a lock collar, a centre
    column and a pan handle (the telescope's glyph carries a tube on thin legs; an easel has a ledge)."""
    p.polygon([(32, 22), (36, 22), (10, 68), (5, 68)], p.body)     # legs
    p.polygon([(36, 22), (40, 22), (67, 68), (62, 68)], p.body)
    p.polygon([(34, 22), (38, 22), (38, 62), (34, 62)], p.dark)    # the back leg, between them
    for (x0, y0) in ((16, 46), (53, 46)):            # leg locks
        p.rect(x0 - 3, y0 - 2, x0 + 4, y0 + 3, _DARK, 1)
    p.rect(33, 14, 39, 30, _GRAY, 1)                 # centre column
    p.rect(22, 8, 50, 15, p.dark, 2)                 # head plate
    p.line([(50, 12), (64, 20)], 3)                  # pan handle
    p.rect(30, 4, 42, 9, _GRAY, 1)                   # quick-release plate


def _seaweed(p: Pen) -> None:
    """Seaweed: three wavy kelp fronds rising from a holdfast on a rock, air bladders at their joints (a vine
    climbs with tendrils and leaves, a bush is a round mound)."""
    p.ellipse(14, 60, 58, 72, _GRAY)                 # the rock
    fronds = ((14, 0.0, 58), (32, 1.6, 66), (50, 3.1, 54))
    for x0, phase, h in fronds:
        left = [(x0 - 3 + 5 * math.sin(phase + y / 8), 64 - y) for y in range(0, h, 4)]
        right = [(x + 10, y) for x, y in reversed(left)]
        p.polygon([*left, *right], p.body)
        p.line([(x + 5, y) for x, y in left], 1)  # midrib
        for x, y in left[3::4]:                      # bladders
            p.ellipse(x + 7, y - 2.5, x + 13, y + 3.5, p.dark)


def _pencil_case(p: Pen) -> None:
    """A zipped pencil case, a soft barrel-shaped pouch lying down: its round end facing aside, the zip along
    its top with its teeth, the pull tab hanging from the end (a wallet is folded and flat, a handbag has
    handles). A flat pouch, a rounded box with the zip across it, was found again small on the border of
    its own shaped outline ("a rectangular pencil case" seen three times), with a seam or without."""
    p.rect(4, 20, 56, 60, p.body, 6)                 # the barrel
    p.ellipse(44, 20, 70, 60, p.dark)                # its round end
    p.ellipse(50, 27, 64, 53, _light(p, 0.1))
    p.rect(8, 22, 54, 29, _LIGHT, 2)                 # the zip tape
    for x in range(10, 52, 3):                       # teeth
        p.line([(x, 24), (x, 27)], 1)
    p.rect(48, 20, 56, 31, _GRAY, 1)                 # the slider
    p.polygon([(52, 30), (58, 30), (60, 46), (50, 46)], _DARK)   # its pull tab, hanging over the end


def _marker(p: Pen) -> None:
    """A felt-tip marker, uncapped: a fat straight barrel with its colour band and end plug, the wedge of a
    chisel nib, and the clipped cap pushed on the back end (a pen is slim and pointed, a crayon wrapped)."""
    p.polygon([(10, 30), (52, 30), (52, 42), (10, 42)], _LIGHT)   # the barrel
    p.rect(30, 30, 44, 42, p.body)                   # colour band
    p.polygon([(52, 31), (60, 33), (60, 39), (52, 41)], _LIGHT)  # the neck
    p.polygon([(60, 33), (70, 35), (66, 39), (60, 39)], p.body)  # chisel nib
    p.rect(0, 28, 20, 44, p.body, 3)                 # the cap, posted on the end
    p.rect(4, 24, 18, 28, p.dark, 1)                 # its clip


def _fern(p: Pen) -> None:
    """A fern: five arching fronds from one crown, each cut into pinnae that shorten to its tip (a saw-edged
    blade), no pot and no trunk (a palm has a trunk, a potted plant a pot, a feather one smooth vane)."""
    fronds = ((36, 2, 0.0), (12, 10, -6.0), (60, 10, 6.0), (2, 36, -5.0), (70, 36, 5.0))
    for tx, ty, bend in fronds:
        n = 9                                        # the stalk, bowed sideways by `bend`
        pts = [(36 + (tx - 36) * i / n + bend * math.sin(math.pi * i / n), 66 + (ty - 66) * i / n)
               for i in range(n + 1)]
        left: list[tuple[float, float]] = []
        right: list[tuple[float, float]] = []
        for i in range(1, n):
            (xa, ya), (xb, yb) = pts[i - 1], pts[i + 1]
            dx, dy = xb - xa, yb - ya
            norm = math.hypot(dx, dy) or 1
            nx, ny = -dy / norm, dx / norm
            ux, uy = dx / norm, dy / norm
            length = 7 * (1 - i / n) + 2.5
            x, y = pts[i]
            for side, out in ((1, left), (-1, right)):     # a notch, then a pinna's tip
                out += [(x + side * nx * length * 0.5, y + side * ny * length * 0.5),
                        (x + side * nx * length + ux * 2, y + side * ny * length + uy * 2)]
        p.polygon([pts[0], *left, pts[-1], *reversed(right)], p.body)
        p.line(pts, 1)                               # the stalk
    p.ellipse(30, 62, 42, 70, (120, 80, 40, 255))    # the crown



_GREEN: RGBA = (92, 178, 71, 255)    # stems and leaves of the drawn flowers


def _band(p: Pen, path: list[tuple[float, float]], width: float, fill: RGBA) -> None:
    """A flat strap of `width` following `path`, outlined (Pen.line only draws ink)."""
    left: list[tuple[float, float]] = []
    right: list[tuple[float, float]] = []
    for i, (x, y) in enumerate(path):
        (xa, ya), (xb, yb) = path[max(0, i - 1)], path[min(len(path) - 1, i + 1)]
        norm = math.hypot(xb - xa, yb - ya) or 1
        nx, ny = -(yb - ya) / norm * width / 2, (xb - xa) / norm * width / 2
        left.append((x + nx, y + ny))
        right.append((x - nx, y - ny))
    p.polygon([*left, *reversed(right)], fill)


def _saddle(p: Pen) -> None:
    """A riding saddle from the side: the seat dipping between a raised pommel and cantle, the flap hanging
    below it, a stirrup on its leather, the saddle cloth showing under it (a chair has legs, a boot a
    sole)."""
    p.rect(4, 30, 68, 46, _LIGHT, 5)                 # saddle cloth
    seat = [(6, 22), (10, 16), (16, 18), (22, 26), (36, 30), (50, 26), (58, 14), (64, 10), (68, 14), (66, 28),
            (58, 38), (14, 38), (6, 32)]
    p.polygon(seat, p.body)                          # the seat, pommel at the front, cantle behind
    p.line([(18, 30), (36, 34), (54, 30)], 1)        # the seat's welt
    p.rect(22, 34, 48, 56, p.dark, 6)                # the flap
    p.line([(35, 38), (35, 58)], 2)                  # stirrup leather
    p.polygon([(28, 58), (42, 58), (46, 70), (24, 70)], _GRAY)   # stirrup iron
    p.polygon([(31, 61), (39, 61), (41, 67), (29, 67)], _CLEAR)


def _leash(p: Pen) -> None:
    """A dog leash laid down: the hand loop at one end, the strap in a loose S, the snap hook at the other
    end (a rope is twisted and tied, a belt has a buckle, a keychain a ring and a tag)."""
    p.ellipse(4, 2, 30, 26, p.body)                  # hand loop
    p.ellipse(9, 7, 25, 21, _CLEAR)
    path = [(24, 22), (34, 30), (46, 32), (58, 38), (60, 46), (50, 52), (36, 52), (26, 58), (30, 64),
            (42, 64)]
    _band(p, path, 6, p.body)
    p.rect(40, 61, 46, 67, _GRAY, 1)                 # swivel
    p.rect(46, 60, 60, 68, _GRAY, 3)                 # snap hook
    p.arc(54, 56, 68, 72, 270, 90, _DARK)
    p.line([(52, 62), (56, 62)], 1)


def _birdhouse(p: Pen) -> None:
    """A birdhouse on its post: a small box under a steep overhanging roof, a round entrance hole with a
    perch peg under it (a house has a door and windows, a mailbox a flag and a slot)."""
    p.rect(32, 52, 40, 72, p.dark)                   # post
    p.rect(16, 26, 56, 56, p.body, 1)                # the box
    p.polygon([(8, 30), (36, 4), (64, 30), (58, 32), (36, 12), (14, 32)], p.dark)  # roof
    p.ellipse(28, 28, 44, 44, _DARK)                 # entrance hole
    p.ellipse(34, 46, 38, 50, _GRAY)                 # perch peg
    p.line([(16, 38), (20, 38)], 1)                  # plank joints
    p.line([(52, 38), (56, 38)], 1)


def _tiara(p: Pen) -> None:
    """A tiara from the front: a curved band rising to a tall centre peak and lower side peaks in scrolls,
    a stone in each (a crown is a full ring with even points, a necklace hangs from a chain)."""
    outer = [(4, 56), (10, 40), (18, 36), (24, 24), (30, 22), (36, 6), (42, 22), (48, 24), (54, 36), (62, 40),
             (68, 56), (60, 52), (36, 46), (12, 52)]
    p.polygon(outer, p.body)
    p.polygon([(36, 16), (40, 26), (36, 38), (32, 26)], (97, 178, 228, 255))   # centre stone
    p.ellipse(22, 32, 30, 40, (210, 47, 39, 255))    # side stones
    p.ellipse(42, 32, 50, 40, (210, 47, 39, 255))
    for x, y in ((10, 46), (20, 43), (52, 43), (62, 46)):
        p.ellipse(x - 2.5, y - 2.5, x + 2.5, y + 2.5, _WHITE)   # pearls along the band
    p.line([(12, 52), (36, 46), (60, 52)], 1.5)      # the band's edge


def _lily_pad(p: Pen) -> None:
    """A lily pad: a round floating leaf cut by a V-shaped slit to its centre, its veins radiating from there
    (a leaf is long and pointed, a plate has a rim, a pie a crust)."""
    rim = (math.radians(-70 + 320 * i / 48) for i in range(49))   # the round edge, a 40° slit left open
    p.polygon([(36, 36), *((36 + 32 * math.cos(a), 36 + 28 * math.sin(a)) for a in rim)], p.body)
    for i in range(1, 8):                            # veins
        a = math.radians(-70 + 320 * i / 8)
        p.line([(36, 36), (36 + 26 * math.cos(a), 36 + 22 * math.sin(a))], 1)
    p.ellipse(33, 33, 39, 39, p.dark)


def _mouse_pad(p: Pen) -> None:
    """A mouse pad seen from above at a slant: a thin rounded sheet with a gel wrist rest along its front
    edge and a printed swoosh (a placemat has scalloped ends, a mat is rolled, a tray has a rim)."""
    p.polygon([(14, 10), (70, 10), (58, 58), (2, 58)], p.body)      # the pad
    p.polygon([(2, 58), (58, 58), (60, 50), (4, 50)], p.dark)       # its edge band
    p.rect(6, 48, 56, 66, p.dark, 7)                 # wrist rest
    p.line([(12, 56), (50, 56)], 1)
    p.arc(24, 14, 64, 44, 200, 320, _light(p, 0.35))  # printed swoosh


def _cufflink(p: Pen) -> None:
    """A cufflink from the side: a broad round face with a set stone, a short post under it and the
    swivelling toggle bar at the post's foot, turned across (a knob sits on a rosette, an earring hangs
    from a hook)."""
    p.rect(31, 34, 41, 50, _GRAY)                    # the post
    p.polygon([(14, 56), (56, 46), (60, 52), (18, 62)], p.dark)   # toggle bar, turned
    p.ellipse(4, 4, 68, 42, p.body)                  # the face, tilted
    p.ellipse(10, 8, 62, 34, _light(p, 0.15))
    p.ellipse(26, 12, 46, 28, (97, 178, 228, 255))   # the stone


def _lime(p: Pen) -> None:
    """A lime and the half cut from it: the small round fruit with its nub, and the cut face of the half,
    pale green segments in a thin rind (a lemon is an oval with two nubs, a kiwi's face is seeded)."""
    p.ellipse(4, 4, 46, 44, p.body)                  # whole lime
    p.ellipse(2, 20, 8, 28, p.dark)                  # nub
    p.ellipse(12, 10, 20, 18, _light(p, 0.25))       # shine
    p.ellipse(26, 26, 70, 70, p.body)                # the cut half
    p.ellipse(30, 30, 66, 66, (230, 245, 200, 255))  # pith
    p.ellipse(33, 33, 63, 63, _light(p, 0.3))        # flesh
    for i in range(8):                               # segments
        a = 2 * math.pi * i / 8
        p.line([(48, 48), (48 + 15 * math.cos(a), 48 + 15 * math.sin(a))], 1)


def _daffodil(p: Pen) -> None:
    """A daffodil turned aside: six pointed petals round a trumpet that juts out at a slant, on a bent stem
    with a strap leaf (a tulip is a closed cup, a sunflower a disc of seeds, a flower's face is flat)."""
    p.polygon([(18, 72), (14, 46), (20, 38), (24, 46), (24, 72)], _GREEN)      # strap leaf
    p.line([(40, 72), (38, 52), (30, 40)], 2.5)      # stem
    cx, cy = 30, 28
    for i in range(6):                               # petals: pointed lenses round the centre
        a = 2 * math.pi * i / 6 + 0.5
        ux, uy, nx, ny = math.cos(a), math.sin(a), -math.sin(a), math.cos(a)
        p.polygon([(cx, cy), (cx + 12 * ux + 6 * nx, cy + 12 * uy + 6 * ny), (cx + 24 * ux, cy + 24 * uy),
                   (cx + 12 * ux - 6 * nx, cy + 12 * uy - 6 * ny)], p.body)
    p.polygon([(24, 22), (44, 30), (38, 48), (24, 34)], p.dark)     # the trumpet
    p.ellipse(34, 26, 54, 50, _light(p, 0.15))       # its frilled mouth
    p.ellipse(39, 32, 49, 44, p.dark)



def _lily(p: Pen) -> None:
    """A lily from the side: a long trumpet of six pointed petals whose tips curl back, stamens reaching out
    of it, on a stem with narrow leaves (a tulip is a closed cup, a daffodil's trumpet sits in a star)."""
    p.line([(10, 72), (16, 52), (24, 40)], 2.5)      # stem
    p.polygon([(14, 60), (2, 50), (4, 46), (16, 54)], _GREEN)       # leaves
    p.polygon([(14, 58), (26, 62), (26, 66), (13, 63)], _GREEN)
    p.polygon([(22, 42), (52, 10), (64, 4), (60, 16), (44, 30)], p.body)      # upper petals, tips curled
    p.polygon([(22, 42), (56, 40), (70, 34), (66, 46), (48, 48)], p.body)     # lower petals
    p.polygon([(22, 42), (48, 24), (62, 22), (58, 34), (42, 40)], p.dark)     # the petal between, behind
    p.polygon([(20, 38), (28, 36), (30, 46), (22, 48)], _GREEN)              # the green base of the trumpet
    for x1, y1 in ((60, 26), (64, 30), (58, 32)):   # stamens
        p.line([(34, 36), (x1, y1)], 1)
        p.ellipse(x1 - 1.5, y1 - 2.5, x1 + 2, y1 + 1, (140, 60, 20, 255))


def _carnation(p: Pen) -> None:
    """A carnation: a round head of ruffled petals, its edge finely toothed, held in a long green calyx with
    pointed sepals, on a straight stem with slim leaves (a rose is spiral, a tulip a smooth cup)."""
    p.line([(36, 44), (36, 72)], 2.5)                # stem
    p.polygon([(36, 60), (20, 52), (20, 56), (36, 64)], _GREEN)     # leaves
    p.polygon([(36, 56), (52, 48), (52, 52), (36, 60)], _GREEN)
    ruff: list[tuple[float, float]] = []
    for i in range(33):                              # toothed edge of the head
        a = math.pi * (1 + i / 32)
        r = 26 if i % 2 == 0 else 21
        ruff.append((36 + r * math.cos(a), 30 + r * 0.9 * math.sin(a)))
    p.polygon([*ruff, (58, 34), (14, 34)], p.body)
    for y in (18, 26):                               # the inner ruffles
        w = 16 - (y - 18)
        p.line([(36 - w, y + 2), (28, y - 2), (36, y + 2), (44, y - 2), (36 + w, y + 2)], 1)
    p.polygon([(24, 32), (48, 32), (42, 48), (30, 48)], _GREEN)      # calyx
    for x in (26, 36, 46):                           # its sepals
        p.polygon([(x - 4, 34), (x, 28), (x + 4, 34)], _GREEN)


def _soda_can(p: Pen) -> None:
    """A soda can standing, seen a little from above: a short wide can with a rounded foot, narrowing to its
    rim, the lid with its ring pull, a printed wave round it (a cylinder is plain, a candle is slim with a
    wick, a cup has a handle; cans with a flat foot matched the candle within 0.05)."""
    p.chord(12, 52, 60, 70, 0, 180, _GRAY)           # the rounded foot
    p.polygon([(12, 22), (60, 22), (60, 61), (12, 61)], p.body)     # the can
    p.chord(12, 52, 60, 66, 0, 180, p.body)          # its curved lower edge
    p.polygon([(12, 22), (18, 12), (54, 12), (60, 22)], _GRAY)      # the neck
    p.ellipse(18, 6, 54, 18, _LIGHT)                 # the lid
    p.rect(30, 8, 46, 14, _GRAY, 2)                  # the ring pull
    p.ellipse(36, 9, 41, 13, _DARK)
    wave = [(13, 40), (26, 32), (40, 42), (59, 34), (59, 46), (40, 54), (26, 44), (13, 52)]
    p.polygon(wave, _WHITE)                          # the printed wave


def _fig(p: Pen) -> None:
    """A fig and the half cut from it: the teardrop fruit with its short stalk, and the cut face of the half,
    pink flesh full of seeds in a thin skin (a pear is long-necked with a leaf, an onion has roots)."""
    whole = [(24, 4), (28, 6), (36, 18), (44, 30), (46, 40), (40, 50), (26, 54), (10, 48), (6, 38), (10, 26),
             (20, 12)]
    p.polygon(whole, p.body)                         # the whole fig
    p.rect(22, 0, 28, 8, (120, 90, 40, 255), 1)      # stalk
    half = [(52, 22), (56, 26), (62, 38), (68, 50), (66, 62), (54, 70), (40, 68), (32, 58), (36, 46),
            (46, 32)]
    p.polygon(half, p.body)                          # the cut half
    inner = [(53, 30), (58, 40), (63, 50), (61, 60), (53, 65), (43, 63), (38, 56), (41, 46), (48, 36)]
    p.polygon(inner, (238, 120, 140, 255))           # its flesh
    for x, y in ((46, 50), (52, 46), (56, 54), (50, 58), (44, 58), (56, 60), (52, 40)):
        p.ellipse(x - 1, y - 1, x + 1, y + 1, (250, 230, 200, 255))   # seeds


def _papaya(p: Pen) -> None:
    """A papaya cut in half lengthwise, lying aslant: the long pear-shaped fruit, its rind, the flesh and the
    hollow full of black seeds (an avocado half has one big stone, a melon a round rind)."""
    outer = [(8, 62), (4, 50), (10, 34), (26, 18), (44, 8), (60, 4), (68, 10), (66, 24), (54, 40), (36, 58),
             (20, 68)]
    p.polygon(outer, (150, 190, 60, 255))            # the rind
    inner = [(12, 60), (9, 50), (14, 37), (28, 22), (45, 12), (59, 8), (64, 12), (62, 22), (51, 37), (34, 54),
             (20, 63)]
    p.polygon(inner, p.body)                         # the flesh
    cavity = [(18, 54), (16, 46), (24, 36), (38, 26), (50, 18), (56, 18), (54, 24), (44, 34), (30, 48)]
    p.polygon(cavity, _light(p, 0.2))                # the hollow
    for i in range(9):                               # seeds
        t = i / 8
        x, y = 22 + 30 * t, 46 - 26 * t
        p.ellipse(x - 2, y - 2, x + 2, y + 2, _DARK)


def _album(p: Pen) -> None:
    """A photo album lying open: its padded cover round two facing pages, each page holding two photos set by
    their corners (a book glyph is closed, a laptop has a keyboard, a frame holds one picture). Closed, with a
    photo in its cover, it matched the book glyph within 0.05 upright and the laptop lying wide."""
    p.polygon([(2, 14), (36, 10), (70, 14), (70, 62), (36, 58), (2, 62)], p.body)   # the cover
    p.polygon([(6, 18), (36, 14), (66, 18), (66, 58), (36, 54), (6, 58)], _WHITE)   # the pages
    p.line([(36, 14), (36, 54)], 1.5)                # the binding
    for x0 in (10, 40):                              # photos, two to a page
        for y0 in (22, 40):
            p.rect(x0, y0, x0 + 22, y0 + 12, _BLUE)
            p.polygon([(x0, y0 + 12), (x0 + 8, y0 + 6), (x0 + 14, y0 + 12)], (92, 178, 71, 255))
            for (x, y, dx, dy) in ((x0, y0, 4, 4), (x0 + 22, y0, -4, 4), (x0, y0 + 12, 4, -4),
                                   (x0 + 22, y0 + 12, -4, -4)):
                p.polygon([(x, y), (x + dx, y), (x, y + dy)], _DARK)


def _lampshade(p: Pen) -> None:
    """A lampshade alone: a pleated drum flaring to its wide lower rim, seen a little from below so its dark
    inside and the wire fitter show (a lamp has a stem and a foot, a bucket a handle, a cone a point)."""
    p.polygon([(18, 10), (54, 10), (68, 56), (4, 56)], p.body)      # the shade
    p.ellipse(4, 50, 68, 66, _DARK)                  # the inside, seen from below
    p.ellipse(18, 6, 54, 14, p.dark)                 # top rim
    for x in range(8, 68, 8):                        # pleats, converging upwards
        p.line([(36 + (x - 36) * 0.5, 12), (x, 54)], 1)
    p.line([(20, 58), (52, 58)], 1.5)                # the fitter's spokes
    p.line([(36, 52), (36, 64)], 1.5)


def _snowball(p: Pen) -> None:
    """A snowball: a ball of packed snow, its outline lumpy, its shadowed side blue-grey, the dents of the
    hands that packed it (a sphere is smooth and shaded, a ball has seams, a snowman is two balls and a
    face)."""
    pts: list[tuple[float, float]] = []
    for i in range(40):                              # lumpy round outline
        a = 2 * math.pi * i / 40
        r = 30 + 1.8 * math.sin(5 * a) + 1.2 * math.sin(11 * a + 1)
        pts.append((36 + r * math.cos(a), 36 + r * math.sin(a)))
    p.polygon(pts, p.body)
    p.chord(8, 8, 66, 66, 10, 120, (190, 210, 225, 255))   # the shadowed side
    for x, y in ((20, 22), (34, 16), (46, 26), (22, 42), (36, 34), (28, 54)):
        p.arc(x - 5, y - 3, x + 5, y + 3, 20, 160, _DARK)   # dents


def _toast(p: Pen) -> None:
    """A slice of toast lying aslant, its thickness showing: the bread slice's domed top, a dark crust round
    it and the toasted face with its crumb (the bread glyph is two pale slices upright, side
    by side; an upright slice matched it within 0.05)."""
    side = [(14, 68), (64, 58), (68, 62), (18, 72)]
    p.polygon(side, p.dark)                          # the slice's thickness
    outline = [(14, 68), (6, 30), (2, 20), (8, 8), (22, 4), (36, 6), (50, 0), (62, 4), (66, 16), (60, 26),
               (64, 58)]
    p.polygon(outline, p.dark)                       # crust
    inner = [(18, 62), (11, 30), (8, 20), (12, 12), (23, 9), (36, 12), (50, 6), (58, 9), (60, 16), (55, 26),
             (59, 54)]
    p.polygon(inner, p.body)                         # the toasted face
    for x, y in ((24, 26), (40, 22), (46, 38), (28, 42), (38, 50), (24, 54)):
        p.ellipse(x - 1.5, y - 1, x + 1.5, y + 1, _light(p, 0.2))   # crumb



def _arc_path(cx: float, cy: float, r: float, a0: float, a1: float, n: int = 8) -> list[tuple[float, float]]:
    """Points on a circular arc from angle a0 to a1 (degrees, y down)."""
    return [(cx + r * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + r * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


def _paperclip(p: Pen) -> None:
    """A paper clip, its wire coated in colour: three nested loops of one bent wire (the 📎 glyph is lines
    only, nothing to colour; a rubber band is one twisted loop, a hook one curve)."""
    path = [(26, 22), *_arc_path(32, 50, 6, 180, 0), *_arc_path(27, 16, 11, 0, -180),
            *_arc_path(32, 52, 16, 180, 0), (48, 24)]
    _band(p, path, 5, p.body)


def _pizza_cutter(p: Pen) -> None:
    """A pizza cutter: a round steel wheel on an axle held by a fork from its hub, a finger guard, a long
    handle (a magnifying glass's handle holds a lens by its rim, a pan's a bowl)."""
    p.polygon([(40, 34), (62, 6), (70, 12), (46, 40)], p.body)       # handle
    p.rect(40, 30, 48, 42, p.dark, 2)                # finger guard
    p.ellipse(4, 26, 48, 70, _LIGHT)                 # the wheel
    p.ellipse(9, 31, 43, 65, _GRAY)
    p.polygon([(24, 44), (40, 32), (46, 38), (30, 50)], p.dark)      # the fork
    p.ellipse(21, 43, 31, 53, _DARK)                 # axle


def _coat_rack(p: Pen) -> None:
    """A standing coat rack: a tall pole on three splayed feet, a ball finial, curved hooks branching from its
    top (a tripod's legs are long and meet at a head, a lamp has a shade, a tree leaves)."""
    p.rect(33, 10, 39, 62, p.body, 1)                # pole
    p.polygon([(33, 58), (39, 58), (14, 70), (8, 68)], p.dark)      # feet
    p.polygon([(33, 58), (39, 58), (64, 68), (58, 70)], p.dark)
    p.rect(33, 60, 39, 72, p.dark, 1)
    for side in (-1, 1):                             # hooks: arm out, then up, ball tip
        for y, reach in ((16, 18), (26, 12)):
            x1 = 36 + side * reach
            p.polygon([(36, y), (x1, y + 6), (x1, y + 2), (36, y - 3)], p.body)
            p.ellipse(x1 - 3, y - 3, x1 + 3, y + 3, p.dark)
    p.ellipse(31, 2, 41, 12, p.dark)                 # finial


def _tuxedo(p: Pen) -> None:
    """A tuxedo jacket from the front: broad satin lapels in a deep V, the white shirt front and the black bow
    tie, one button at the waist (a coat hangs long and plain, a shirt has no lapels). The lapels are drawn
    lighter than the cloth: in the body's dark shade a blue or green one reads as outline ink, and the
    tuxedo matched itself at only 0.83."""
    p.polygon([(10, 12), (26, 4), (46, 4), (62, 12), (68, 68), (4, 68)], p.body)     # the jacket
    p.polygon([(26, 4), (46, 4), (36, 46)], _LIGHT)                                   # shirt front
    p.polygon([(26, 4), (36, 46), (14, 24)], _light(p, 0.12))                         # satin lapels, shining
    p.polygon([(46, 4), (36, 46), (58, 24)], _light(p, 0.12))
    p.polygon([(26, 8), (36, 12), (46, 8), (46, 18), (36, 14), (26, 18)], _DARK)     # bow tie
    p.ellipse(32, 50, 40, 58, _DARK)                 # the button


def _post_it(p: Pen) -> None:
    """A sticky note stuck on aslant: a small square sheet, its glued strip along the top, a few handwritten
    lines, the lower corner curling up off the surface (a notepad has a spiral, a page is tall, a sign has a
    post; square and level, it matched the sign and the album within 0.05 at 48 px)."""
    def turn(x: float, y: float) -> tuple[float, float]:
        a = math.radians(-10)
        return (36 + (x - 36) * math.cos(a) - (y - 36) * math.sin(a),
                36 + (x - 36) * math.sin(a) + (y - 36) * math.cos(a))
    p.polygon([turn(x, y) for x, y in ((10, 10), (62, 10), (62, 42), (42, 62), (10, 62))], p.body)
    p.polygon([turn(x, y) for x, y in ((10, 10), (62, 10), (62, 18), (10, 18))], p.dark)    # glued strip
    p.polygon([turn(x, y) for x, y in ((62, 42), (42, 62), (46, 46))], _light(p, 0.25))    # curled corner
    p.polygon([turn(x, y) for x, y in ((62, 42), (66, 48), (48, 66), (42, 62))], _LIGHT)   # its shadow
    for y, x1 in ((28, 52), (38, 50), (48, 34)):    # handwriting
        p.line([turn(x, y + dy) for x, dy in ((16, 0), (24, -2), (32, 1), (42, -2), (x1, 0))], 1.2)


def _yam(p: Pen) -> None:
    """A yam: a long tuber, thickest past its middle and tapering to both ends, slightly bent, its skin
    ringed, hair roots along it (a potato is short and round, a carrot has leaves, a zucchini a stem)."""
    spine = [(2 + 68 * i / 24, 42 - 3 * math.sin(math.pi * i / 24) - 10 * i / 24) for i in range(25)]
    half = [12 * math.sin(math.pi * (i / 24) ** 0.8) ** 1.2 + 0.5 for i in range(25)]
    p.polygon([*((x, y - h) for (x, y), h in zip(spine, half)),
               *((x, y + h) for (x, y), h in reversed(list(zip(spine, half))))], p.body)
    for i in (7, 12, 17):                            # rings round the skin
        (x, y), h = spine[i], half[i]
        p.arc(x - 3, y - h + 1, x + 3, y + h - 1, 100, 260, p.dark)
    for i in (5, 10, 15, 20):                        # hair roots
        (x, y), h = spine[i], half[i]
        p.line([(x, y + h), (x + 2, y + h + 4)], 1)


def _cardinal(p: Pen) -> None:
    """A cardinal perched: a songbird with a tall pointed crest, a black mask round its short thick cone of
    a beak, a long tail (the bird glyph has no crest, a parrot a hooked beak)."""
    p.polygon([(30, 50), (20, 70), (14, 68), (22, 48)], p.dark)      # tail
    body = [(18, 30), (26, 22), (34, 10), (40, 18), (50, 20), (56, 28), (50, 44), (38, 54), (24, 52),
            (18, 42)]
    p.polygon(body, p.body)                          # body, head and crest
    p.polygon([(24, 34), (40, 30), (46, 44), (30, 50)], p.dark)      # the wing
    p.polygon([(46, 20), (56, 26), (54, 34), (46, 32)], _DARK)       # the mask
    p.polygon([(54, 26), (64, 29), (54, 33)], (245, 130, 20, 255))   # beak
    p.ellipse(47, 22, 51, 26, _WHITE)                # eye
    p.line([(34, 54), (32, 62)], 1.5)                # legs on a twig
    p.line([(40, 53), (40, 62)], 1.5)
    p.rect(20, 62, 60, 66, (120, 80, 40, 255), 2)


def _tie_clip(p: Pen) -> None:
    """A tie clip, open: a slim bar with its engraved face, folded back on itself at one end into the
    springing clasp below it, ridged where it grips (a ruler has ticks, a paper clip is bent wire)."""
    p.rect(4, 24, 66, 36, p.body, 3)                 # the face bar
    p.rect(10, 28, 60, 32, _light(p, 0.2), 1)        # its engraved panel
    p.polygon([(4, 30), (0, 36), (4, 44), (60, 48), (60, 42), (8, 38)], p.dark)   # fold and clasp
    for x in range(40, 60, 4):                       # grip ridges
        p.line([(x, 42), (x, 46)], 1)


def _paper_clip_holder(p: Pen) -> None:
    """A paper clip holder: a low round cup with a magnet ring round its mouth, paper clips stuck on top of it
    (a pencil holder is tall and meshed, a cup has a handle, a jar a lid)."""
    p.rect(12, 34, 60, 68, p.body, 4)                # the cup
    p.ellipse(12, 60, 60, 72, p.body)
    p.ellipse(10, 26, 62, 42, p.dark)                # magnet ring
    p.ellipse(18, 30, 54, 38, _DARK)                 # the mouth
    for x0, tilt in ((20, -8), (32, 0), (44, 8)):   # clips standing on the ring
        p.rect(x0, 6, x0 + 8, 32, _CLEAR)
        p.line([(x0 + 2, 32), (x0 + 2 + tilt / 4, 10), (x0 + 7 + tilt / 4, 8), (x0 + 7, 30), (x0 + 4, 30),
                (x0 + 4 + tilt / 6, 14)], 1.3)


# --- fifth round (session 48) ----------------------------------------------------------------------------


def _straw(p: Pen) -> None:
    """A drinking straw standing aslant: a long thin tube with a ribbed bendy neck near its top and a short
    angled end, striped (a pencil has a point, a candle a flame, a toothbrush bristles)."""
    p.polygon([(22, 70), (28, 70), (44, 20), (38, 18)], p.body)          # the long tube
    for t in (0.2, 0.4, 0.6, 0.8):                   # stripes wound round it
        x, y = 25 + 16 * t, 70 - 51 * t
        p.polygon([(x - 3, y), (x + 3, y + 1), (x + 4, y - 3), (x - 2, y - 4)], _WHITE)
    p.rect(37, 12, 47, 21, p.dark, 2)                # the ribbed bend
    for y in (14, 16.5, 19):
        p.line([(38, y), (46, y)], 1)
    p.polygon([(40, 13), (46, 12), (64, 2), (66, 8), (48, 19)], p.body)  # the short end, bent over


def _ottoman(p: Pen) -> None:
    """An ottoman: a low square padded seat with no back or arms, its deep tufted top domed, a piped welt
    round it, a skirt band and four short turned feet (a stool is a small top on long legs, a cushion has
    no feet, a couch a back)."""
    p.rect(6, 24, 66, 58, p.body, 6)                 # the padded block
    p.ellipse(6, 16, 66, 34, _light(p))              # the domed top
    p.rect(6, 30, 66, 34, p.dark)                    # piping welt
    p.rect(6, 50, 66, 56, p.dark, 1)                 # skirt band
    for x in (16, 28, 44, 56):                       # tufting buttons
        p.ellipse(x - 2, 22, x + 2, 26, p.dark)
    for x in (14, 30, 42, 58):                       # seams down the sides
        p.line([(x, 36), (x, 49)], 1)
    for x in (10, 56):                               # short turned feet
        p.polygon([(x, 56), (x + 6, 56), (x + 5, 68), (x + 1, 68)], (120, 80, 40, 255))


def _campfire(p: Pen) -> None:
    """A campfire: crossed logs (cut ends showing their rings) in a ring of stones, a tall three-tongued flame
    rising from them (a candle is one small flame on a stick, a bush is round and green)."""
    for x in (6, 16, 28, 42, 54, 64):                # the stone ring
        p.ellipse(x - 5, 60, x + 5, 70, _GRAY)
    wood = (120, 80, 40, 255)
    p.polygon([(8, 62), (12, 54), (64, 46), (62, 56)], wood)             # logs crossed
    p.polygon([(10, 48), (14, 56), (62, 62), (64, 52)], wood)
    p.ellipse(56, 44, 66, 58, (220, 180, 120, 255))  # cut end and its ring
    p.ellipse(59, 48, 63, 54, wood)
    p.polygon([(16, 54), (14, 36), (22, 22), (24, 34), (30, 8), (38, 28), (44, 16), (48, 34), (56, 26),
               (56, 44), (50, 54)], p.body)          # the flame, three tongues
    p.polygon([(24, 54), (24, 42), (30, 30), (34, 40), (40, 32), (44, 44), (42, 54)], _light(p, 0.3))


def _marshmallow(p: Pen) -> None:
    """Two marshmallows: short soft cylinders, round-shouldered and dusty, one standing showing its flat
    round top, one lying on its side (a cylinder is hard-edged and tall, soap a flat bar, an egg oval)."""
    p.rect(4, 36, 40, 66, p.body, 10)                # lying one, its side
    p.ellipse(32, 36, 46, 66, _light(p, 0.12))       # and its round end
    p.rect(30, 18, 68, 56, p.body, 9)                # standing one
    p.ellipse(30, 10, 68, 28, _light(p, 0.12))       # its top
    for x, y in ((40, 38), (52, 44), (60, 34), (14, 50), (24, 58), (44, 18), (56, 20)):   # sugar dust
        p.ellipse(x - 1, y - 1, x + 1, y + 1, _WHITE)


def _hanger(p: Pen) -> None:
    """A clothes hanger: a question-mark hook on a twisted neck over a wide shoulder triangle, its bottom
    bar straight (a hook is one curve, a coat rack a pole)."""
    p.arc(28, 2, 44, 18, 180, 90, _CLEAR)
    p.line([(36 + 8 * math.cos(math.radians(a)), 10 + 8 * math.sin(math.radians(a))) for a in range(150, 450, 15)],
           3)                                        # the hook
    p.line([(36, 18), (36, 24)], 3)                  # its neck
    p.polygon([(36, 22), (68, 50), (66, 56), (6, 56), (4, 50)], p.body)  # the shoulders
    p.polygon([(36, 30), (56, 48), (16, 48)], _CLEAR)                    # open inside
    p.rect(8, 50, 64, 56, p.dark, 2)                 # the trouser bar


def _chandelier(p: Pen) -> None:
    """A chandelier: hung from a ceiling cup by a chain, a central column with five curved arms, each holding
    a candle bulb with its flame, crystal drops hanging between them (a lamp stands on a foot with one
    shade, a candle is one stick)."""
    p.rect(30, 0, 42, 4, p.dark, 1)                  # ceiling cup
    p.line([(36, 4), (36, 18)], 2)                   # chain
    for x0, x1, y in ((36, 4, 40), (36, 18, 44), (36, 54, 44), (36, 68, 40)):   # the curved arms
        p.line([(x0, 44), ((x0 + x1) / 2, 54), (x1, y)], 3)
    p.polygon([(30, 18), (42, 18), (40, 50), (36, 56), (32, 50)], p.body)        # column
    p.ellipse(28, 28, 44, 40, _light(p))             # its bowl
    for x, y in ((4, 40), (18, 44), (54, 44), (68, 40), (36, 24)):              # cups, bulbs and flames
        p.rect(x - 4, y - 2, x + 4, y + 1, p.dark, 1)
        p.rect(x - 2, y - 12, x + 2, y - 2, _WHITE)
        p.polygon([(x, y - 20), (x + 2.5, y - 15), (x, y - 12), (x - 2.5, y - 15)], (250, 200, 60, 255))
    for x in (12, 26, 46, 60):                       # crystal drops
        p.line([(x, 50), (x, 58)], 1)
        p.polygon([(x, 58), (x + 2.5, 62), (x, 68), (x - 2.5, 62)], _BLUE)


def _crystal(p: Pen) -> None:
    """A crystal cluster: three six-sided quartz points of different heights rising aslant from a rock, each
    with its faceted tip, lit and shaded faces (a gem is one cut stone, a pyramid a single solid)."""
    p.polygon([(4, 70), (10, 58), (30, 54), (54, 56), (68, 62), (70, 70)], _GRAY)         # the rock
    for cx, top, w, lean in ((22, 22, 12, -8), (38, 4, 14, 0), (54, 28, 11, 7)):
        base, neck = 60, top + w                     # a point: a prism body and its facet tip
        p.polygon([(cx - w / 2, base), (cx - w / 2 + lean, neck), (cx + lean, top), (cx + w / 2 + lean, neck),
                   (cx + w / 2, base)], p.body)
        p.polygon([(cx - w / 2 + lean, neck), (cx + lean, top), (cx + lean, neck + 4), (cx, base)],
                  _light(p, 0.25))
        p.line([(cx + lean, neck + 4), (cx + w / 2 + lean, neck)], 1)


def _squash(p: Pen) -> None:
    """A butternut squash lying: a long straight neck swelling into a round bulb, a woody stalk at the neck's
    end, the bulb's blossom mark (a pear is short and stands, an eggplant has a leafy cap, a zucchini is
    even along its length)."""
    p.polygon([(8, 30), (12, 25), (40, 23), (48, 18)], p.body)
    p.rect(6, 24, 44, 42, p.body, 9)                 # the neck
    p.ellipse(32, 14, 70, 56, p.body)                # the bulb
    p.arc(6, 26, 44, 40, 200, 340, _light(p, 0.2))   # sheen on the neck
    p.ellipse(58, 33, 62, 37, p.dark)                # blossom mark
    p.polygon([(7, 30), (0, 28), (0, 36), (7, 35)], (120, 80, 40, 255))   # the stalk


def _nectarine(p: Pen) -> None:
    """A nectarine: a smooth round fruit, its skin blushed dark over a lighter ground, a groove down one side,
    a stem with one long leaf; beside it a halved one with its wrinkled stone (a peach is fuzzy with no
    cut, an apple has no groove)."""
    p.ellipse(2, 18, 50, 66, p.body)                 # the whole fruit
    p.ellipse(8, 22, 30, 42, (250, 210, 90, 255))    # lighter ground showing
    p.arc(18, 20, 40, 64, 250, 320, p.dark)          # the groove
    p.line([(26, 20), (28, 10)], 2)                  # stem
    p.polygon([(28, 12), (40, 2), (52, 4), (40, 12)], (92, 168, 60, 255))  # the leaf
    p.ellipse(38, 34, 70, 66, p.body)                # the halved one
    p.ellipse(41, 37, 67, 63, (250, 200, 80, 255))   # its flesh
    p.ellipse(49, 43, 59, 57, (150, 70, 40, 255))    # the stone
    p.line([(52, 46), (55, 50), (52, 54)], 1)


def _apricot(p: Pen) -> None:
    """Two apricots: small downy orange fruit, each with its deep crease and a short stem but no leaf, one
    halved showing its smooth almond-shaped stone (a nectarine has a leaf and a blush, a peach a dimple
    and leaves, an orange a peel)."""
    p.ellipse(4, 10, 40, 46, p.body)                 # the whole one
    p.arc(14, 10, 34, 46, 200, 330, p.dark)          # its crease
    p.line([(22, 10), (20, 4)], 2)                   # stem
    p.ellipse(8, 14, 18, 24, _light(p, 0.2))         # down's sheen
    p.ellipse(30, 30, 70, 70, p.body)                # the halved one
    p.ellipse(33, 33, 67, 67, _light(p, 0.15))       # its flesh
    p.polygon([(50, 40), (56, 46), (54, 58), (50, 62), (46, 58), (44, 46)], (150, 90, 50, 255))   # stone


def _platter(p: Pen) -> None:
    """A serving platter: a long oval dish seen from above, its wide flat rim, sunken well and moulded end
    handles (a plate is round, a tray rectangular with side rails, a cutting board wooden with a hole)."""
    p.ellipse(0, 18, 72, 56, p.body)                 # rim
    p.polygon([(0, 30), (-0, 44), (6, 44), (6, 30)], p.dark)
    p.ellipse(10, 24, 62, 50, _light(p, 0.15))       # the well
    p.arc(10, 24, 62, 50, 200, 340, p.dark)          # its sunken edge
    for x in (3, 69):                                # handles
        p.ellipse(x - 3, 33, x + 3, 41, p.dark)
    p.arc(14, 28, 58, 46, 20, 160, _WHITE)           # glaze sheen


def _grapefruit(p: Pen) -> None:
    """A grapefruit and its cut half: a big round fruit with a pitted yellow-orange peel, and the half's thick
    white pith round many wedge segments of pink flesh, a core at the centre (an orange has a leaf and no
    cut here, a lemon is pointed, a pizza has toppings)."""
    p.ellipse(0, 2, 42, 44, (250, 190, 80, 255))     # the whole fruit
    for x, y in ((12, 14), (22, 10), (30, 20), (14, 28), (24, 32)):     # pitted peel
        p.ellipse(x - 1, y - 1, x + 1, y + 1, (220, 150, 50, 255))
    p.ellipse(22, 22, 72, 72, (250, 190, 80, 255))   # the halved one: peel
    p.ellipse(25, 25, 69, 69, _WHITE)                # pith
    p.ellipse(28, 28, 66, 66, p.body)                # flesh
    for k in range(10):                              # segment walls
        a = math.radians(36 * k)
        p.line([(47 + 2 * math.cos(a), 47 + 2 * math.sin(a)), (47 + 18 * math.cos(a), 47 + 18 * math.sin(a))], 1)
    p.ellipse(45, 45, 49, 49, _WHITE)                # the core


def _loafer(p: Pen) -> None:
    """A loafer seen from the side: a low slip-on shoe with no laces, its toe long and rounded, a moccasin
    seam round the vamp, a strap across the saddle with its penny slot, a low heel (a shoe has laces, a
    boot a shaft, a sandal straps)."""
    p.polygon([(2, 50), (4, 42), (14, 36), (30, 34), (42, 28), (54, 26), (64, 30), (68, 40), (68, 54),
               (8, 56)], p.body)                     # the upper: toe low on the left, heel right
    p.chord(40, 22, 66, 36, 180, 360, _DARK)         # opening for the foot
    p.arc(2, 34, 36, 62, 180, 300, p.dark)           # moccasin seam
    p.polygon([(28, 34), (40, 29), (42, 36), (30, 40)], p.dark)        # the strap
    p.ellipse(32, 33, 37, 37, _DARK)                 # its penny slot
    p.polygon([(0, 52), (8, 56), (68, 56), (68, 60), (6, 60)], _DARK)  # the sole
    p.rect(54, 56, 68, 66, _DARK, 1)                 # heel


def _bathrobe(p: Pen) -> None:
    """A bathrobe hung open: a long wrap to below the knee with a shawl collar, wide sleeves, a patch pocket,
    its tie belt knotted with the ends hanging (a dress has no lapels, a jacket is short, a tuxedo has a
    shirt front)."""
    p.polygon([(22, 6), (50, 6), (56, 12), (66, 36), (60, 40), (54, 28), (56, 70), (16, 70), (18, 28),
               (12, 40), (6, 36), (16, 12)], p.body)                    # robe and sleeves
    p.polygon([(26, 6), (36, 36), (46, 6), (40, 6), (36, 22), (32, 6)], _light(p, 0.2))  # shawl collar
    p.line([(36, 36), (36, 70)], 1.5)                # the overlap
    p.rect(16, 36, 56, 42, p.dark, 1)                # tie belt
    p.polygon([(34, 40), (30, 58), (34, 58), (37, 42)], p.dark)        # its hanging ends
    p.polygon([(38, 40), (42, 56), (46, 56), (40, 40)], p.dark)
    p.rect(42, 48, 52, 58, p.dark, 1)                # patch pocket
    p.line([(12, 40), (6, 36)], 1)


def _juicer(p: Pen) -> None:
    """A citrus juicer: a ribbed pointed reamer cone rising from a round dish with a pouring spout, a handle
    on its side, juice in the dish (a cone has no dish, a bowl no reamer, a lemon squeezer is two arms)."""
    p.polygon([(20, 40), (36, 4), (52, 40)], _light(p, 0.1))             # the reamer
    for x in (26, 31, 36, 41, 46):                   # its ribs
        p.line([(x, 40), (36, 6)], 1)
    p.polygon([(58, 44), (70, 40), (70, 46), (60, 50)], p.body)         # spout
    p.polygon([(4, 44), (0, 48), (6, 54)], p.body)
    p.ellipse(4, 36, 64, 52, p.body)                 # the dish's rim
    p.ellipse(10, 38, 58, 48, (250, 220, 90, 255))   # juice
    p.polygon([(20, 40), (36, 10), (52, 40)], _light(p, 0.1))
    for x in (28, 36, 44):
        p.line([(x, 40), (36, 12)], 1)
    p.polygon([(6, 46), (62, 46), (56, 66), (12, 66)], p.body)          # bowl below
    p.rect(14, 66, 54, 70, p.dark, 1)                # foot

def _light_fixture(p: Pen) -> None:
    """A ceiling light fixture: a round canopy plate on the ceiling line, a short rod down to a frosted glass
    dome lit from within, its bulb glowing through, a finial at the bottom (a lamp stands on a foot, a
    lampshade is open below, a chandelier has arms)."""
    p.rect(0, 0, 72, 4, _GRAY)                       # the ceiling
    p.rect(24, 4, 48, 10, p.body, 2)                 # canopy plate
    p.rect(34, 10, 38, 20, p.dark)                   # rod
    p.rect(16, 18, 56, 24, p.body, 2)                # the fitter ring
    p.chord(6, -4, 66, 56, 0, 180, (255, 245, 200, 255))   # frosted dome below it
    p.ellipse(28, 28, 44, 44, (250, 220, 90, 255))   # bulb glowing through
    p.ellipse(32, 52, 40, 60, p.body)                # finial
    for a in (200, 240, 300, 340):                   # light rays
        r = math.radians(a)
        p.line([(36 + 36 * math.cos(r), 40 - 30 * math.sin(r)), (36 + 40 * math.cos(r), 40 - 34 * math.sin(r))], 1)


def _cracker(p: Pen) -> None:
    """Two crackers: thin square biscuits with scalloped edges and rows of docking holes, one lying over the
    other aslant (a cookie is round with chips, toast is a slice with crust, a book has pages)."""
    for cx, cy, ang in ((28, 30, 10), (44, 42, -12)):
        pts = []
        for k in range(4):                           # a square with a scalloped edge
            a0 = math.radians(ang + 90 * k + 45)
            a1 = math.radians(ang + 90 * k + 135)
            x0, y0 = cx + 26 * math.cos(a0), cy + 26 * math.sin(a0)
            x1, y1 = cx + 26 * math.cos(a1), cy + 26 * math.sin(a1)
            for j in range(6):
                t = j / 6
                bump = 1.8 if j % 2 else 0
                nx, ny = (cx - (x0 + x1) / 2), (cy - (y0 + y1) / 2)
                n = math.hypot(nx, ny)
                pts.append((x0 + (x1 - x0) * t - bump * nx / n, y0 + (y1 - y0) * t - bump * ny / n))
        p.polygon(pts, p.body)
        for i in (-1, 0, 1):                         # docking holes
            for j in (-1, 0, 1):
                a = math.radians(ang)
                x = cx + 9 * (i * math.cos(a) - j * math.sin(a))
                y = cy + 9 * (i * math.sin(a) + j * math.cos(a))
                p.ellipse(x - 1.3, y - 1.3, x + 1.3, y + 1.3, p.dark)


def _brownie(p: Pen) -> None:
    """A brownie: a thick square of fudgy cake seen aslant, its crackled shiny top, a cut side showing its
    dense crumb with nuts, on a scrap of baking paper (a cake has layers and icing, a block is smooth, bread
    has a crust dome)."""
    p.polygon([(2, 56), (16, 50), (70, 56), (58, 68)], _WHITE)          # baking paper
    p.polygon([(8, 26), (38, 16), (64, 26), (34, 38)], _light(p, 0.12))  # the top
    p.polygon([(8, 26), (34, 38), (34, 62), (8, 50)], p.body)           # cut side, front left
    p.polygon([(34, 38), (64, 26), (64, 50), (34, 62)], p.dark)         # side, right
    p.line([(16, 26), (26, 24), (30, 30), (42, 26), (50, 28)], 1)      # crackle
    p.line([(26, 20), (36, 22), (40, 18)], 1)
    for x, y in ((14, 36), (24, 44), (18, 50), (28, 52)):              # nuts in the crumb
        p.ellipse(x - 2, y - 1.5, x + 2, y + 1.5, (220, 180, 120, 255))


def _doormat(p: Pen) -> None:
    """A doormat seen from above: a coir mat wider than deep, its bristly edge all round, a dark border band
    and a row of block letters across its field (a rug has fringes at its ends, a mat is rolled, a mouse
    pad has a wrist rest)."""
    pts = []
    for k in range(16):                              # bristly top and bottom edges
        pts.append((2 + 68 * k / 15, 14 if k % 2 else 16))
    for k in range(8):                               # right edge
        pts.append((70 if k % 2 else 68, 16 + 40 * k / 7))
    for k in range(16):
        pts.append((70 - 68 * k / 15, 58 if k % 2 else 56))
    for k in range(8):                               # left edge
        pts.append((2 if k % 2 else 4, 56 - 40 * k / 7))
    p.polygon(pts, p.body)
    p.rect(8, 20, 64, 52, p.dark, 2)                 # border band
    p.rect(12, 24, 60, 48, _light(p, 0.15))          # the field
    for k in range(7):                               # letters
        x = 15 + k * 6.4
        p.rect(x, 31, x + 4, 41, p.dark)


def _pendulum(p: Pen) -> None:
    """A clock pendulum: a long rod hung from its suspension spring and hook, swinging aslant, ending in a
    big round bob with a ring round its face, arcs marking its swing (a lollipop is a short stick, a
    spoon a bowl, a pizza cutter a wheel with a handle)."""
    p.rect(30, 0, 42, 6, _DARK, 1)                   # the hanger bracket
    p.line([(36, 6), (36, 12)], 2)                   # suspension spring
    p.polygon([(35, 12), (37, 12), (50, 48), (48, 49)], _GRAY)          # the rod, aslant
    p.ellipse(32, 40, 64, 72, p.body)                # bob
    p.ellipse(37, 45, 59, 67, _light(p, 0.2))
    p.ellipse(44, 52, 52, 60, p.dark)
    p.arc(0, -20, 72, 52, 110, 150, _CLEAR)          # its swing
    p.line([(8, 48), (4, 40), (2, 30)], 1)
    p.line([(20, 58), (12, 54)], 1)


def _face_mask(p: Pen) -> None:
    """A face mask: a pleated rectangle of cloth bowed to fit a face, a nose wire along its top edge, an ear
    loop at each side (a napkin is flat and square, an envelope has a flap, a bandage is a strip)."""
    p.arc(0, 14, 22, 58, 90, 270, _CLEAR)
    p.line([(16, 20), (4, 18), (0, 36), (4, 54), (16, 52)], 2)         # left ear loop
    p.line([(56, 20), (68, 18), (72, 36), (68, 54), (56, 52)], 2)      # right ear loop
    p.polygon([(14, 20), (36, 14), (58, 20), (60, 50), (36, 60), (12, 50)], p.body)   # the mask
    for y in (30, 38, 46):                           # pleats
        p.line([(14, y - 2), (36, y - 6), (58, y - 2)], 1)
    p.line([(22, 18), (36, 15), (50, 18)], 2.5)      # nose wire


def _hairpin(p: Pen) -> None:
    """A decorative hairpin: a long two-pronged pin, aslant, its ornament at the top a jewelled flower with
    a dangling bead (a fork has four tines and a bowl, chopsticks are two apart, a brooch has no prongs)."""
    p.line([(22, 26), (60, 70)], 2.5)                # the two prongs
    p.line([(28, 22), (68, 64)], 2.5)
    p.line([(60, 70), (64, 68), (68, 64)], 2.5)
    for k in range(6):                               # the flower's petals
        a = math.radians(60 * k)
        x, y = 22 + 11 * math.cos(a), 20 + 11 * math.sin(a)
        p.ellipse(x - 7, y - 7, x + 7, y + 7, p.body)
    p.ellipse(16, 14, 28, 26, _light(p, 0.25))       # its jewel
    p.ellipse(19, 17, 25, 23, _WHITE)
    p.line([(10, 28), (8, 42)], 1)                   # a dangling bead
    p.ellipse(4, 42, 12, 50, p.dark)


def _pedestal(p: Pen) -> None:
    """A pedestal: a stepped square plinth, a fluted column shaft, a moulded cap with a flat top to stand
    something on (a table has legs, a stool a seat, a vase a mouth)."""
    p.rect(10, 62, 62, 70, p.dark, 1)                # the plinth, stepped
    p.rect(14, 56, 58, 62, p.body, 1)
    p.rect(20, 18, 52, 56, p.body)                   # the shaft
    for x in (26, 32, 40, 46):                       # fluting
        p.line([(x, 20), (x, 54)], 1)
    p.rect(16, 12, 56, 18, p.body, 1)                # the moulded cap
    p.rect(12, 6, 60, 12, p.dark, 1)                 # flat top



#: Drawn classes whose drawing shows other classes whole (cutlery is a fork, a knife and a spoon): the detector
#: finds those in it, so a scene naming both cannot be judged (the checker says so, `checker.unjudged_parts`).
DRAWN_WITH: dict[str, tuple[str, ...]] = {
    "cutlery": ("fork", "knife", "spoon"), "paper clip holder": ("paperclip",),
}

#: Drawn class -> (drawing, the colour family it has when the prompt names none).
DRAWINGS: dict[str, tuple[Callable[[Pen], None], str]] = {
    "rug": (_rug, "red"),
    "blanket": (_blanket, "blue"),
    "towel": (_towel, "teal"),
    "mat": (_mat, "brown"),
    "curtain": (_curtain, "maroon"),
    "cushion": (_cushion, "orange"),
    "sweater": (_sweater, "green"),
    "glove": (_glove, "brown"),
    "belt": (_belt, "brown"),
    "frame": (_frame, "gold"),
    "stool": (_stool, "brown"),
    "shelf": (_shelf, "brown"),
    "bookshelf": (_bookshelf, "brown"),
    "nightstand": (_nightstand, "brown"),
    "dresser": (_dresser, "brown"),
    "bookend": (_bookend, "gray"),
    "fence": (_fence, "white"),
    "eraser": (_eraser, "pink"),
    "jewelry box": (_jewelry_box, "maroon"),
    "keychain": (_keychain, "red"),
    "bracelet": (_bracelet, "gold"),
    "necklace": (_necklace, "white"),
    "pendant": (_pendant, "gold"),
    "earring": (_earring, "gold"),
    "brooch": (_brooch, "gold"),
    "mug": (_mug, "white"),
    "knob": (_knob, "gold"),
    "tray": (_tray, "silver"),
    "cutting board": (_cutting_board, "brown"),
    "paddle": (_paddle, "brown"),
    "paperweight": (_paperweight, "cyan"),
    "skyscraper": (_skyscraper, "gray"),
    "cube": (_cube, "red"),
    "block": (_block, "beige"),
    "sphere": (_sphere, "blue"),
    "pyramid": (_pyramid, "yellow"),
    "cylinder": (_cylinder, "green"),
    "cone": (_cone, "orange"),
    "prism": (_prism, "purple"),
    "rubber band": (_rubber_band, "beige"),
    "cutlery": (_cutlery, "silver"),
    "phone case": (_phone_case, "blue"),
    "sharpener": (_sharpener, "red"),
    "bush": (_bush, "green"),
    "snowflake": (_snowflake, "white"),
    "placemat": (_placemat, "beige"),
    "napkin": (_napkin, "white"),
    "charger": (_charger, "white"),
    "pencil holder": (_pencil_holder, "silver"),
    "container": (_container, "blue"),
    "vanity": (_vanity, "white"),
    "tablecloth": (_tablecloth, "red"),
    "basketball hoop": (_basketball_hoop, "white"),
    "locket": (_locket, "gold"),
    "zucchini": (_zucchini, "green"),
    "acorn": (_acorn, "brown"),
    "tripod": (_tripod, "gray"),
    "seaweed": (_seaweed, "green"),
    "pencil case": (_pencil_case, "blue"),
    "marker": (_marker, "red"),
    "fern": (_fern, "green"),
    "saddle": (_saddle, "brown"),
    "leash": (_leash, "red"),
    "birdhouse": (_birdhouse, "brown"),
    "tiara": (_tiara, "silver"),
    "lily pad": (_lily_pad, "green"),
    "mouse pad": (_mouse_pad, "blue"),
    "cufflink": (_cufflink, "gold"),
    "lime": (_lime, "green"),
    "daffodil": (_daffodil, "yellow"),
    "lily": (_lily, "pink"),
    "carnation": (_carnation, "pink"),
    "soda can": (_soda_can, "red"),
    "fig": (_fig, "purple"),
    "papaya": (_papaya, "orange"),
    "album": (_album, "brown"),
    "lampshade": (_lampshade, "beige"),
    "snowball": (_snowball, "white"),
    "toast": (_toast, "brown"),
    "paperclip": (_paperclip, "silver"),
    "pizza cutter": (_pizza_cutter, "red"),
    "coat rack": (_coat_rack, "brown"),
    "tuxedo": (_tuxedo, "navy"),
    "post-it": (_post_it, "yellow"),
    "yam": (_yam, "brown"),
    "cardinal": (_cardinal, "red"),
    "tie clip": (_tie_clip, "silver"),
    "paper clip holder": (_paper_clip_holder, "gray"),
    "straw": (_straw, "red"),
    "ottoman": (_ottoman, "teal"),
    "campfire": (_campfire, "orange"),
    "marshmallow": (_marshmallow, "white"),
    "hanger": (_hanger, "brown"),
    "chandelier": (_chandelier, "gold"),
    "crystal": (_crystal, "purple"),
    "squash": (_squash, "orange"),
    "nectarine": (_nectarine, "red"),
    "apricot": (_apricot, "orange"),
    "platter": (_platter, "white"),
    "grapefruit": (_grapefruit, "pink"),
    "loafer": (_loafer, "brown"),
    "bathrobe": (_bathrobe, "white"),
    "juicer": (_juicer, "white"),
    "light fixture": (_light_fixture, "gold"),
    "cracker": (_cracker, "beige"),
    "brownie": (_brownie, "brown"),
    "doormat": (_doormat, "brown"),
    "pendulum": (_pendulum, "gold"),
    "face mask": (_face_mask, "blue"),
    "hairpin": (_hairpin, "pink"),
    "pedestal": (_pedestal, "white"),
}
