"""Which option a free-text answer chose: what input ablation compares, so that a chatty model's rewording is not
counted as a change ("D. Paris is the only…" and "The answer is: D) Paris" both chose D)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

# An option letter: bare and closed ("D.", "(D)", "D)", "D" alone) or after "the answer is" / "answer:" ("The answer
# is: D) Paris"); upper case only, so that an answer opening with the article "A dog…" is not read as option A.
_LETTER = re.compile(
    r"^\s*(?:(?i:the\s+(?:correct\s+)?answer\s+is|answer|option)\s*:?\s*\(?([A-Z])\b"
    r"|\(?([A-Z])\s*(?:[).:\]]|$))"
)


# How an answer's choice was read: an option it names by text, its letter, the option the model scored highest
# (``--choice_by logprob``); for a text without options, its first token; ``unparsed``: it had options but named none.
CHOICE_VIAS = ("text", "letter", "logprob", "first token", "unparsed")
UNPARSED = "unparsed"


@dataclass(frozen=True)
class ChoiceParse:
    """What an answer chose: ``choice`` (an option's text, or the first token) and ``via``, how it was read.

    ``via``: ``text``, ``letter``, ``logprob``, ``first token`` (no options) or ``unparsed`` (options, none named).
    """

    choice: str
    via: str

    @property
    def parsed(self) -> bool:
        """Whether this is a choice: an option was read, or the text has no options (its first token is compared)."""
        return self.via != UNPARSED


def parse_choice(answer: str, choices: list[str] | tuple[str, ...], first_token: str) -> ChoiceParse:
    """The option an answer chose: the one option text it names; else its letter; else the earliest option text
    named; else its first token, ``unparsed`` when the question has options.

    The text comes before the letter because small models mislabel options ("B. Seoul" where B is Beijing): what they
    name is what they chose. A bare letter has no text to compare, and an answer naming several options is read by its
    letter.

    Examples:

    >>> options = ["Rome", "Berlin", "Madrid", "Paris"]
    >>> parse_choice("D. Paris is the only remaining capital", options, "D")
    ChoiceParse(choice='Paris', via='text')
    >>> parse_choice("The answer is: D", options, "The")
    ChoiceParse(choice='Paris', via='letter')
    >>> parse_choice("B. Seoul", ["Tokyo", "Beijing", "Seoul"], "B")
    ChoiceParse(choice='Seoul', via='text')
    >>> parse_choice("B. Berlin, not Rome", options, "B")
    ChoiceParse(choice='Berlin', via='letter')
    >>> parse_choice("No idea", options, "No")
    ChoiceParse(choice='No', via='unparsed')
    >>> parse_choice("A capital city", options, "A")  # an article, not option A
    ChoiceParse(choice='A', via='unparsed')
    >>> parse_choice("Rome", [], "Rome")  # no options: the first token is what is compared
    ChoiceParse(choice='Rome', via='first token')
    """
    named = []
    for choice in choices:
        match = re.search(rf"(?<!\w){re.escape(choice)}(?!\w)", answer, re.IGNORECASE) if choice else None
        if match:
            named.append((match.start(), -len(choice), choice))
    if len({choice for _, _, choice in named}) == 1:
        return ChoiceParse(named[0][2], "text")
    letter = _LETTER.match(answer)
    if letter and choices:
        index = string.ascii_uppercase.index(letter.group(1) or letter.group(2))
        if index < len(choices):
            return ChoiceParse(choices[index], "letter")
    if named:
        return ChoiceParse(min(named)[2], "text")
    return ChoiceParse(first_token.strip(), UNPARSED if choices else "first token")
