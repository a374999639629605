"""`limner words`: what the offline reader can read and what the sandbox can draw and check.

A prompt word outside these lists is not dropped: the reader names it in `Scene.unsupported`, and a verdict
with unsupported parts never passes. Words read but judged by no checker (an object's qualities, states and
parts, the prompt's moods) are listed too: a verdict names them unchecked, so it does not pass either. This command lets a user write prompts the offline tools can judge.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from limner import vocab
from limner.reading.lexicon import load_lexicon
from limner.tools.sandbox.artwork import SUPPORTED_CLASSES, TEXTURE_NAMES
from limner.tools.sandbox.backdrops import BACKGROUND_NAMES, BACKGROUND_SYNONYMS
from limner.tools.sandbox.world import WORLD_PREDICATES
from limner.types import ACTION_PROXIES

__all__ = ["vocabulary", "words"]

_NOT_CHECKED = (
    "backgrounds without a backdrop of their own (drawn with a stand-in: mountain as snow, office as a room)",
    "words of a background no backdrop shows ('quiet' of 'a quiet room')", "style",
    "actions without a proxy ('admiring', 'writing in')", "facing", "between", "absolute positions",
    "heart shapes", "qualities, states, parts and moods (read, not judged)",
)


def _phrases_by_value(table: dict[str, str], canon: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """canonical value -> the phrases read as it (the value itself first)."""
    out: dict[str, list[str]] = {c: [c] for c in canon}
    for phrase, value in table.items():
        out.setdefault(value, [value] if value in table or value in canon else [])
        if phrase not in out[value]:
            out[value].append(phrase)
    return out


def vocabulary() -> dict[str, Any]:
    """Everything the reader understands and the sandbox can draw/check, as plain JSON-able data."""
    relations = _phrases_by_value(vocab.RELATION_PHRASES)
    return {
        "reader": {
            "language": "English",
            "objects": sorted(vocab.CLASSES),
            "object_synonyms": dict(sorted(vocab.CLASS_SYNONYMS.items())),
            "colors": _phrases_by_value(vocab.COLOR_SYNONYMS, vocab.COLORS),
            "textures": _phrases_by_value(vocab.TEXTURE_SYNONYMS, vocab.TEXTURES),
            "shapes": _phrases_by_value(vocab.SHAPE_SYNONYMS, vocab.SHAPES),
            "sizes": _phrases_by_value(vocab.SIZE_SYNONYMS, vocab.SIZES),
            "counts": dict(sorted(vocab.NUMBER_WORDS.items(), key=lambda kv: kv[1])),
            "relations": relations,
            "backgrounds": sorted(vocab.BACKGROUNDS),
            "styles": sorted(vocab.STYLES),
            "text": 'in quotes ("OPEN") or in capitals after a cue (a sign that says OPEN)',
            "read_not_judged": {
                "about": "read into the scene (Element.qualities/states/parts, Scene.moods) but judged by no "
                         "checker: each is named in the verdict's unchecked parts, so such a prompt never passes",
                "parts": sorted(vocab.PARTS),
                "qualities": sorted(vocab.QUALITIES),
                "moods": sorted(vocab.MOODS),
                "states": "a verb with no second object ('fluttering'), what follows it and adverbs ('gracefully')",
                "between": "'A between B and C': two relations 'between', named unchecked (no geometry)",
            },
            "compounds": {
                "about": "a noun before a noun names a kind of the second ('a pencil sharpener' is a sharpener)",
                "modifiers": sorted(vocab.COMPOUND_MODIFIERS),
            },
            "lexicon": {
                "about": "a word none of the lists above knows, found in WordNet 3.0's nouns: a thing is an "
                         "object of its own class, an abstract noun a mood (lowest precedence: every list wins)",
                **load_lexicon().summary(),
            },
            "postures": {
                "about": "a posture before a relation is the relation's placement ('hung above' is above)",
                "verbs": sorted(vocab.POSE_VERBS),
                "verbs_of_place": sorted(vocab.PLACE_VERBS),
            },
        },
        "sandbox": {
            "simulated": True,
            "draws_and_sees": sorted(SUPPORTED_CLASSES),
            "textures_checked": list(TEXTURE_NAMES),
            "relations_checked": [*WORLD_PREDICATES, *(p for p in ACTION_PROXIES if p not in WORLD_PREDICATES)],
            "action_proxies": dict(ACTION_PROXIES),
            "backgrounds_checked": {"backdrops": list(BACKGROUND_NAMES), "synonyms": dict(BACKGROUND_SYNONYMS),
                                    "flat colours": "every colour ('a red background')"},
            "checks": ["presence", "absence (no X)", "count", "color", "texture", "shape", "size", "position",
                       "depth", "contact (on, in, holding, wearing, riding)", "action (by its proxy)", "text",
                       "background"],
            "not_checked": list(_NOT_CHECKED),
        },
    }


def _print(data: dict[str, Any], console: Console) -> None:
    reader, sandbox = data["reader"], data["sandbox"]
    table = Table(title="what the offline reader reads (English)", show_lines=True)
    table.add_column("kind")
    table.add_column("words")
    for kind in ("objects", "colors", "textures", "shapes", "sizes", "counts", "relations", "backgrounds", "styles"):
        value = reader[kind]
        if isinstance(value, dict) and kind in ("counts",):
            words = ", ".join(value)
        elif isinstance(value, dict):
            words = "; ".join(f"{k} ({', '.join(p for p in v if p != k)})" if len(v) > 1 else k for k, v in value.items())
        else:
            words = ", ".join(value)
        table.add_row(kind, words)
    table.add_row("text", reader["text"])
    table.add_row("compounds", f"{reader['compounds']['about']}; also: {', '.join(reader['compounds']['modifiers'])}")
    table.add_row("postures", f"{reader['postures']['about']}: {', '.join(reader['postures']['verbs'])}")
    console.print(table)
    lex = reader["lexicon"]
    console.print(f"[cyan]lexicon[/] ({lex['about']}): {lex['things']} things, {lex['moods']} abstract nouns; "
                  f"{lex['source']}; {lex['file']}, {lex['bytes'] // 1000} KB", highlight=False)
    unjudged = reader["read_not_judged"]
    console.print(f"[yellow]read, not judged[/] ({unjudged['about']}): parts ({', '.join(unjudged['parts'])}); "
                  f"{len(unjudged['qualities'])} qualities; {len(unjudged['moods'])} moods; states: "
                  f"{unjudged['states']}; {unjudged['between']}", highlight=False)
    console.print(f"[bold]sandbox (simulated)[/] draws and sees {len(sandbox['draws_and_sees'])} classes: "
                  f"{', '.join(sandbox['draws_and_sees'])}", highlight=False)
    console.print(f"checks: {', '.join(sandbox['checks'])}; relations: {', '.join(sandbox['relations_checked'])}",
                  highlight=False)
    console.print(f"backgrounds judged: {', '.join(sandbox['backgrounds_checked']['backdrops'])} and flat colours",
                  highlight=False)
    console.print(f"[yellow]not checked[/] (named unsupported, so the verdict does not pass): "
                  f"{', '.join(sandbox['not_checked'])}", highlight=False)


def words(
    json_mode: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """List the words the offline reader understands and what the sandbox can draw and check."""
    data = vocabulary()
    if json_mode:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    _print(data, Console())
