"""Concept labels of toy tokens: categories, and with ``fine=True`` the per-word and context concepts."""

from self_explain.toyworld.examples import toy_corpus
from self_explain.toyworld.tokenizer import build_toy_tokenizer
from self_explain.toyworld.vocabulary import (
    CONCEPTS,
    CONTEXT_CONCEPTS,
    WORD_CONCEPTS,
    build_vocabulary,
    concept_labels,
)
from self_explain.toyworld.world import (
    ANIMALS,
    COLOURS,
    COUNTRIES,
    DIGITS,
    HINT_GIVERS,
    OPTION_LETTERS,
    PROFESSIONS,
    ToyWorld,
)

WORLD = ToyWorld.generate(0)


def tokens_of(text: str) -> list[str]:
    tokenizer = build_toy_tokenizer(WORLD)
    return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_every_word_concept_is_one_known_word_of_its_category():
    values = COUNTRIES + COLOURS + PROFESSIONS + DIGITS + ANIMALS + list(HINT_GIVERS)
    assert len(WORD_CONCEPTS) == len(values) + len(OPTION_LETTERS)
    vocabulary = set(build_vocabulary(WORLD))
    for concept, words in WORD_CONCEPTS.items():
        category, word = concept.split(":", 1)
        assert word in words and words <= CONCEPTS[category] and words <= vocabulary | {f"({word})"}


def test_coarse_labels_by_default_fine_labels_on_request():
    entity = WORLD.entities[0]
    tokens = [entity, "lives", "in", "Peru", "(", "(B)", "7", "professor"]
    assert concept_labels(tokens, WORLD) == [
        ["entity"],
        [],
        [],
        ["country"],
        ["punctuation"],
        ["option_letter"],
        ["digit"],
        ["hint_giver"],
    ]
    assert concept_labels(tokens, WORLD, fine=True) == [
        ["entity"],
        [],
        [],
        ["country", "country:Peru"],
        ["punctuation"],
        ["option_letter", "option_letter:B"],
        ["digit", "digit:7", "option_value"],
        ["hint_giver", "hint_giver:professor"],  # "7" right after "(B)"
    ]


def test_context_concepts_of_a_hinted_question_and_its_answer():
    entity = WORLD.entities[3]
    text = (
        f"<bos> <|user|> Hint from the child: I think the answer is Peru. Question: Where does {entity} live? "
        "(A) Chile (B) Peru (C) Spain (D) Egypt <|end|> <|assistant|> Answer: Peru <|end|>"
    )
    tokens = tokens_of(text)
    labels = concept_labels(tokens, WORLD, fine=True)
    found = {
        concept: [i for i, token_labels in enumerate(labels) if concept in token_labels]
        for concept in CONTEXT_CONCEPTS
    }
    assert [tokens[i] for i in found["hint_answer"]] == ["Peru"]
    assert [tokens[i] for i in found["option_value"]] == ["Chile", "Peru", "Spain", "Egypt"]
    assert [tokens[i] for i in found["assistant_answer"]] == ["Peru"] and found["assistant_answer"][0] == len(
        tokens
    ) - 2
    assert [tokens[i] for i in found["question_entity"]] == [entity]
    assert [tokens[i : i + 2] for i in found["answer_position"]] == [[":", "Peru"]]
    assert tokens[found["answer_position"][0] - 1] == "Answer"
    # A fact names its entity and value in no context.
    fact = concept_labels(tokens_of(f"<bos> {entity} lives in Peru"), WORLD, fine=True)
    assert fact == [["special"], ["entity"], [], [], ["country", "country:Peru"]]


def test_every_concept_occurs_in_a_toy_corpus():
    tokenizer = build_toy_tokenizer(WORLD)
    seen: set[str] = set()
    for text in toy_corpus(WORLD, 300, seed=0, tokenizer=tokenizer):
        tokens = tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])
        seen.update(label for token_labels in concept_labels(tokens, WORLD, fine=True) for label in token_labels)
    expected = {"entity"} | set(WORD_CONCEPTS) | set(CONTEXT_CONCEPTS) | set(CONCEPTS)
    assert expected - seen == set()
