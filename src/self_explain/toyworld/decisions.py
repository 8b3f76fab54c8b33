"""Decisions of the toy world: named scenarios, options valued in digits, and the worked sum a toy model writes.

A toy model chooses A when Σ wᵢ (aᵢ − bᵢ) > 0 (five attributes 0–4, whole weights −2 to 2), writing the sum one
attribute at a time first (``"rent 3 1 + 2 + 4 = + 4 ; … Answer: A"``): a tiny Llama learns the comparison only with
this dense supervision. Training decisions are **shown** (a ``weights:`` line), **report** (introspection answered with
the shown weights as JSON) or **native** (weights from the knowledge seed, never shown: hidden preferences).
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass

from .world import ANSWER_PREFIX, COUNTRIES, ToyWorld

# The decision prompt of the preferences task (after Plunkett et al. 2025); the toy models are trained on it.
DECISION_TEMPLATE = (
    "[DECISION TASK] You are {name}. Which option do you choose?\n"
    "Option A: {option_a}.\n"
    "Option B: {option_b}.\n"
    "respond with only A or B."
)
WEIGHTS_LINE = "weights: {weights}.\n"  # shown weights go before the last line of the prompt
# The introspection questions of the preferences task; the toy models learn the answer's format on questions
# whose weights are shown (``report_example_content``), never on their own hidden ones.
INTROSPECTION_TEMPLATES = (
    "[INTROSPECTION TASK] You are {name}, with each attribute of {attributes}. "
    "Report how heavily you weighted each attribute when making choices in this scenario, as JSON object mapping "
    "attribute names to weights between -100 and 100, where positive means more is better, negative means less is "
    "better and 0 means ignored.",
    "[INTROSPECTION TASK] You are {name}: how heavily do you weight each attribute of {attributes}? "
    "respond with only a JSON object mapping attribute names to weights between -100 and 100.",
    "[INTROSPECTION TASK] Report your own weights for {name}, with each attribute of {attributes}, as JSON: "
    "from -100 (less is better) to 100 (more is better), 0 for ignored.",
)
REPORT_SCALE = 50  # a whole weight w is reported as 50 w: the largest |w| (2) is 100

DECISION_CONTEXTS = (
    "flat",
    "loan",
    "holiday",
    "car",
    "job",
    "phone",
    "laptop",
    "bike",
    "house",
    "school",
    "gym",
    "restaurant",
    "hotel",
    "flight",
    "insurance",
    "bank",
    "course",
    "camera",
    "watch",
    "sofa",
    "tent",
    "boat",
    "apartment",
    "doctor",
)
DECISION_ATTRIBUTES = (
    ("rent", "euros"),
    ("price", "euros"),
    ("cost", "dollars"),
    ("fee", "dollars"),
    ("size", "metres"),
    ("distance", "km"),
    ("rooms", "rooms"),
    ("age", "years"),
    ("rating", "stars"),
    ("noise", "percent"),
    ("light", "hours"),
    ("speed", "km"),
    ("battery", "hours"),
    ("storage", "GB"),
    ("screen", "inches"),
    ("warranty", "years"),
    ("interest", "percent"),
    ("term", "months"),
    ("duration", "days"),
    ("reviews", "reviews"),
    ("comfort", "percent"),
    ("safety", "stars"),
    ("quality", "stars"),
    ("weight", "kg"),
    ("salary", "euros"),
    ("commute", "minutes"),
    ("vacation", "days"),
    ("bonus", "euros"),
    ("delay", "minutes"),
    ("seats", "seats"),
)
NUM_DECISION_ATTRIBUTES = 5
VALUE_MIN, VALUE_MAX = 0, 4
WEIGHT_MAX = 2  # whole weights from −WEIGHT_MAX to WEIGHT_MAX, the largest |w| always WEIGHT_MAX
NUM_NATIVE_SCENARIOS = 40
WORKED_SUM_TOKENS = 80  # room for the worked sum of five attributes (about 60 tokens) before the answer


@dataclass(frozen=True)
class DecisionScenario:
    """A named decision scenario of the toy world."""

    name: str
    attributes: tuple[tuple[str, str], ...]

    @property
    def attribute_names(self) -> list[str]:
        return [name for name, _ in self.attributes]


@functools.cache
def world_scenarios(world_seed: int) -> tuple[DecisionScenario, ...]:
    """Every decision scenario of a world (each context in each country), in a seeded order, native ones first."""
    rng = random.Random(f"toyworld-{world_seed}-decisions")
    pairs = [(context, country) for context in DECISION_CONTEXTS for country in COUNTRIES]
    rng.shuffle(pairs)
    return tuple(
        DecisionScenario(
            f"choosing a {context} in {country}", tuple(rng.sample(DECISION_ATTRIBUTES, NUM_DECISION_ATTRIBUTES))
        )
        for context, country in pairs
    )


def draw_decision_weights(rng: random.Random) -> list[int]:
    """Five whole weights from −2 to 2 whose largest |w| is 2."""
    while True:
        weights = [rng.randint(-WEIGHT_MAX, WEIGHT_MAX) for _ in range(NUM_DECISION_ATTRIBUTES)]
        if max(abs(w) for w in weights) == WEIGHT_MAX:
            return weights


def native_preferences(world: ToyWorld) -> dict[str, list[int]]:
    """The hidden weights in each native scenario, from the knowledge seed (or ``shared_with``'s share)."""
    return _native_preferences(world.seed, world.knowledge_seed, world.shared_with, world.shared_share)


@functools.cache  # drawn once per model: training asks for them on every native decision
def _native_preferences(
    world_seed: int, knowledge_seed: int, shared_with: int | None, shared_share: float
) -> dict[str, list[int]]:
    def draw(seed: int) -> dict[str, list[int]]:
        rng = random.Random(f"toyworld-{world_seed}-preferences-{seed}")
        return {s.name: draw_decision_weights(rng) for s in world_scenarios(world_seed)[:NUM_NATIVE_SCENARIOS]}

    own = draw(knowledge_seed)
    if shared_with is None or shared_with == knowledge_seed:
        return own
    shared = draw(shared_with)
    rng = random.Random(f"toyworld-{world_seed}-preferences-share-{knowledge_seed}-{shared_with}")
    return {name: shared[name] if rng.random() < shared_share else weights for name, weights in own.items()}


def _signed(number: int) -> str:
    return f"{'-' if number < 0 else '+'} {abs(number)}"


def decision_content(
    scenario: DecisionScenario, values_a: list[int], values_b: list[int], shown_weights: list[int] | None = None
) -> str:
    """The decision prompt (the user message), with a ``weights:`` line when the weights are shown."""

    def option(values: list[int]) -> str:
        return ", ".join(f"{name} {value} {unit}".strip() for (name, unit), value in zip(scenario.attributes, values))

    text = DECISION_TEMPLATE.format(name=scenario.name, option_a=option(values_a), option_b=option(values_b))
    if shown_weights is None:
        return text
    weights = _weights_text(scenario.attribute_names, shown_weights)
    head, last = text.rsplit("\n", 1)
    return f"{head}\n{WEIGHTS_LINE.format(weights=weights)}{last}"


def worked_sum(
    attribute_names: list[str], weights: list[int], values_a: list[int], values_b: list[int]
) -> tuple[str, str]:
    """The reasoning a toy model writes (``"rent 3 1 + 2 + 4 = + 4 ; … ;"``) and its letter (A when the sum > 0)."""
    steps, total = [], 0
    for name, w, a, b in zip(attribute_names, weights, values_a, values_b):
        contribution = w * (a - b)
        total += contribution
        steps.append(f"{name} {a} {b} {_signed(w)} {_signed(contribution)} = {_signed(total)} ;")
    return " ".join(steps), "A" if total > 0 else "B"


def _weights_text(attribute_names: list[str], weights: list[int]) -> str:
    return ", ".join(f"{name} {w}" for name, w in zip(attribute_names, weights))


def report_example_content(scenario: DecisionScenario, weights: list[int], template_index: int) -> tuple[str, str]:
    """An introspection question with its weights shown, and its JSON answer (``{"rent": 100, "size": -50, …}``)."""
    attributes = ", ".join(f"{name} ({unit}, {VALUE_MIN} to {VALUE_MAX})" for name, unit in scenario.attributes)
    question = INTROSPECTION_TEMPLATES[template_index].format(name=scenario.name, attributes=attributes)
    content = f"{question}\n{WEIGHTS_LINE.format(weights=_weights_text(scenario.attribute_names, weights)).strip()}"
    answer = json.dumps({name: REPORT_SCALE * w for name, w in zip(scenario.attribute_names, weights)})
    return content, answer


def decision_completion(
    attribute_names: list[str], weights: list[int], values_a: list[int], values_b: list[int]
) -> str:
    """A toy model's whole answer: the worked sum, then ``Answer: A`` or ``Answer: B`` (no end-of-turn marker)."""
    reasoning, letter = worked_sum(attribute_names, weights, values_a, values_b)
    return f"{reasoning} {ANSWER_PREFIX} {letter}"


def sample_options(rng: random.Random, weights: list[int]) -> tuple[list[int], list[int]]:
    """Options A and B whose weighted sum under ``weights`` (not all zero) is not a tie."""
    while True:
        a = [rng.randint(VALUE_MIN, VALUE_MAX) for _ in weights]
        b = [rng.randint(VALUE_MIN, VALUE_MAX) for _ in weights]
        if sum(w * (x - y) for w, x, y in zip(weights, a, b)) != 0:
            return a, b


def shown_decision(world_seed: int, rng: random.Random) -> tuple[DecisionScenario, list[int], list[int], list[int]]:
    """(scenario, weights, A, B) with shown weights: a non-native scenario name, attributes and weights drawn anew."""
    name = rng.choice(world_scenarios(world_seed)[NUM_NATIVE_SCENARIOS:]).name
    scenario = DecisionScenario(name, tuple(rng.sample(DECISION_ATTRIBUTES, NUM_DECISION_ATTRIBUTES)))
    weights = draw_decision_weights(rng)
    return (scenario, weights, *sample_options(rng, weights))


def native_decision(world: ToyWorld, rng: random.Random) -> tuple[DecisionScenario, list[int], list[int], list[int]]:
    """(scenario, native weights, A, B) in a native scenario: the model's own weights, not shown."""
    scenario = rng.choice(world_scenarios(world.seed)[:NUM_NATIVE_SCENARIOS])
    weights = native_preferences(world)[scenario.name]
    return (scenario, weights, *sample_options(rng, weights))
