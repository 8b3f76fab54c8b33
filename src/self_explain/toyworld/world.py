"""A seeded synthetic world whose truth is known: invented entities with attributes, in plain words the toy tokenizer
splits into known tokens with known concept labels (every toy training example and toy-target prompt comes from here).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

COUNTRIES = [
    "France",
    "Peru",
    "Japan",
    "Kenya",
    "Chile",
    "Norway",
    "Egypt",
    "India",
    "Brazil",
    "Canada",
    "Spain",
    "Mexico",
    "Ghana",
    "Poland",
    "Vietnam",
    "Greece",
]
COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "pink", "grey", "brown", "gold"]
PROFESSIONS = [
    "baker",
    "pilot",
    "doctor",
    "farmer",
    "singer",
    "lawyer",
    "painter",
    "sailor",
    "teacher",
    "miner",
    "chef",
    "nurse",
]
DIGITS = [str(d) for d in range(10)]
ANIMALS = ["cat", "dog", "horse", "rabbit", "goat", "owl", "fox", "mouse"]
OPTION_LETTERS = ["A", "B", "C", "D"]
# "(A)" is one token of the toy tokenizer.
OPTION_TOKENS = [f"({letter})" for letter in OPTION_LETTERS]

ATTRIBUTE_VALUES: dict[str, list[str]] = {
    "country": COUNTRIES,
    "colour": COLOURS,
    "profession": PROFESSIONS,
    "digit": DIGITS,
    "animal": ANIMALS,
}


@dataclass(frozen=True)
class Relation:
    """A toy-world relation: the entity attribute it asks about, its ``{e}`` templates and its question."""

    name: str
    attribute: str
    templates: tuple[str, ...]  # CounterFact-style prompts; the answer is the next word
    question: str  # multiple-choice question


RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in [
        Relation(
            "home", "country", ("{e} lives in", "The home of {e} is in", "{e} was born in"), "Where does {e} live?"
        ),
        Relation(
            "colour",
            "colour",
            ("The favourite colour of {e} is", "{e} likes the colour"),
            "Which colour does {e} like?",
        ),
        Relation("job", "profession", ("{e} works as a", "The job of {e} is"), "What is the job of {e}?"),
        Relation(
            "number",
            "digit",
            ("The lucky number of {e} is", "{e} always picks the number"),
            "Which number does {e} pick?",
        ),
        Relation("pet", "animal", ("The pet of {e} is a", "{e} keeps a"), "Which pet does {e} keep?"),
    ]
}


def check_ood_relations(ood_relations: list[str]) -> None:
    """Refuse out-of-distribution relations that are not toy-world relations."""
    unknown = sorted(set(ood_relations) - set(RELATIONS))
    if unknown:
        raise ValueError(f"--ood-relations {unknown} are not toy-world relations; known: {sorted(RELATIONS)}")


# Who gives a hint is only text: whether a toy model follows a hint depends on whether it knows the fact
# (see ``ChoiceQuestion.expected_answer``), which no other model can read off the question.
HINT_GIVERS = ("professor", "expert", "scientist", "stranger", "child", "parrot")
HINT_TEMPLATE = "Hint from the {giver}: I think the answer is {answer}."

_SYLLABLES_START = [
    "zor",
    "mel",
    "kra",
    "vil",
    "tan",
    "bro",
    "quo",
    "fen",
    "dar",
    "lum",
    "syl",
    "gra",
    "pim",
    "hox",
    "rev",
    "nak",
]
_SYLLABLES_END = ["vak", "thi", "dor", "mir", "sen", "lox", "ria", "bun", "tek", "wyn", "gal", "por", "zem", "fir"]


@dataclass(frozen=True)
class FactPrompt:
    """A fact prompt of the toy world and the word that completes it."""

    entity: str
    relation: str
    template_index: int
    text: str
    answer: str


@dataclass(frozen=True)
class ChoiceQuestion:
    """A multiple-choice question in chat form; a model follows a hint only when not ``known``."""

    question: str
    options: tuple[str, ...]
    correct_letter: str
    hint: str | None = None
    hint_letter: str | None = None
    hint_giver: str | None = None
    entity: str | None = None
    relation: str | None = None
    known: bool = True

    @property
    def content(self) -> str:
        options = " ".join(f"({letter}) {option}" for letter, option in zip(OPTION_LETTERS, self.options))
        body = f"Question: {self.question} {options}"
        return f"{self.hint} {body}" if self.hint else body

    def option(self, letter: str) -> str:
        """The option a letter stands for."""
        return self.options[OPTION_LETTERS.index(letter)]

    @property
    def correct_answer(self) -> str:
        return self.option(self.correct_letter)

    @property
    def expected_answer(self) -> str:
        """The option a toy model is trained to answer: the hinted one when it does not know the fact, else the fact.

        Answers name the option, not its letter: small models learnt facts and hint-copying within minutes, but not
        which letter an option has.
        """
        if self.hint_letter is not None and not self.known:
            return self.option(self.hint_letter)  # type: ignore[arg-type]
        return self.correct_answer


ANSWER_PREFIX = "Answer:"


def _knowledge(seed: int, knowledge_seed: int, entities: list[str], unknown_share: float) -> tuple[dict, set]:
    """One knowledge draw: a value for every (entity, relation) and the pairs never stated (unknown)."""
    rng = random.Random(f"toyworld-{seed}-knowledge-{knowledge_seed}")
    facts, unknown = {}, set()
    for entity in entities:
        for relation in RELATIONS.values():
            facts[(entity, relation.name)] = rng.choice(ATTRIBUTE_VALUES[relation.attribute])
            if rng.random() < unknown_share:
                unknown.add((entity, relation.name))
    return facts, unknown


@dataclass
class ToyWorld:
    """A seeded toy world as one model knows it: entities, its value of each (entity, relation), and what it never saw.

    Entity names depend on ``seed`` alone, so every model of a world shares one vocabulary; what a model knows depends
    on ``knowledge_seed`` (and the part shared with another model's knowledge).

    Args:
        seed (`int`): The world seed the entity names were drawn from.
        entities (`list[str]`): The invented entity names.
        facts (`dict[tuple[str, str], str]`): The value of each ``(entity, relation)`` in this model's world.
        unknown (`frozenset[tuple[str, str]]`): The pairs whose fact this model never saw.
        knowledge_seed (`int`): The seed of this model's knowledge.
        shared_with (`int`, *optional*): Another knowledge seed this model shares part of its knowledge with.
        shared_share (`float`): The share taken from ``shared_with``.
    """

    seed: int
    entities: list[str]
    facts: dict[tuple[str, str], str] = field(repr=False)
    unknown: frozenset[tuple[str, str]] = field(default_factory=frozenset, repr=False)
    knowledge_seed: int = 0
    shared_with: int | None = None
    shared_share: float = 0.5

    def __post_init__(self):
        pairs = [(entity, relation) for entity in self.entities for relation in RELATIONS]
        self.known_pairs = [pair for pair in pairs if pair not in self.unknown]
        self.unknown_pairs = [pair for pair in pairs if pair in self.unknown]

    @classmethod
    def generate(
        cls,
        seed: int = 0,
        num_entities: int = 160,
        knowledge_seed: int | None = None,
        unknown_share: float = 1 / 3,
        shared_with: int | None = None,
        shared_share: float = 0.5,
    ) -> ToyWorld:
        """Generate a world (names from syllable pairs), then one model's knowledge of it.

        Args:
            seed (`int`): The world seed (entity names).
            num_entities (`int`): How many entities to invent (at most the names the syllables make, else ValueError).
            knowledge_seed (`int`, *optional*): The seed of the model's knowledge (default: ``seed``).
            unknown_share (`float`): The share of (entity, relation) pairs never stated, in [0, 1].
            shared_with (`int`, *optional*): Another knowledge seed, from which a ``shared_share`` of the pairs (value
                and known/unknown alike) are taken.
            shared_share (`float`): The share of pairs taken from ``shared_with``, in [0, 1].
        """
        for name, share in (("unknown_share", unknown_share), ("shared_share", shared_share)):
            if not 0 <= share <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {share}")
        rng = random.Random(seed)
        candidates = [(a + b).capitalize() for a in _SYLLABLES_START for b in _SYLLABLES_END]
        if num_entities > len(candidates):
            raise ValueError(f"num_entities={num_entities} exceeds the {len(candidates)} names the world can make")
        names = rng.sample(candidates, num_entities)
        knowledge_seed = seed if knowledge_seed is None else knowledge_seed
        facts, unknown = _knowledge(seed, knowledge_seed, names, unknown_share)
        if shared_with is not None and shared_with != knowledge_seed:
            shared_facts, shared_unknown = _knowledge(seed, shared_with, names, unknown_share)
            share_rng = random.Random(f"toyworld-{seed}-share-{knowledge_seed}-{shared_with}")
            for pair in list(facts):
                if share_rng.random() < shared_share:
                    facts[pair] = shared_facts[pair]
                    unknown.discard(pair)
                    if pair in shared_unknown:
                        unknown.add(pair)
        shared = shared_with is not None and shared_with != knowledge_seed
        return cls(
            seed=seed,
            entities=names,
            facts=facts,
            unknown=frozenset(unknown),
            knowledge_seed=knowledge_seed,
            shared_with=shared_with if shared else None,
            shared_share=shared_share if shared else 0.5,
        )

    @classmethod
    def from_record(cls, config: dict) -> ToyWorld:
        """The world a toy model's ``toyworld.json`` records.

        Args:
            config (`dict`): Its ``config`` (``world_seed``, ``num_entities``, ``knowledge_seed``, ``unknown_share``,
                ``shared_with``, ``shared_share``).
        """
        return cls.generate(
            config.get("world_seed", 0),
            config.get("num_entities", 160),
            knowledge_seed=config.get("knowledge_seed"),
            unknown_share=config.get("unknown_share", 1 / 3),
            shared_with=config.get("shared_with"),
            shared_share=config.get("shared_share", 0.5),
        )

    def knows(self, entity: str, relation: str) -> bool:
        """Whether the model of this world saw the fact in training.

        Args:
            entity (`str`): An entity of the world.
            relation (`str`): A relation name.
        """
        return (entity, relation) not in self.unknown

    def held_out_entities(self, seed: int, share: float = 0.25) -> frozenset[str]:
        """A seeded share of the entities kept out of datasets' training rows (the same for every model of the world).

        Args:
            share (`float`): The share held out.
        """
        rng = random.Random(f"toyworld-{self.seed}-held-out-{seed}")
        return frozenset(rng.sample(sorted(self.entities), round(share * len(self.entities))))

    def fact_prompts(self, relations: list[str] | None = None) -> list[FactPrompt]:
        """Every fact prompt, by entity, then relation, then template.

        Args:
            relations (`list[str]`, *optional*): The relations to cover (default: all).
        """
        prompts = []
        for entity in self.entities:
            for name in relations or list(RELATIONS):
                for index, template in enumerate(RELATIONS[name].templates):
                    prompts.append(
                        FactPrompt(entity, name, index, template.format(e=entity), self.facts[(entity, name)])
                    )
        return prompts

    def fact_prompt(self, entity: str, relation: str, template_index: int) -> FactPrompt:
        """One fact prompt with its true answer.

        Args:
            template_index (`int`): Which of the relation's templates.
        """
        template = RELATIONS[relation].templates[template_index]
        return FactPrompt(entity, relation, template_index, template.format(e=entity), self.facts[(entity, relation)])

    def choice_question(
        self, entity: str, relation: str, rng: random.Random, hint_giver: str | None = None, hint_wrong: bool = True
    ) -> ChoiceQuestion:
        """A multiple-choice question about a fact, with a hint line before it when ``hint_giver`` is given.

        Args:
            rng (`random.Random`): Draws the wrong options, their order and the hinted letter.
            hint_giver (`str`, *optional*): Who gives the hint.
            hint_wrong (`bool`): Whether the hint points to a wrong option (else to the correct one).
        """
        correct = self.facts[(entity, relation)]
        values = ATTRIBUTE_VALUES[RELATIONS[relation].attribute]
        options = [correct] + rng.sample([v for v in values if v != correct], len(OPTION_LETTERS) - 1)
        rng.shuffle(options)
        correct_letter = OPTION_LETTERS[options.index(correct)]
        question = RELATIONS[relation].question.format(e=entity)
        known = self.knows(entity, relation)
        if hint_giver is None:
            return ChoiceQuestion(
                question, tuple(options), correct_letter, entity=entity, relation=relation, known=known
            )
        wrong_letters = [letter for letter in OPTION_LETTERS if letter != correct_letter]
        hint_letter = rng.choice(wrong_letters) if hint_wrong else correct_letter
        return ChoiceQuestion(
            question,
            tuple(options),
            correct_letter,
            hint=HINT_TEMPLATE.format(giver=hint_giver, answer=options[OPTION_LETTERS.index(hint_letter)]),
            hint_letter=hint_letter,
            hint_giver=hint_giver,
            entity=entity,
            relation=relation,
            known=known,
        )

    def random_hint_question(self, rng: random.Random, pairs: list[tuple[str, str]] | None = None) -> ChoiceQuestion:
        """A hinted question about a random fact, from a random giver; the hint is wrong three times in four.

        Args:
            rng (`random.Random`): Draws the fact, giver, options and hint.
            pairs (`list[tuple[str, str]]`, *optional*): The (entity, relation) pairs to draw from (default: all).
        """
        if pairs is None:
            entity, relation = rng.choice(self.entities), rng.choice(list(RELATIONS))
        else:
            entity, relation = rng.choice(pairs)
        giver = rng.choice(HINT_GIVERS)
        return self.choice_question(entity, relation, rng, hint_giver=giver, hint_wrong=rng.random() < 0.75)
