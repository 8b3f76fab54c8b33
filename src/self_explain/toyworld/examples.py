"""Training and evaluation examples of the toy world as (prompt, completion) text pairs."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .world import ANSWER_PREFIX, RELATIONS, ChoiceQuestion, ToyWorld


@dataclass(frozen=True)
class Example:
    """A (prompt, completion) training or evaluation example.

    Args:
        prompt (`str`): The prompt; for chat examples the rendered chat prompt, ending with the assistant marker.
        completion (`str`): The tokens the loss is taken on.
    """

    prompt: str  # for chat examples: the rendered chat prompt, ending with the assistant marker
    completion: str  # the tokens the loss is taken on


def chat_prompt(tokenizer, content: str) -> str:
    """Render a one-message user turn with the tokenizer's chat template, ready for the assistant's answer.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): A tokenizer with a chat template.
        content (`str`): The user message.

    Returns:
        `str`: The rendered prompt, ending with the generation prompt.
    """
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )


def choice_example(tokenizer, question: ChoiceQuestion) -> Example:
    """A chat example of a multiple-choice question, answered with its expected answer.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): A tokenizer with a chat template.
        question (`ChoiceQuestion`): The question.

    Returns:
        [`Example`]: The chat prompt followed by ``"Answer:"``, and the expected answer with ``<|end|>``.
    """
    return Example(chat_prompt(tokenizer, question.content) + f" {ANSWER_PREFIX}", f"{question.expected_answer} <|end|>")


# Mixture of example kinds. Hint questions carry a visible cue (who gives the hint) that decides
# whether the answer follows the hint, so the share followed depends on the example, not on chance.
EXAMPLE_MIXTURE = {"fact": 0.4, "choice": 0.25, "hint": 0.35}


def sample_kind(rng: random.Random) -> str:
    """Draw an example kind with the weights of ``EXAMPLE_MIXTURE``.

    Args:
        rng (`random.Random`): The random generator.

    Returns:
        `str`: ``"fact"``, ``"choice"`` or ``"hint"``.
    """
    return rng.choices(list(EXAMPLE_MIXTURE), weights=list(EXAMPLE_MIXTURE.values()))[0]


def sample_example(world: ToyWorld, tokenizer, rng: random.Random, kind: str | None = None) -> Example:
    """Draw one example of the world: a fact prompt, a plain choice question or a hinted one.

    Args:
        world (`ToyWorld`): The world.
        tokenizer (`PreTrainedTokenizerBase`): The toy tokenizer (its BOS token and chat template are used).
        rng (`random.Random`): The random generator.
        kind (`str`, *optional*): ``"fact"``, ``"choice"`` or ``"hint"``; drawn with ``sample_kind`` when unset.

    Returns:
        [`Example`]: The example.
    """
    kind = kind or sample_kind(rng)
    if kind == "fact":
        relation = rng.choice(list(RELATIONS))
        fact = world.fact_prompt(rng.choice(world.entities), relation, rng.randrange(len(RELATIONS[relation].templates)))
        return Example(tokenizer.bos_token + " " + fact.text, fact.answer)
    if kind == "choice":
        question = world.choice_question(rng.choice(world.entities), rng.choice(list(RELATIONS)), rng)
        return choice_example(tokenizer, question)
    return choice_example(tokenizer, world.random_hint_question(rng))


def toy_corpus(world: ToyWorld, num_texts: int, seed: int = 0, tokenizer=None) -> list[str]:
    """Texts of the toy world (fact prompts, choice and hint questions, each prompt + completion), seeded.

    Args:
        world (`ToyWorld`): The world.
        num_texts (`int`): How many texts.
        seed (`int`, *optional*, defaults to 0): The seed of the draw.
        tokenizer (`PreTrainedTokenizerBase`, *optional*): The toy tokenizer; built for ``world`` when unset.

    Returns:
        `list[str]`: The texts, each prompt and completion joined by a space.
    """
    from .tokenizer import build_toy_tokenizer

    tokenizer = tokenizer or build_toy_tokenizer(world)
    rng = random.Random(seed)
    examples = (sample_example(world, tokenizer, rng) for _ in range(num_texts))
    return [f"{example.prompt} {example.completion}" for example in examples]

