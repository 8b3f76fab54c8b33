"""An English corpus for the real models' SAEs: ``python -m self_explain.realworld.corpus`` writes
``data/corpus/english.jsonl``, prose sentences of the Python standard library's docstrings (PSF License 2.0) and the
real models' checked facts, each line recording its source.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import pkgutil
import re
import sys
import warnings
from pathlib import Path

from ..utils.files import write_atomically
from .facts import DATA, fact_table_for

logger = logging.getLogger(__name__)
CORPUS_PATH = DATA / "corpus" / "english.jsonl"
SKIPPED_MODULES = {
    "antigravity",
    "this",
    "idlelib",
    "tkinter",
    "turtle",
    "turtledemo",
    "test",
    "lib2to3",
    "ensurepip",
    "venv",
    "pydoc_data",
    "xxlimited",
}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def builtin_corpus_path(target: str) -> Path | None:
    """``data/corpus/english.jsonl`` for a packaged real model (``smollm2-135m``), else None.

    Args:
        target (`str`): The target model.
    """
    from ..core.packaged_models import is_packaged_model

    return CORPUS_PATH if is_packaged_model(target) else None


# How datasets and SAEs record that they read the shipped corpus (not this machine's install path).
BUILTIN_CORPUS_NAME = "self_explain.realworld:corpus/english.jsonl"


def is_prose(sentence: str) -> bool:
    """Whether a sentence reads as prose: 6–40 words, capitalised, a final period, > 70 % alphabetic words, no code.

    Examples:
    >>> is_prose("Return the number of items in the container, or zero when it is empty.")
    True
    >>> is_prose("x = {k: v for k, v in items}.")
    False
    """
    words = sentence.split()
    return (
        6 <= len(words) <= 40
        and sentence[:1].isupper()
        and sentence.endswith(".")
        and not any(character in sentence for character in "{}>|=_\\")
        and sum(word.isalpha() for word in words) / len(words) > 0.7
    )


def stdlib_sentences() -> list[tuple[str, str]]:
    """(module, sentence) for each distinct prose sentence of the standard library's public docstrings."""
    found, seen = [], set()
    modules = sorted(
        module.name
        for module in pkgutil.iter_modules()
        if str(getattr(module.module_finder, "path", "")).startswith(sys.base_prefix)
        and not module.name.startswith("_")
        and module.name not in SKIPPED_MODULES
    )
    for name in modules:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(name)
        except Exception:  # a module this build of Python cannot import (a missing C library): not needed
            continue
        members = [
            value
            for key, value in sorted(vars(module).items())
            if not key.startswith("_")
            and (inspect.isfunction(value) or inspect.isclass(value))
            and getattr(value, "__module__", None) == name
        ]
        for member in [module, *members]:
            for paragraph in re.split(r"\n\s*\n", inspect.getdoc(member) or ""):
                for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
                    if is_prose(sentence) and sentence not in seen:
                        seen.add(sentence)
                        found.append((name, sentence))
    return found


def fact_sentences(model: str) -> list[str]:
    """The checked facts of a model as sentences: the prompt, its answer and a period."""
    return [f"{fact.prompt} {fact.answer}." for fact in fact_table_for(model).facts]


def main(argv: list[str] | None = None) -> Path:
    """Write the corpus and return its path (``data/corpus/README.md`` is hand-written)."""
    argparse.ArgumentParser(prog="python -m self_explain.realworld.corpus", description=__doc__).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    python = f"CPython {sys.version.split()[0]}"
    records = [
        {"text": sentence, "source": f"{python} stdlib docstring: {module}", "licence": "PSF-2.0"}
        for module, sentence in stdlib_sentences()
    ]
    records += [
        {"text": sentence, "source": "self-explain checked facts (smollm2-135m)", "licence": "Apache-2.0"}
        for sentence in fact_sentences("smollm2-135m")
    ]
    CORPUS_PATH.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    write_atomically(CORPUS_PATH, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
    logger.info("wrote %d texts to %s", len(records), CORPUS_PATH)
    return CORPUS_PATH


if __name__ == "__main__":
    main()
