"""The general noun lexicon (WordNet 3.0): the reader's last resort for a real English word it does not know.

A WordNet noun whose most frequent sense is a thing is read as an object of its own class (which the sandbox
names as one it cannot draw, so the verdict does not pass), an abstract one as a mood (read, not judged);
verbs, adjectives, -ing forms and non-words stay what they were, and the reader's own vocabulary always wins.
"""

from __future__ import annotations

from PIL import Image

from limner import vocab
from limner.agent.evaluator import Evaluator
from limner.cli.words import vocabulary
from limner.reading import parse_prompt
from limner.reading.lexicon import load_lexicon
from limner.tools.sandbox.checker import SandboxChecker, unjudged_parts


def test_the_shipped_lexicon_loads_with_both_kinds_and_its_licence() -> None:
    lex = load_lexicon()
    assert len(lex.things) > 10_000 and len(lex.moods) > 10_000
    assert "WordNet 3.0" in lex.source and lex.size_bytes < 300_000
    assert lex.kind("hammock") == "thing" and lex.things["hammock"] in ("artifact", "object")
    assert lex.kind("disappointment") == "mood"
    assert lex.lemma("mice") == "mouse" and lex.lemma("hammocks") == "hammock" and lex.lemma("zorblax") is None
    assert not set(lex.things) & set(lex.moods)


def test_a_physical_wordnet_noun_the_vocabulary_lacks_is_an_object_of_its_own() -> None:
    assert "hammock" not in vocab.CLASSES and "hammock" not in vocab.CLASS_SYNONYMS
    s = parse_prompt("a hammock next to a dog")
    assert [(e.noun, e.cls) for e in s.elements] == [("hammock", "hammock"), ("dog", "dog")]
    assert not s.unsupported and [r.predicate for r in s.relations] == ["next to"]
    s = parse_prompt("two hammocks")
    assert s.elements[0].cls == "hammock" and s.elements[0].count == 2  # its plural too, never another class


def test_an_object_only_the_lexicon_knows_never_passes_in_the_sandbox() -> None:
    scene = parse_prompt("a hammock")
    assert not scene.unsupported  # read whole ...
    assert any("cannot draw or see 'hammock'" in u for u in unjudged_parts(scene))  # ... but not drawable
    verdict = Evaluator(SandboxChecker("checker"))(Image.new("RGB", (256, 256), "white"), scene).verdict
    assert not verdict.passed and any("hammock" in u for u in verdict.unsupported)


def test_an_abstract_wordnet_noun_is_a_mood_read_but_not_judged() -> None:
    assert "disappointment" not in vocab.MOODS
    s = parse_prompt("A person is frowning in disappointment.")
    assert s.moods == ["disappointment"] and [e.cls for e in s.elements] == ["person"] and not s.unsupported
    assert any("disappointment" in u for u in s.unjudged_readings)


def test_verbs_adjectives_and_ing_forms_are_not_lexicon_nouns() -> None:
    lex = load_lexicon()
    for word in ("set", "move", "run", "walk", "red", "playing", "running", "building", "fed", "saw"):
        assert lex.kind(word) is None, word
    # WordNet has the nouns "swimming" and "fishing"; as -ing forms they stay what the dog and the man do
    s = parse_prompt("A dog is swimming.")
    assert [(e.cls, e.states) for e in s.elements] == [("dog", ["swimming"])] and not s.moods
    s = parse_prompt("A man is fishing by the lake.")
    assert s.elements[0].states == ["fishing"] and not s.moods and not s.unsupported


def test_a_word_not_in_wordnet_stays_unsupported() -> None:
    s = parse_prompt("a zorblax couch")
    assert s.unsupported == ["attribute 'zorblax' of couch"]
    s = parse_prompt("a zorblax")
    assert s.unsupported == ["object 'zorblax' (not in the vocabulary)"]


def test_the_vocabulary_wins_over_the_lexicon() -> None:
    # "bag" is a vocabulary synonym of handbag; WordNet's "bag" would be a class of its own
    assert parse_prompt("a bag").elements[0].cls == "handbag"
    # a part word with no owner stays unsupported although WordNet knows "blade" as an artifact
    assert load_lexicon().kind("blade") == "thing" and "blade" in vocab.PARTS
    assert parse_prompt("a red blade").unsupported == ["object 'blade' (not in the vocabulary)"]
    # a vocabulary mood stays a mood, a vocabulary background a background
    assert parse_prompt("the beauty of a hammock").moods == ["beauty"]
    assert parse_prompt("a dog in the park").background == "park"


def test_a_general_noun_before_a_head_is_a_quality_and_a_body_part_after_a_possessive_is_a_part() -> None:
    s = parse_prompt("a brick wall")
    assert s.elements[0].cls == "wall" and s.elements[0].qualities == ["brick"] and not s.unsupported
    assert any("brick" in u for u in s.unjudged_readings)  # read, not judged
    s = parse_prompt("A dog is lying on its back and getting its belly rubbed.")
    assert [e.cls for e in s.elements] == ["dog"] and "belly" in s.elements[0].parts


def test_limner_words_reports_the_lexicon() -> None:
    lexicon = vocabulary()["reader"]["lexicon"]
    assert lexicon["things"] == len(load_lexicon().things) and "WordNet 3.0" in lexicon["source"]
    assert lexicon["file"].endswith("wordnet_nouns.json.gz")
