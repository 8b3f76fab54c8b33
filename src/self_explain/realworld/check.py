"""Check candidate facts on a real model and write the ones it gets right: ``python -m self_explain.realworld.check``.

A candidate is kept when the model's greedy next word (read past word pieces) is the answer's first word,
case-insensitive.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

import torch

from ..utils.files import write_atomically
from ..utils.progress import progress_bar
from .facts import DATA, fact_table_path

logger = logging.getLogger(__name__)
RULE = "greedy next word (read past word pieces) equals the answer's first word, case-insensitive"


def check_facts(loaded, candidates: dict) -> dict:
    """Table document (``model``, ``check``, ``ood_relations``, ``facts``) of the candidates the model completes."""
    from ..core.words import WordReader  # the word rule of the patching rows

    model, tokenizer = loaded.model, loaded.tokenizer
    reader = WordReader(model, tokenizer)
    facts, tried, kept = [], {}, {}
    items = [
        (relation, spec["template"], subject, answer)
        for relation, spec in candidates["relations"].items()
        for subject, answer in spec["answers"].items()
    ]
    with torch.no_grad():
        for relation, template, subject, answer in progress_bar(items, desc="checking facts", unit="fact"):
            prompt = template.format(subject=subject)
            ids = tokenizer(prompt).input_ids
            top = int(model(input_ids=torch.as_tensor([ids], device=model.device)).logits[0, -1].argmax())
            word = reader.word(ids, top)
            tried[relation] = tried.get(relation, 0) + 1
            if word and word.lower() == answer.split()[0].lower():
                kept[relation] = kept.get(relation, 0) + 1
                facts.append(
                    {
                        "relation": relation,
                        "subject": subject,
                        "prompt": prompt,
                        "answer": answer,
                        "answer_word": word,
                        "answer_token": tokenizer.decode([top]),
                    }
                )
    check = {
        "revision": loaded.revision,
        "rule": RULE,
        "candidates": len(items),
        "kept": len(facts),
        "by_relation": {relation: {"tried": tried[relation], "kept": kept.get(relation, 0)} for relation in tried},
        "command": shlex.join(["python", "-m", "self_explain.realworld.check", *sys.argv[1:]]),
    }
    return {"model": loaded.name, "check": check, "ood_relations": candidates["ood_relations"], "facts": facts}


def main(argv: list[str] | None = None) -> Path:
    """Check ``data/candidates.json`` on a model and write ``data/<model>/facts.json``; returns its path."""
    parser = argparse.ArgumentParser(prog="python -m self_explain.realworld.check", description=__doc__)
    parser.add_argument("model", nargs="?", default="smollm2-135m", help="A packaged model's short name.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..core.models import load_model

    torch.manual_seed(0)
    candidates = json.loads((DATA / "candidates.json").read_text(encoding="utf-8"))
    document = check_facts(load_model(args.model), candidates)
    path = fact_table_path(args.model)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    write_atomically(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
    logger.info("kept %d of %d candidate facts: %s", document["check"]["kept"], document["check"]["candidates"], path)
    return path


if __name__ == "__main__":
    main()
