"""The weights a model really uses: its choices between sampled options, and a logistic regression on them.

For each pair of options the model reads the ``[DECISION TASK]`` prompt in its chat template; its
probability of answering "A" rather than "B" (the two answer tokens' logits, renormalised) is its choice.
A logistic regression of those choices on the normalised attribute differences, with an intercept for a
position bias, gives one coefficient per attribute; rescaled to max |w| = 100, they are the ground truth.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import numpy as np
import torch

from ...core.generation import logits_at_answer, prompt_ids
from ...core.models import LoadedModel, context_length
from ...utils.progress import progress_bar
from ...utils.stats import chi_square_survival, fit_logistic
from ..build import seeded_rng
from .prompts import OPTION_LETTERS, decision_prompt
from .scenarios import Scenario, rescale, rescale_factor

logger = logging.getLogger(__name__)

CHOICE_LABELS = ("probability", "sampled")
SIGNIFICANCE_LEVEL = 0.05  # a fit whose Wald p-value is not below this is flagged as not significant
# Which stream of a scenario's seeded generator draws what: instilling pairs, measured pairs, replayed pairs (the
# builder's own streams are 0, 3 and 4).
INSTILLING_STREAM, MEASUREMENT_STREAM, REPLAY_STREAM = 1, 2, 5


@dataclass(frozen=True)
class Choice:
    """One measured decision: a pair of options and the model's probability of choosing A."""

    scenario_id: int
    option_a: list[float]
    option_b: list[float]
    prompt: str
    probability_a: float  # the model's probability of "A" against "B"


@dataclass(frozen=True)
class MeasuredWeights:
    """The weights a model uses in one scenario, fitted to its choices.

    Args:
        scenario_id (`int`): The scenario.
        weights (`list[float]`): The coefficients rescaled to max |w| = 100.
        coefficients (`list[float]`): Per unit of normalised attribute difference, in logits.
        intercept (`float`): The model's bias towards "A".
        fit_agreement (`float`): Share of pairs where the fitted model prefers the option the model preferred.
        choices (`list[Choice]`): The measured choices the fit is on.
        weight_standard_errors (`list[float]`): Each weight's standard error, on the weights' scale (the
            coefficients' standard errors times the same factor as the weights; see `logistic_uncertainty`).
        fit_p_value (`float`): Wald test that every coefficient is 0: small when the choices follow the attributes.
    """

    scenario_id: int
    weights: list[float]  # the coefficients rescaled to max |w| = 100
    coefficients: list[float]  # per unit of normalised attribute difference, in logits
    intercept: float  # the model's bias towards "A"
    fit_agreement: float  # share of pairs where the fitted model prefers the option the model preferred
    choices: list[Choice]
    weight_standard_errors: list[float]
    fit_p_value: float

    @property
    def significant(self) -> bool:
        """Whether the fit is significant at the 5 % level (`SIGNIFICANCE_LEVEL`)."""
        return self.fit_p_value < SIGNIFICANCE_LEVEL


def answer_token_id(tokenizer, letter: str) -> int:
    """The first token the model writes to answer ``letter`` right after the prompt, as the chat template renders it.

    Without a chat template (or one that does not extend the prompt), the first token of ``" " + letter``.
    """
    if tokenizer.chat_template:
        prompt = prompt_ids(tokenizer, "x")
        full = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": letter}],
            tokenize=True,
            return_dict=True,
        )["input_ids"]
        full = list(full)
        if full[: len(prompt)] == prompt and len(full) > len(prompt):
            return full[len(prompt)]
    return tokenizer(" " + letter, add_special_tokens=False).input_ids[0]


def choice_token_ids(tokenizer) -> tuple[int, int]:
    """The first tokens of the answers "A" and "B" (see `answer_token_id`)."""
    ids = tuple(answer_token_id(tokenizer, letter) for letter in OPTION_LETTERS)
    if ids[0] == ids[1]:
        raise ValueError(f"the tokenizer writes the answers A and B with the same first token {ids[0]}")
    return ids  # type: ignore[return-value]


@torch.no_grad()
def probabilities_of_a(
    loaded: LoadedModel, prompts: list[str], batch_size: int = 32, progress: bool = False, reasoning_tokens: int = 0
) -> list[float]:
    """P("A") / (P("A") + P("B")) where the model answers each decision prompt, in left-padded batches.

    With ``reasoning_tokens=0`` the answer is read right after the prompt (one pass, last position only), as
    Plunkett et al. do. Otherwise the model first writes greedily, up to ``reasoning_tokens`` tokens, until its
    likeliest next token is "A" or "B" (the toy models write a worked sum first), and the answer is read there.
    """
    tokenizer, model = loaded.tokenizer, loaded.model
    id_a, id_b = choice_token_ids(tokenizer)
    encoded = [prompt_ids(tokenizer, p) for p in prompts]
    context = context_length(model)
    too_long = [i for i, ids in enumerate(encoded) if context is not None and len(ids) + reasoning_tokens > context]
    if too_long:
        raise ValueError(
            f"decision prompt {too_long[0]} has {len(encoded[too_long[0]])} tokens, which with "
            f"{reasoning_tokens} tokens of reasoning is more than the model's context of {context}"
        )
    result: list[float] = []
    batches = range(0, len(encoded), batch_size)
    for start in progress_bar(batches, desc="decisions", disable=not progress):
        logits, _ = logits_at_answer(
            model, tokenizer, encoded[start : start + batch_size], [id_a, id_b], reasoning_tokens
        )
        result += logits[:, [id_a, id_b]].float().softmax(-1)[:, 0].tolist()
    return result


def logistic_uncertainty(
    differences: np.ndarray, coefficients: np.ndarray, intercept: float, l2: float = 0.1
) -> tuple[np.ndarray, float]:
    """Standard errors of a `fit_logistic` fit's coefficients (in logits), and the Wald test's p-value that all are 0.

    The covariance is the inverse Hessian of the penalised log-likelihood at the fit, as if each of the ``n`` choices
    were one draw at temperature 1: exact probabilities of "A" carry no sampling noise, so the errors say how well
    ``n`` sampled choices would pin the weights down.
    """
    n, k = differences.shape
    design = np.hstack([np.ones((n, 1)), differences])
    fitted = 1 / (1 + np.exp(-np.clip(intercept + differences @ coefficients, -30, 30)))
    hessian = design.T @ (design * (fitted * (1 - fitted))[:, None]) + np.diag([0.0] + [l2] * k) + 1e-9 * np.eye(k + 1)
    covariance = np.linalg.inv(hessian)[1:, 1:]
    standard_errors = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    statistic = float(coefficients @ np.linalg.solve(covariance, coefficients))
    return standard_errors, chi_square_survival(statistic, k)


def measured_pairs(scenario: Scenario, num_choices: int, seed: int) -> list[tuple[list[float], list[float]]]:
    """The pairs of options a scenario's weights are measured on (the scenario's measurement stream, seeded)."""
    rng = seeded_rng(seed, scenario.scenario_id, MEASUREMENT_STREAM)
    return [scenario.sample_pair(rng) for _ in range(num_choices)]


def measure_weights(
    loaded: LoadedModel,
    scenarios: list[Scenario],
    num_choices: int = 100,
    seed: int = 0,
    labels: str = "probability",
    batch_size: int = 32,
    progress: bool = True,
    reasoning_tokens: int = 0,
) -> list[MeasuredWeights]:
    """The weights ``loaded`` uses in each scenario, from ``num_choices`` fresh pairs of options.

    ``labels="probability"`` regresses on the model's probability of "A" (the expected choice);
    ``"sampled"`` on one choice drawn from it per pair (seeded), as when sampling at temperature 1.

    Args:
        loaded (`LoadedModel`): The model whose choices are measured.
        scenarios (`list[Scenario]`): The scenarios.
        num_choices (`int`, *optional*, defaults to 100): Pairs of options per scenario (at least 2).
        seed (`int`, *optional*, defaults to 0): Seed of the pairs (and of the sampled choices).
        labels (`str`, *optional*, defaults to `"probability"`): What the fit regresses on: one of ``CHOICE_LABELS``.
        batch_size (`int`, *optional*, defaults to 32): Decision prompts per forward pass.
        progress (`bool`, *optional*, defaults to `True`): Show a progress bar.
        reasoning_tokens (`int`, *optional*, defaults to 0): The most tokens the model writes before it answers
            (see `probabilities_of_a`).

    Returns:
        `list[MeasuredWeights]`: One per scenario, in order.

    Raises:
        ValueError: When ``labels`` is unknown, ``num_choices`` is below 2, or a prompt does not fit the model.
    """
    if labels not in CHOICE_LABELS:
        raise ValueError(f"choice labels must be one of {CHOICE_LABELS}, got {labels!r}")
    if num_choices < 2:
        raise ValueError(f"measuring weights needs at least 2 choices per scenario, got {num_choices}")
    pairs = {s.scenario_id: measured_pairs(s, num_choices, seed) for s in scenarios}
    prompts = [decision_prompt(s, a, b) for s in scenarios for a, b in pairs[s.scenario_id]]
    probabilities = probabilities_of_a(
        loaded, prompts, batch_size, progress=progress, reasoning_tokens=reasoning_tokens
    )
    results = []
    for index, scenario in enumerate(scenarios):
        chunk = slice(index * num_choices, (index + 1) * num_choices)
        p = np.asarray(probabilities[chunk])
        if labels == "sampled":
            rng = random.Random(f"{seed}:{scenario.scenario_id}:sampled")
            targets = np.asarray([1.0 if rng.random() < value else 0.0 for value in p])
        else:
            targets = p
        differences = np.asarray([scenario.differences(a, b) for a, b in pairs[scenario.scenario_id]])
        coefficients, intercept = fit_logistic(differences, targets)
        standard_errors, p_value = logistic_uncertainty(differences, coefficients, intercept)
        scale = rescale_factor(coefficients.tolist())
        fitted = intercept + differences @ coefficients
        choices = [
            Choice(scenario.scenario_id, a, b, prompt, round(float(q), 6))
            for (a, b), prompt, q in zip(pairs[scenario.scenario_id], prompts[chunk], p)
        ]
        results.append(
            MeasuredWeights(
                scenario_id=scenario.scenario_id,
                weights=[round(w, 4) for w in rescale(coefficients.tolist())],
                coefficients=[round(float(c), 6) for c in coefficients],
                intercept=round(intercept, 6),
                fit_agreement=round(float(np.mean((fitted > 0) == (p > 0.5))), 4),
                choices=choices,
                weight_standard_errors=[round(float(e) * scale, 4) for e in standard_errors],
                fit_p_value=float(p_value),
            )
        )
    return results
