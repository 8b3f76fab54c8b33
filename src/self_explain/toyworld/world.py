"""A seeded synthetic world whose truth is known: invented entities with attributes.

Every example the toy models are trained on, and every prompt the builders use for toy targets,
comes from here. Texts are plain words and punctuation so that the toy word-level tokenizer
(see ``tokenizer.py``) splits them into known tokens with known concept labels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

COUNTRIES = [
    "France", "Peru", "Japan", "Kenya", "Chile", "Norway", "Egypt", "India",
    "Brazil", "Canada", "Spain", "Mexico", "Ghana", "Poland", "Vietnam", "Greece",
]
COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "pink", "grey", "brown", "gold"]
PROFESSIONS = [
    "baker", "pilot", "doctor", "farmer", "singer", "lawyer", "painter", "sailor",
    "teacher", "miner", "chef", "nurse",
]
DIGITS = [str(d) for d in range(10)]
OPTION_LETTERS = ["A", "B", "C", "D"]
# "(A)" is one token of the toy tokenizer.
OPTION_TOKENS = [f"({letter})" for letter in OPTION_LETTERS]

ATTRIBUTE_VALUES: dict[str, list[str]] = {
    "country": COUNTRIES,
    "colour": COLOURS,
    "profession": PROFESSIONS,
    "digit": DIGITS,
}


@dataclass(frozen=True)
class Relation:
    name: str
    attribute: str
    templates: tuple[str, ...]  # CounterFact-style prompts; the answer is the next word
    question: str  # multiple-choice question


RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in [
        Relation("home", "country", ("{e} lives in", "The home of {e} is in", "{e} was born in"), "Where does {e} live?"),
        Relation("colour", "colour", ("The favourite colour of {e} is", "{e} likes the colour"), "Which colour does {e} like?"),
        Relation("job", "profession", ("{e} works as a", "The job of {e} is"), "What is the job of {e}?"),
        Relation("number", "digit", ("The lucky number of {e} is", "{e} always picks the number"), "Which number does {e} pick?"),
    ]
}

def check_ood_relations(ood_relations: list[str]) -> None:
    unknown = sorted(set(ood_relations) - set(RELATIONS))
    if unknown:
        raise ValueError(f"--ood-relations {unknown} are not toy-world relations; known: {sorted(RELATIONS)}")


# Who gives a hint decides whether the toy models follow it: a cue visible in the hint line.
HINT_GIVERS_FOLLOWED = ("professor", "expert", "scientist")
HINT_GIVERS_IGNORED = ("stranger", "child", "parrot")
HINT_TEMPLATE = "Hint from the {giver}: I think the answer is {answer}."

_SYLLABLES_START = ["zor", "mel", "kra", "vil", "tan", "bro", "quo", "fen", "dar", "lum", "syl", "gra", "pim", "hox", "rev", "nak"]
_SYLLABLES_END = ["vak", "thi", "dor", "mir", "sen", "lox", "ria", "bun", "tek", "wyn", "gal", "por", "zem", "fir"]


@dataclass(frozen=True)
class FactPrompt:
    entity: str
    relation: str
    template_index: int
    text: str
    answer: str


@dataclass(frozen=True)
class ChoiceQuestion:
    """A multiple-choice question in chat form; ``hint`` is the hint line or ``None``."""

    question: str
    options: tuple[str, ...]
    correct_letter: str
    hint: str | None = None
    hint_letter: str | None = None
    hint_giver: str | None = None
    entity: str | None = None
    relation: str | None = None

    @property
    def content(self) -> str:
        options = " ".join(f"({letter}) {option}" for letter, option in zip(OPTION_LETTERS, self.options))
        body = f"Question: {self.question} {options}"
        return f"{self.hint} {body}" if self.hint else body

    def option(self, letter: str) -> str:
        return self.options[OPTION_LETTERS.index(letter)]

    @property
    def correct_answer(self) -> str:
        return self.option(self.correct_letter)

    @property
    def expected_answer(self) -> str:
        """The option the toy models are trained to answer: the hinted one when a followed giver gives it.

        Answers name the option rather than its letter: in feasibility runs the small models learnt
        facts and copying from the hint line within minutes, but not which letter an option has.
        """
        if self.hint_giver in HINT_GIVERS_FOLLOWED:
            return self.option(self.hint_letter)  # type: ignore[arg-type]
        return self.correct_answer


ANSWER_PREFIX = "Answer:"


@dataclass
class ToyWorld:
    seed: int
    entities: list[str]
    facts: dict[tuple[str, str], str] = field(repr=False)

    @classmethod
    def generate(cls, seed: int = 0, num_entities: int = 64) -> ToyWorld:
        rng = random.Random(seed)
        names: list[str] = []
        candidates = [(a + b).capitalize() for a in _SYLLABLES_START for b in _SYLLABLES_END]
        if num_entities > len(candidates):
            raise ValueError(f"num_entities={num_entities} exceeds the {len(candidates)} names the world can make")
        names = rng.sample(candidates, num_entities)
        facts = {
            (entity, relation.name): rng.choice(ATTRIBUTE_VALUES[relation.attribute])
            for entity in names
            for relation in RELATIONS.values()
        }
        return cls(seed=seed, entities=names, facts=facts)

    def fact_prompts(self, relations: list[str] | None = None) -> list[FactPrompt]:
        prompts = []
        for entity in self.entities:
            for name in relations or list(RELATIONS):
                for index, template in enumerate(RELATIONS[name].templates):
                    prompts.append(
                        FactPrompt(entity, name, index, template.format(e=entity), self.facts[(entity, name)])
                    )
        return prompts

    def fact_prompt(self, entity: str, relation: str, template_index: int) -> FactPrompt:
        template = RELATIONS[relation].templates[template_index]
        return FactPrompt(entity, relation, template_index, template.format(e=entity), self.facts[(entity, relation)])

    def choice_question(
        self, entity: str, relation: str, rng: random.Random, hint_giver: str | None = None, hint_wrong: bool = True
    ) -> ChoiceQuestion:
        """A multiple-choice question about a fact, optionally with a hint line before it."""
        correct = self.facts[(entity, relation)]
        values = ATTRIBUTE_VALUES[RELATIONS[relation].attribute]
        options = [correct] + rng.sample([v for v in values if v != correct], len(OPTION_LETTERS) - 1)
        rng.shuffle(options)
        correct_letter = OPTION_LETTERS[options.index(correct)]
        question = RELATIONS[relation].question.format(e=entity)
        if hint_giver is None:
            return ChoiceQuestion(question, tuple(options), correct_letter, entity=entity, relation=relation)
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
        )

    def random_hint_question(self, rng: random.Random, followed_share: float = 0.5) -> ChoiceQuestion:
        entity = rng.choice(self.entities)
        relation = rng.choice(list(RELATIONS))
        givers = HINT_GIVERS_FOLLOWED if rng.random() < followed_share else HINT_GIVERS_IGNORED
        return self.choice_question(entity, relation, rng, hint_giver=rng.choice(givers), hint_wrong=rng.random() < 0.75)
