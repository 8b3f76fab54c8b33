"""What all explainer prompts share: the vector placeholder, and the causal answer sentences and their parser."""

import re
from dataclasses import dataclass

UNCHANGED_ANSWER = "The output would remain unchanged from <<<{original}>>>."
CHANGED_ANSWER = "The most likely output would change to <<<{changed}>>>."

# The causal_match metric's keys: display name and meaning, for explainer cards.
CAUSAL_METRIC_LABELS = {
    "exact_match": ("Exact Match", "the explanation equals the reference"),
    "content_match": ("Content Match", "the text inside `<<<>>>` equals the reference's"),
    "has_changed_f1": ("Has-Changed macro-F1", "macro-F1 of whether the explanation says the output changes"),
    "valid_rate": ("Valid rate", "the share of explanations in an expected form"),
}

CONTENT_OPEN, CONTENT_CLOSE = "<<<", ">>>"

# Appended to the question by the zero-shot baseline: the answer format, stated explicitly.
CAUSAL_FORMAT_INSTRUCTIONS = (
    "Answer with exactly one sentence, in one of these two forms: "
    f'"{UNCHANGED_ANSWER.format(original="OUTPUT")}" if the output stays the same, or '
    f'"{CHANGED_ANSWER.format(changed="OUTPUT")}" if it changes, where OUTPUT is the output itself.'
)

# "unchanged" also covers "remain unchanged"; the earliest verb phrase in the text decides.
_VERB_PHRASE = re.compile(r"(?P<unchanged>\bunchanged\b)|(?P<changed>\bchange\s+to\b|\bwould\s+change\b)", re.IGNORECASE)


def causal_answer(changed: bool, original: str, new: str) -> str:
    """The paper's answer sentence for patching and ablation.

    Args:
        changed (`bool`): Whether the intervention changes the output.
        original (`str`): The output without the intervention (named when unchanged).
        new (`str`): The output with the intervention (named when changed).

    Returns:
        `str`: ``CHANGED_ANSWER`` filled with ``new`` if ``changed``, else ``UNCHANGED_ANSWER`` with ``original``.
    """
    return CHANGED_ANSWER.format(changed=new) if changed else UNCHANGED_ANSWER.format(original=original)


@dataclass(frozen=True)
class CausalAnswer:
    """A parsed answer sentence: `valid` only when both the verb phrase and the `<<<content>>>` were found.

    Args:
        valid (`bool`): Whether both the verb phrase and the ``<<<content>>>`` were found.
        changed (`bool`, *optional*): Whether the answer says the output changes; None without a verb phrase.
        content (`str`, *optional*): The stripped text between ``<<<`` and ``>>>``; None when there is none.
    """

    valid: bool
    changed: bool | None
    content: str | None


def parse_causal_answer(text: str) -> CausalAnswer:
    """Parse one of the two answer sentences leniently (case, whitespace, text around them).

    "unchanged" / "remain unchanged" gives `changed=False`, "change to" / "would change" gives
    `changed=True`; `content` is the stripped text between the first `<<<` and the next `>>>`.
    Each part is reported even when the other is missing, but then `valid` is False.

    >>> parse_causal_answer("The most likely output would change to <<< Rome >>>.")
    CausalAnswer(valid=True, changed=True, content='Rome')
    >>> parse_causal_answer("the output would REMAIN unchanged from <<<Paris>>>. Because...")
    CausalAnswer(valid=True, changed=False, content='Paris')
    >>> parse_causal_answer("It would change to Rome.")
    CausalAnswer(valid=False, changed=True, content=None)

    Args:
        text (`str`): The explanation to parse.

    Returns:
        `CausalAnswer`: Whether it is valid, whether it says the output changes, and the content.
    """
    verb = _VERB_PHRASE.search(text)
    changed = None if verb is None else verb.lastgroup == "changed"
    content = None
    start = text.find(CONTENT_OPEN)
    if start != -1:
        end = text.find(CONTENT_CLOSE, start + len(CONTENT_OPEN))
        if end != -1:
            content = text[start + len(CONTENT_OPEN) : end].strip()
    # Empty content stays valid: a reference whose top token is whitespace strips to "".
    return CausalAnswer(valid=changed is not None and content is not None, changed=changed, content=content)
