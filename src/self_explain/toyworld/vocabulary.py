"""The closed vocabulary of the toy world and the concept labels of its tokens.

The toy tokenizer is word-level, so every word of any task's explainer prompts must be in it when the toy models are
trained; a test checks that every registered task's templates tokenize without ``<unk>``.
"""

from __future__ import annotations

import random

from ..core.placeholders import PLACEHOLDER_TOKENS
from .world import (
    ANIMALS,
    ANSWER_PREFIX,
    COLOURS,
    COUNTRIES,
    DIGITS,
    HINT_GIVERS,
    HINT_TEMPLATE,
    OPTION_LETTERS,
    OPTION_TOKENS,
    PROFESSIONS,
    RELATIONS,
    ToyWorld,
)

SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>"]
CHAT_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]

PUNCTUATION = list(".,:;?!()[]{}<>\"'-+/*=%_#@&|")

# Words of the explainer prompts of every task (patching, ablation, features, preferences) and of the
# decision scenarios of the preferences task. Several phrasings so that templates can vary.
EXPLAINER_TEXT = """
If feature at layer layers is added to tokens token when processing the text how would the output change
Suppose inserted into while model reads What happens Patching this vector position changes what next
The output would remain unchanged from most likely output would change to
If the hint were removed how would the assistant answer change Without without hint does it
At encodes This direction represents describes fires on activates for Describe meaning of word
Which what does say predict predicts prediction explain explanation your own computation
country countries names name colour colours words profession professions jobs digits numbers number
option letters letter people person invented entity entities relation question questions punctuation
trusted untrusted givers giver hints chat markers start end of sequence answers answer other unknown
and or not a an the in on at to of for with by from is are was were be been it its this that these those
[DECISION TASK] [INTROSPECTION TASK] DECISION INTROSPECTION TASK You are choosing between two options
Option Options respond with only A B or Which option do you choose prefer
Report how heavily you weighted each attribute when making choices in this scenario
as JSON object mapping attribute names to weights between and where positive means more is better
negative means less is better zero means ignored
choosing a an flat loan holiday car job phone laptop bike house school gym restaurant hotel flight
insurance bank plan course city partner pet camera watch sofa tent boat train apartment doctor
rent price cost size distance rooms floor age rating noise light speed weight battery storage
screen warranty interest rate term fee duration temperature beach days hours minutes stars reviews
comfort safety quality range power capacity salary commute vacation bonus team stops delay seats
euros dollars metres meters kilometres km m2 kg grams percent years months weeks GB inches
per month year day night hour minimum maximum min max unit units range weights weight
""".split()


def world_words(world: ToyWorld) -> list[str]:
    """The words of a world's texts, with repeats, split as the toy tokenizer splits them."""
    words: list[str] = []
    words += world.entities + COUNTRIES + COLOURS + PROFESSIONS + DIGITS + ANIMALS + OPTION_LETTERS
    words += list(HINT_GIVERS)
    rng = random.Random(0)
    texts = [HINT_TEMPLATE.format(giver="x", answer="x"), ANSWER_PREFIX, "Question: Which option is ?"]
    for relation in RELATIONS.values():
        texts += [t.format(e="x") for t in relation.templates] + [relation.question.format(e="x")]
    texts.append(world.choice_question(world.entities[0], "home", rng).content)
    for text in texts:
        words += text.replace("(", " ( ").replace(")", " ) ").replace(":", " : ").replace("?", " ? ").split()
    return words


def build_vocabulary(world: ToyWorld) -> list[str]:
    """Special tokens first (fixed ids), then every other word once, in first-seen order; a token's index is its id."""
    seen: dict[str, None] = {}
    for token in (
        SPECIAL_TOKENS + CHAT_TOKENS + list(PLACEHOLDER_TOKENS) + PUNCTUATION + world_words(world) + EXPLAINER_TEXT
    ):
        if token not in ("x",) and token not in seen:
            seen[token] = None
    return list(seen)


CONCEPTS: dict[str, set[str]] = {
    "country": set(COUNTRIES),
    "colour": set(COLOURS),
    "profession": set(PROFESSIONS),
    "digit": set(DIGITS),
    "animal": set(ANIMALS),
    "option_letter": set(OPTION_LETTERS) | set(OPTION_TOKENS),
    "hint_giver": set(HINT_GIVERS),
    "punctuation": set(PUNCTUATION),
    "chat_marker": set(CHAT_TOKENS),
    "special": set(SPECIAL_TOKENS) | set(PLACEHOLDER_TOKENS),
}

# The concepts whose words are attribute values (what facts, hints, options and answers name).
VALUE_CONCEPTS = ("country", "colour", "profession", "digit", "animal")

# Per-word concepts, ``"<concept>:<word>"``: each attribute value, hint giver and option letter on its own.
WORD_CONCEPTS: dict[str, set[str]] = {
    **{
        f"{concept}:{word}": {word}
        for concept, words in (
            ("country", COUNTRIES),
            ("colour", COLOURS),
            ("profession", PROFESSIONS),
            ("digit", DIGITS),
            ("animal", ANIMALS),
            ("hint_giver", HINT_GIVERS),
        )
        for word in words
    },
    **{f"option_letter:{letter}": {letter, token} for letter, token in zip(OPTION_LETTERS, OPTION_TOKENS)},
}
_WORD_CONCEPT: dict[str, str] = {word: concept for concept, words in WORD_CONCEPTS.items() for word in words}

# Context concepts: a token by where it stands in a toy text, read off the tokens next to it (so a window of a
# text labels the same as the whole text wherever those neighbours are inside the window).
CONTEXT_CONCEPTS: dict[str, str] = {
    "hint_answer": "an attribute value a hint line names (after 'the answer is')",
    "assistant_answer": "the attribute value the assistant answers (after 'Answer :')",
    "option_value": "an attribute value offered as an option (right after '(A)' to '(D)')",
    "question_entity": "the entity a question asks about (a '?' within the next two tokens)",
    "answer_position": "the ':' of 'Answer :', where the model predicts its answer",
}
_HINT_LEAD = tuple(HINT_TEMPLATE.split("{answer}")[0].split()[-2:])  # ("answer", "is")
_ANSWER_LEAD = tuple(ANSWER_PREFIX.replace(":", " :").split())  # ("Answer", ":")


def _context_concepts(tokens: list[str], index: int, found: list[str]) -> list[str]:
    """The context concepts of ``tokens[index]``, whose other labels are ``found``."""
    before = tuple(tokens[max(0, index - 2) : index])
    context = []
    if any(concept in VALUE_CONCEPTS for concept in found):
        if before == _HINT_LEAD:
            context.append("hint_answer")
        if before == _ANSWER_LEAD:
            context.append("assistant_answer")
        if before[-1:] and before[-1] in OPTION_TOKENS:
            context.append("option_value")
    if "entity" in found and "?" in tokens[index + 1 : index + 3]:
        context.append("question_entity")
    if before[-1:] + (tokens[index],) == _ANSWER_LEAD:
        context.append("answer_position")
    return context


def concept_labels(tokens: list[str], world: ToyWorld, fine: bool = False) -> list[list[str]]:
    """Each token's concepts: keys of ``CONCEPTS``, then ``"entity"`` (empty for plain function words)."""
    entities = set(world.entities)
    labels = []
    for token in tokens:
        found = [concept for concept, members in CONCEPTS.items() if token in members]
        if token in entities:
            found.append("entity")
        labels.append(found)
    if fine:
        for index, token in enumerate(tokens):
            found = labels[index]
            word = [_WORD_CONCEPT[token]] if token in _WORD_CONCEPT else []
            labels[index] = found + word + _context_concepts(tokens, index, found)
    return labels
