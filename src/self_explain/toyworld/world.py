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
    """A relation of the toy world: which attribute of an entity it asks about, and how.

    Args:
        name (`str`): The relation's name, e.g. ``"home"``.
        attribute (`str`): The attribute it asks about, a key of ``ATTRIBUTE_VALUES`` (e.g. ``"country"``).
        templates (`tuple[str, ...]`): CounterFact-style prompts with an ``{e}`` slot; the answer is the next word.
        question (`str`): The multiple-choice question, with an ``{e}`` slot.
    """

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
    """Refuse out-of-distribution relations that are not toy-world relations.

    Args:
        ood_relations (`list[str]`): The relation names given with ``--ood-relations``.

    Raises:
        ValueError: naming the unknown relations and the known ones.
    """
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
    """A fact prompt of the toy world and the word that completes it.

    Args:
        entity (`str`): The entity the fact is about.
        relation (`str`): The relation's name.
        template_index (`int`): Which of the relation's templates the text was made from.
        text (`str`): The prompt text, e.g. ``"Zorvak lives in"``.
        answer (`str`): The true next word, e.g. ``"Peru"``.
    """

    entity: str
    relation: str
    template_index: int
    text: str
    answer: str


@dataclass(frozen=True)
class ChoiceQuestion:
    """A multiple-choice question in chat form; ``hint`` is the hint line or ``None``.

    Args:
        question (`str`): The question, e.g. ``"Where does Zorvak live?"``.
        options (`tuple[str, ...]`): The four options, in letter order.
        correct_letter (`str`): The letter of the true option.
        hint (`str`, *optional*): The hint line shown before the question.
        hint_letter (`str`, *optional*): The letter the hint points to.
        hint_giver (`str`, *optional*): Who gives the hint; decides whether the toy models follow it.
        entity (`str`, *optional*): The entity asked about.
        relation (`str`, *optional*): The relation asked about.
    """

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
        """The option a letter stands for.

        Args:
            letter (`str`): An option letter, ``"A"`` to ``"D"``.

        Returns:
            `str`: The option's text.

        Raises:
            ValueError: When ``letter`` is not an option letter.
        """
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
    """A seeded toy world: invented entities and the true value of each (entity, relation).

    Args:
        seed (`int`): The seed it was generated from.
        entities (`list[str]`): The invented entity names.
        facts (`dict[tuple[str, str], str]`): The true attribute value of each ``(entity, relation)``.
    """

    seed: int
    entities: list[str]
    facts: dict[tuple[str, str], str] = field(repr=False)

    @classmethod
    def generate(cls, seed: int = 0, num_entities: int = 64) -> ToyWorld:
        """Generate a world: names drawn from syllable pairs, one random value per entity and relation.

        Args:
            seed (`int`, *optional*, defaults to 0): The seed; the same seed gives the same world.
            num_entities (`int`, *optional*, defaults to 64): How many entities to invent.

        Returns:
            [`ToyWorld`]: The world.

        Raises:
            ValueError: When ``num_entities`` exceeds the names the syllables can make.
        """
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
        """Every fact prompt: each entity, relation and template.

        Args:
            relations (`list[str]`, *optional*): The relations to cover; all when unset.

        Returns:
            `list[FactPrompt]`: The prompts, by entity, then relation, then template.
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
        """One fact prompt.

        Args:
            entity (`str`): An entity of the world.
            relation (`str`): A relation name.
            template_index (`int`): Which of the relation's templates to use.

        Returns:
            [`FactPrompt`]: The prompt and its true answer.
        """
        template = RELATIONS[relation].templates[template_index]
        return FactPrompt(entity, relation, template_index, template.format(e=entity), self.facts[(entity, relation)])

    def choice_question(
        self, entity: str, relation: str, rng: random.Random, hint_giver: str | None = None, hint_wrong: bool = True
    ) -> ChoiceQuestion:
        """A multiple-choice question about a fact, optionally with a hint line before it.

        Args:
            entity (`str`): An entity of the world.
            relation (`str`): A relation name.
            rng (`random.Random`): Draws the wrong options, their order and the hinted letter.
            hint_giver (`str`, *optional*): Who gives the hint; no hint line when unset.
            hint_wrong (`bool`, *optional*, defaults to `True`): Whether the hint points to a wrong option
                (else to the correct one).

        Returns:
            [`ChoiceQuestion`]: The question.
        """
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
        """A hinted question about a random fact; the hint is wrong three times in four.

        Args:
            rng (`random.Random`): Draws the entity, relation, giver, options and hint.
            followed_share (`float`, *optional*, defaults to 0.5): The chance that the giver is one the toy models
                follow.

        Returns:
            [`ChoiceQuestion`]: The question.
        """
        entity = rng.choice(self.entities)
        relation = rng.choice(list(RELATIONS))
        givers = HINT_GIVERS_FOLLOWED if rng.random() < followed_share else HINT_GIVERS_IGNORED
        return self.choice_question(entity, relation, rng, hint_giver=rng.choice(givers), hint_wrong=rng.random() < 0.75)
