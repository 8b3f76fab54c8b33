"""Decision scenarios: a context and five attributes with units and ranges, weights, utilities and options.

The toy world's scenarios come from :func:`toy_scenarios`, a packaged real model's (``smollm2-135m``) from
:func:`english_scenarios`; a user's come from a JSON file read by :func:`read_scenarios`. Every scenario, from any
source, passes :func:`Scenario.from_dict`'s checks.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from ...utils.files import read_user_text

NUM_ATTRIBUTES = 5
WEIGHT_LIMIT = 100.0


@dataclass(frozen=True)
class Attribute:
    """One attribute of a scenario's options: its name, unit and range."""

    name: str
    unit: str
    min: float
    max: float

    def normalised(self, value: float) -> float:
        """(value − min) / (max − min): 0 at the bottom of the range, 1 at the top."""
        return (value - self.min) / (self.max - self.min)

    @property
    def decimals(self) -> int:
        """Options are shown as integers when the range allows, else with two decimals."""
        whole = float(self.min).is_integer() and float(self.max).is_integer()
        return 0 if whole and self.max - self.min >= 2 else 2

    def sample(self, rng: random.Random) -> float:
        """A value drawn uniformly from the range, rounded as options are shown (see ``decimals``)."""
        value = round(rng.uniform(self.min, self.max), self.decimals)
        return float(min(self.max, max(self.min, value)))

    def show(self, value: float) -> str:
        """A value as prompts show it: the number (``decimals`` places), then the unit."""
        number = f"{value:.{self.decimals}f}"
        return f"{number} {self.unit}".strip()


@dataclass(frozen=True)
class Scenario:
    """A decision scenario: a context and the attributes its options differ in.

    Args:
        scenario_id (`int`): The scenario's index in its source.
        name (`str`): The decision context, e.g. ``"choosing a flat in Peru"``.
        attributes (`tuple[Attribute, ...]`): Its ``NUM_ATTRIBUTES`` attributes, names distinct.
    """

    scenario_id: int
    name: str  # the decision context: "choosing a flat in Peru"
    attributes: tuple[Attribute, ...]

    @classmethod
    def from_dict(cls, record: object, where: str, scenario_id: int) -> Scenario:
        """A scenario from ``{"name": …, "attributes": [{"name", "unit", "min", "max"} × 5]}``, checked and stripped.

        Args:
            record (`object`): The parsed JSON; anything other than such an object is refused.
            where (`str`): Names the input in errors (e.g. "--scenarios scenarios.json, scenario 3").
            scenario_id (`int`): The scenario's id.

        Raises:
            ValueError: Naming ``where``, for a malformed record (not ``NUM_ATTRIBUTES`` attributes, an attribute
                without name or unit or with ``min`` not below ``max``, repeated names).
        """
        if not isinstance(record, dict):
            raise ValueError(f"{where}: expected an object with 'name' and 'attributes', got {type(record).__name__}")
        name = record.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: 'name' must be a non-empty string (the decision context), got {name!r}")
        attributes = record.get("attributes")
        if not isinstance(attributes, list) or len(attributes) != NUM_ATTRIBUTES:
            count = len(attributes) if isinstance(attributes, list) else "no list of"
            raise ValueError(f"{where} ({name!r}): expected exactly {NUM_ATTRIBUTES} attributes, got {count}")
        parsed = tuple(
            _attribute(item, f"{where} ({name!r}) attribute {index}") for index, item in enumerate(attributes)
        )
        names = [a.name for a in parsed]
        if len(set(names)) != len(names):
            raise ValueError(f"{where} ({name!r}): attribute names must be distinct, got {names}")
        return cls(scenario_id, name.strip(), parsed)

    def to_dict(self) -> dict:
        """The scenario as `from_dict` reads it (without its id): ``{"name": …, "attributes": [{"name", …}, …]}``."""
        return {"name": self.name, "attributes": [asdict(a) for a in self.attributes]}

    @property
    def attribute_names(self) -> list[str]:
        return [a.name for a in self.attributes]

    def utility(self, weights: list[float], values: list[float]) -> float:
        """An option's utility, Σ wᵢ · (xᵢ − minᵢ) / (maxᵢ − minᵢ).

        Args:
            weights (`list[float]`): One weight per attribute.
            values (`list[float]`): An option's value of each attribute.
        """
        return sum(w * a.normalised(x) for w, a, x in zip(weights, self.attributes, values))

    def sample_option(self, rng: random.Random) -> list[float]:
        """An option: one value drawn per attribute, in attribute order.

        Args:
            rng (`random.Random`): The draw's generator.
        """
        return [a.sample(rng) for a in self.attributes]

    def sample_pair(self, rng: random.Random) -> tuple[list[float], list[float]]:
        """Two options, A and B, that differ in at least one attribute.

        Args:
            rng (`random.Random`): The draw's generator.
        """
        while True:
            a, b = self.sample_option(rng), self.sample_option(rng)
            if a != b:
                return a, b

    def differences(self, option_a: list[float], option_b: list[float]) -> list[float]:
        """The normalised attribute differences A − B, in [−1, 1], one per attribute: the weight fit's regressors.

        Args:
            option_a (`list[float]`): Option A's values.
            option_b (`list[float]`): Option B's values.
        """
        return [attr.normalised(x) - attr.normalised(y) for attr, x, y in zip(self.attributes, option_a, option_b)]


def _number(item: dict, key: str, where: str) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: {key!r} must be a finite number, got {value!r}")
    return float(value)


def _attribute(item: object, where: str) -> Attribute:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object with name, unit, min, max, got {item!r}")
    name, unit = item.get("name"), item.get("unit", "")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: 'name' must be a non-empty string, got {name!r}")
    if not isinstance(unit, str):
        raise ValueError(f"{where} ({name!r}): 'unit' must be a string, got {unit!r}")
    low, high = _number(item, "min", f"{where} ({name!r})"), _number(item, "max", f"{where} ({name!r})")
    if low >= high:
        raise ValueError(f"{where} ({name!r}): 'min' must be below 'max', got min={low:g}, max={high:g}")
    return Attribute(name.strip(), unit.strip(), low, high)


def read_scenarios(path: str | Path, option: str = "--scenarios") -> list[Scenario]:
    """Scenarios from a JSON file: a list of scenario objects, or ``{"scenarios": [...]}``.

    Args:
        path (`str` or `Path`): The JSON file.
        option (`str`, *optional*, defaults to `"--scenarios"`): How the user named the file, for errors.

    Raises:
        FileNotFoundError: When the file does not exist.
        ValueError: When it is not valid JSON, holds no non-empty list of scenarios, a scenario is malformed (see
            `Scenario.from_dict`), or scenario names repeat.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{option} {path}: no such file")
    try:
        data = json.loads(read_user_text(path, option))
    except json.JSONDecodeError as error:
        raise ValueError(f"{option} {path} is not valid JSON ({error.msg} at line {error.lineno})") from error
    if isinstance(data, dict):
        data = data.get("scenarios")
    if not isinstance(data, list) or not data:
        raise ValueError(f"{option} {path}: expected a non-empty list of scenarios (or {{'scenarios': [...]}})")
    scenarios = [Scenario.from_dict(record, f"{option} {path}, scenario {i}", i) for i, record in enumerate(data)]
    names = [s.name for s in scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{option} {path}: scenario names must be distinct; repeated: {duplicates[:5]}")
    return scenarios


def draw_weights(rng: random.Random, count: int = NUM_ATTRIBUTES) -> list[float]:
    """``count`` draws from U(−100, 100), rescaled so that the largest |w| is 100 (Plunkett et al. 2025)."""
    raw = [rng.uniform(-WEIGHT_LIMIT, WEIGHT_LIMIT) for _ in range(count)]
    return rescale(raw)


def rescale(weights: list[float]) -> list[float]:
    """Weights scaled so that the largest |w| is 100; all zeros stay zeros."""
    largest = max(abs(w) for w in weights)
    if largest == 0:
        return [0.0 for _ in weights]
    return [WEIGHT_LIMIT * (w / largest) for w in weights]  # w / largest first: the largest is exactly ±100


def rescale_factor(weights: list[float]) -> float:
    """The factor `rescale` multiplies the weights by (0 when all are 0), for quantities on the same scale."""
    largest = max(abs(w) for w in weights)
    return 0.0 if largest == 0 else WEIGHT_LIMIT / largest


def _sampled_pairs(contexts, places, num_scenarios: int, source: str, rng: random.Random) -> list[tuple]:
    """``num_scenarios`` distinct (context, place) pairs drawn by ``rng``; ``source`` names them in the error."""
    pairs = [(context, place) for context in contexts for place in places]
    if not 1 <= num_scenarios <= len(pairs):
        raise ValueError(f"--num-scenarios must be between 1 and {len(pairs)} for {source}, got {num_scenarios}")
    return rng.sample(pairs, num_scenarios)


def toy_scenarios(num_scenarios: int, seed: int, num_native: int = 0, world_seed: int = 0) -> list[Scenario]:
    """Toy-world scenarios "choosing a <context> in <country>", five attributes valued 0 to 4 each.

    The first ``num_native`` are the world's native ones, where the toy models have hidden preferences; the rest are
    drawn from those they only decided with shown weights, so anything instilled is new.
    """
    from ...toyworld.decisions import NUM_NATIVE_SCENARIOS, VALUE_MAX, VALUE_MIN, world_scenarios

    scenarios = world_scenarios(world_seed)
    if not 0 <= num_native <= min(NUM_NATIVE_SCENARIOS, num_scenarios):
        raise ValueError(
            f"the toy world has {NUM_NATIVE_SCENARIOS} native scenarios; {num_native} of "
            f"{num_scenarios} asked for (lower --native-fraction or --num-scenarios)"
        )
    others = scenarios[NUM_NATIVE_SCENARIOS:]
    if not 1 <= num_scenarios - num_native <= len(others):
        raise ValueError(
            f"--num-scenarios must leave between 1 and {len(others)} toy scenarios that are not native, "
            f"got {num_scenarios} with {num_native} native"
        )
    chosen = list(scenarios[:num_native]) + random.Random(f"toy-scenarios:{seed}").sample(
        others, num_scenarios - num_native
    )
    return [
        Scenario(
            scenario_id,
            toy.name,
            tuple(Attribute(name, unit, float(VALUE_MIN), float(VALUE_MAX)) for name, unit in toy.attributes),
        )
        for scenario_id, toy in enumerate(chosen)
    ]


def toy_intended_weights(rng: random.Random) -> list[float]:
    """Intended weights the toy models can follow: whole weights from −2 to 2 (largest |w| 2), on the ±100 scale."""
    from ...toyworld.decisions import REPORT_SCALE, draw_decision_weights

    return [float(REPORT_SCALE * w) for w in draw_decision_weights(rng)]


def english_scenarios(num_scenarios: int, seed: int) -> list[Scenario]:
    """``num_scenarios`` distinct scenarios in plain English for real models, "choosing <context> in <city>".

    The contexts, their seven attributes each (name, unit, range) and the cities are in
    ``realworld/data/decision_contexts.json``; a scenario draws five of its context's attributes in a seeded order.
    """
    from ...realworld import decision_contexts

    data = decision_contexts()
    rng = random.Random(f"english-scenarios:{seed}")
    pairs = _sampled_pairs(data["contexts"], data["cities"], num_scenarios, "the built-in English scenarios", rng)
    scenarios = []
    for scenario_id, (context, city) in enumerate(pairs):
        attributes = tuple(
            Attribute(name, unit, float(low), float(high))
            for name, unit, low, high in rng.sample(context["attributes"], NUM_ATTRIBUTES)
        )
        scenarios.append(Scenario(scenario_id, f"choosing {context['context']} in {city}", attributes))
    return scenarios
