from __future__ import annotations

from dataclasses import dataclass, field

from ...utils.checks import check_positive
from ..config import BuildConfig


@dataclass
class AblationConfig(BuildConfig):
    """Options of ``self-explain build ablation``, after those of [`~self_explain.tasks.config.BuildConfig`].

    Args:
        num_examples (`int`, *optional*, defaults to 2000): Hint questions to build (toy world or built-in facts).
        examples (`str`, *optional*): JSONL of examples: text, and the span to remove as 'span' (a substring) or found
            by ``span_regex``; optional choices, correct_answer, split.
        span_regex (`str`, *optional*): Regex whose every match in an example's text is a span to remove.
        span_name (`str`, *optional*, defaults to `"hint"`): The question's name of the span ('If the hint ...').
        answer_prefix (`str`, *optional*): Text the answer continues (toy targets: 'Answer:'; else none).
        max_new_tokens (`int`, *optional*, defaults to 16): Longest greedy answer, in tokens.
        test_fraction (`float`, *optional*, defaults to 0.1): Share of a user's file's examples drawn into test
            (toy-world builds hold out a seeded quarter of the entities instead).
        ood_relations (`list[str]`, *optional*, defaults to `["number"]`): Toy-world relations put in the ood split.
        shard_size (`int`, *optional*, defaults to 200): Examples per shard (resumption unit).
        batch_size (`int`, *optional*, defaults to 32): Examples answered in one batched generation.
        choice_by (`str`, *optional*, defaults to `"answer"`): How an answer's option is read: ``answer`` parses the
            greedy answer (none named: unparsed); ``logprob`` / ``logprob_text``: the option whose letter / text the
            target scores highest, which gives every question with options a choice.
        keep_unparsed (`bool`, *optional*, defaults to `False`): Keep rows whose answer named no option (their
            ``is_different`` compares first tokens); by default they are left out and counted in the provenance.

    Raises:
        ValueError: For an out-of-range number, a ``span_regex`` that does not compile, or an unknown ``choice_by``.
    """

    num_examples: int = field(
        default=2000, metadata={"help": "Hint questions to build (toy world targets, or a model's built-in facts)."}
    )
    examples: str | None = field(
        default=None,
        metadata={
            "help": "JSONL of examples: text, and the span to remove as 'span' (a substring) or found by "
            "--span-regex; "
            "optional choices, correct_answer, split."
        },
    )
    span_regex: str | None = field(
        default=None, metadata={"help": "Regex whose every match in an example's text is a span to remove."}
    )
    span_name: str = field(
        default="hint",
        metadata={"help": "What the explainer question calls the span: 'If the {span_name} were removed ...'."},
    )
    answer_prefix: str | None = field(
        default=None,
        metadata={
            "help": "Text after the assistant marker that the answer continues (toy targets: 'Answer:'; else none)."
        },
    )
    max_new_tokens: int = field(default=16, metadata={"help": "Longest greedy answer, in tokens."})
    test_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Share of in-distribution examples of a user's file drawn into the test split "
            "(toy-world builds hold out a quarter of the entities instead)."
        },
    )
    ood_relations: list[str] = field(
        default_factory=lambda: ["number"],
        metadata={"help": "Toy-world relations held out of train/test into the ood split."},
    )
    shard_size: int = field(default=200, metadata={"help": "Examples per shard (resumption unit)."})
    batch_size: int = field(default=32, metadata={"help": "Examples answered in one batched generation."})
    choice_by: str = field(
        default="answer",
        metadata={
            "help": "How the chosen option is read: answer (parse the greedy answer; one naming no option is "
            "unparsed), logprob (the option whose letter the target scores highest after the prompt, "
            "as evaluation harnesses do) or logprob_text (the option whose text it scores highest)."
        },
    )
    keep_unparsed: bool = field(
        default=False,
        metadata={
            "help": "Keep rows whose answer named none of the question's options (compared by first token, "
            "marked unparsed); by default they are left out and counted in the provenance and card."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.num_examples < 1:
            raise ValueError(f"--num-examples must be at least 1, got {self.num_examples}")
        if self.max_new_tokens < 1:
            raise ValueError(f"--max-new-tokens must be at least 1, got {self.max_new_tokens}")
        check_positive("--shard-size", self.shard_size)
        check_positive("--batch-size", self.batch_size)
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"--test-fraction must be in [0, 1), got {self.test_fraction}")
        from .ground_truth import CHOICE_BY

        if self.choice_by not in CHOICE_BY:
            raise ValueError(f"--choice_by must be one of {', '.join(CHOICE_BY)}, got {self.choice_by!r}")
        if self.span_regex is not None:
            import re

            try:
                pattern = re.compile(self.span_regex)
            except re.error as error:
                raise ValueError(f"--span-regex {self.span_regex!r} is not a regular expression: {error}") from error
            if pattern.fullmatch(""):
                raise ValueError(
                    f"--span-regex {self.span_regex!r} matches the empty text, which removes nothing; "
                    "give a pattern that matches the span itself, e.g. 'Hint:[^.]*\\. '"
                )
        if not self.span_name.strip():
            raise ValueError("--span-name is empty; give what the question calls the span, e.g. --span-name hint")
