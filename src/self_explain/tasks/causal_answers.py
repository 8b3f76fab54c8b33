"""What all explainer prompts share: the vector placeholder, and the causal answer sentences and their parser."""

import re
from dataclasses import dataclass

UNCHANGED_ANSWER = "The output would remain unchanged from <<<{original}>>>."
CHANGED_ANSWER = "The most likely output would change to <<<{changed}>>>."

# The causal_match metric's keys: display name and meaning, for explainer cards.
CAUSAL_METRIC_LABELS = {
    "exact_match": (
        "Exact Match",
        "the explanation equals the reference (lowercased, whitespace collapsed, end periods stripped)",
    ),
    "content_match": ("Content Match", "the text inside `<<<>>>` equals the reference's (lowercased), any verdict"),
    "has_changed_f1": (
        "Has-Changed F1",
        "F1 of the *changed* class over the valid explanations (— when none is valid)",
    ),
    "has_changed_macro_f1": (
        "Has-Changed macro-F1",
        "macro-F1 of changed / unchanged, an invalid explanation counting as the wrong class",
    ),
    "valid_rate": ("Valid rate", "the share of explanations in an expected form"),
}

CONTENT_OPEN, CONTENT_CLOSE = "<<<", ">>>"

# Appended to the question by the zero-shot baseline: the answer format, stated explicitly.
CAUSAL_FORMAT_INSTRUCTIONS = (
    "Answer with exactly one sentence, in one of these two forms: "
    f'"{UNCHANGED_ANSWER.format(original="OUTPUT")}" if the output stays the same, or '
    f'"{CHANGED_ANSWER.format(changed="OUTPUT")}" if it changes, where OUTPUT is the output itself.'
)

# The two answer sentences as the reference evaluator (introspective-interp, causal_exact_match_eval.py) reads them,
# searched in this order: "remain unchanged from <<<a>>>" first, then "change to <<<b>>>". Case-insensitive and
# whitespace-flexible; the content runs (across lines too) up to the first ">>>". The reference's patterns begin
# with a greedy ".*" (``.*remain\s+unchanged\s+from\s+<<<(.*?)>>>``): the match starts on the first line where the
# phrase starts with a ">>>" somewhere after it, and on that line the last such occurrence counts. That pattern
# backtracks over each line from every start position (quadratic: a 40k-character line took 14 s), so
# `_reference_match` finds the same occurrence in one pass over the phrase's occurrences.
_STRICT_ANSWERS = (
    (False, re.compile(r"remain\s+unchanged\s+from\s+<<<", re.IGNORECASE)),
    (True, re.compile(r"change\s+to\s+<<<", re.IGNORECASE)),
)


def _reference_match(phrase: re.Pattern, text: str) -> str | None:
    """What the reference's ``.*<phrase>((?s:.*?))>>>`` search captures in ``text`` (or None), in linear time."""
    last_close = text.rfind(CONTENT_CLOSE)
    chosen, line_end = None, -1
    for occurrence in phrase.finditer(text):  # occurrences of a phrase ending in "<<<" never overlap
        if occurrence.end() > last_close:  # no ">>>" after it (nor after any later one)
            break
        if chosen is not None and occurrence.start() >= line_end:  # a later line: the first line's last one won
            break
        if chosen is None:
            newline = text.find("\n", occurrence.start())
            line_end = len(text) if newline == -1 else newline
        chosen = occurrence
    if chosen is None:
        return None
    return text[chosen.end() : text.find(CONTENT_CLOSE, chosen.end())]


# The partial reading of text that is not one of the two sentences: "unchanged" also covers "remain unchanged";
# the earliest verb phrase in the text decides.
_VERB_PHRASE = re.compile(
    r"(?P<unchanged>\bunchanged\b)|(?P<changed>\bchange\s+to\b|\bwould\s+change\b)", re.IGNORECASE
)


def causal_answer(changed: bool, original: str, new: str) -> str:
    """The paper's answer sentence: ``CHANGED_ANSWER`` with ``new`` if ``changed``, else ``UNCHANGED_ANSWER``."""
    return CHANGED_ANSWER.format(changed=new) if changed else UNCHANGED_ANSWER.format(original=original)


@dataclass(frozen=True)
class CausalAnswer:
    """A parsed answer sentence; ``changed`` / ``content`` are None without a verb phrase / ``<<<...>>>``."""

    valid: bool
    changed: bool | None
    content: str | None


def parse_causal_answer(text: str) -> CausalAnswer:
    """Parse one of the two answer sentences as the paper's evaluator does.

    Valid when the text contains "remain unchanged from <<<a>>>" (``changed=False``) or, failing that, "change to
    <<<b>>>" (``changed=True``): case-insensitive, any whitespace between the words, text around them allowed;
    ``content`` is the stripped text up to the first ``>>>``, in its original case. Otherwise invalid, but what it says
    is still reported: "unchanged" gives ``changed=False``, "change to" / "would change" ``changed=True`` (the
    earliest phrase wins), and ``content`` is the text between the first ``<<<`` and the next ``>>>``.

    >>> parse_causal_answer("The most likely output would change to <<< Rome >>>.")
    CausalAnswer(valid=True, changed=True, content='Rome')
    >>> parse_causal_answer("the output would REMAIN   unchanged from <<<Paris>>>. Because...")
    CausalAnswer(valid=True, changed=False, content='Paris')
    >>> parse_causal_answer("It would change to Rome.")
    CausalAnswer(valid=False, changed=True, content=None)
    >>> parse_causal_answer("It is unchanged: <<<Paris>>>")
    CausalAnswer(valid=False, changed=False, content='Paris')

    As the reference's greedy pattern: on the first line that has the phrase, its last occurrence counts. Parsing
    takes linear time.

    >>> parse_causal_answer("change to <<<a>>>, no: change to <<<b>>>\\nchange to <<<c>>>")
    CausalAnswer(valid=True, changed=True, content='b')
    """
    for changed, phrase in _STRICT_ANSWERS:
        content = _reference_match(phrase, text)
        if content is not None:
            # Empty content stays valid: a reference whose top token is whitespace strips to "".
            return CausalAnswer(valid=True, changed=changed, content=content.strip())
    verb = _VERB_PHRASE.search(text)
    content = None
    start = text.find(CONTENT_OPEN)
    if start != -1:
        end = text.find(CONTENT_CLOSE, start + len(CONTENT_OPEN))
        if end != -1:
            content = text[start + len(CONTENT_OPEN) : end].strip()
    return CausalAnswer(valid=False, changed=None if verb is None else verb.lastgroup == "changed", content=content)
