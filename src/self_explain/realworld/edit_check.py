"""Check an edited model and write its fact table: ``python -m self_explain.realworld.edit_check``.

The fact check run on the candidates with the edited answers, with two gates (point estimates ≥ 90 %, 95 % Wilson
intervals): **edited** (new answers completed) and **kept** (the base's other facts, split into replayed and never
seen). The question form is measured beside the gates, not gated.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..utils.files import write_atomically
from .editing import SHIPPED_ADAPTER, edit_card, edits_of, read_edit_record
from .edits import FactEdit, edited_candidates
from .facts import DATA, FactTable, fact_table_for, fact_table_path

logger = logging.getLogger(__name__)

GATE = 0.9  # each of the edited and the kept share must reach it
DEFAULT_RECORD = Path("results") / "smollm2-135m" / "edited-facts-check.json"


def wilson_interval(successes: int, total: int, z: float = 1.959964) -> tuple[float | None, float | None]:
    """The Wilson score interval of a binomial proportion (``z`` the normal quantile); ``(None, None)`` without trials.

    Examples:
    >>> [round(x, 4) for x in wilson_interval(9, 10)]
    [0.5958, 0.9821]
    """
    if total == 0:
        return None, None
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def share(successes: int, total: int) -> dict:
    """``correct``, ``total``, ``rate`` (None without trials) and 95 % Wilson ``interval``, rounded to 4 decimals."""
    low, high = wilson_interval(successes, total)
    return {
        "correct": successes,
        "total": total,
        "rate": round(successes / total, 4) if total else None,
        "interval": [None if low is None else round(low, 4), None if high is None else round(high, 4)],
    }


def gate(measured: dict, threshold: float = GATE) -> dict:
    """The share with ``threshold`` and ``passed`` (``rate >= threshold``; never with no trials)."""
    passed = measured["rate"] is not None and measured["rate"] >= threshold
    return {**measured, "threshold": threshold, "passed": passed}


def score_edit(base_table: FactTable, edits: list[FactEdit], replayed: set[tuple[str, str]], document: dict) -> dict:
    """The gates and their strata, from the base's table, the edits and the edited model's checked facts."""
    known = {(fact["relation"], fact["subject"]) for fact in document["facts"]}
    edited_keys = {(edit.relation, edit.subject) for edit in edits}
    kept_keys = [
        (fact.relation, fact.subject) for fact in base_table.facts if (fact.relation, fact.subject) not in edited_keys
    ]

    def count(keys) -> dict:
        keys = list(keys)
        return share(sum(key in known for key in keys), len(keys))

    relations = sorted({key[0] for key in edited_keys | set(kept_keys)})
    edited_gate, kept_gate = gate(count(edited_keys)), gate(count(kept_keys))
    base_keys = {(fact.relation, fact.subject) for fact in base_table.facts}
    return {
        "edited": edited_gate,
        "kept": kept_gate,
        "passed": edited_gate["passed"] and kept_gate["passed"],
        "kept_replayed": count(key for key in kept_keys if key in replayed),
        "kept_not_replayed": count(key for key in kept_keys if key not in replayed),
        "by_relation": {
            relation: {
                "edited": count(k for k in edited_keys if k[0] == relation),
                "kept": count(k for k in kept_keys if k[0] == relation),
            }
            for relation in relations
        },
        "gained": len(known - base_keys),
    }


def mark_edits(document: dict, edits: list[FactEdit], base_table: FactTable | None = None) -> dict:
    """The checked table copied, facts marked ``edited`` (with ``original_answer``) or ``gained`` (not in the base)."""
    original = {(edit.relation, edit.subject): edit.original_answer for edit in edits}
    known = None if base_table is None else {(fact.relation, fact.subject) for fact in base_table.facts}
    facts = []
    for fact in document["facts"]:
        key = (fact["relation"], fact["subject"])
        gained = known is not None and key not in original and key not in known
        facts.append({**fact, "edited": key in original, "original_answer": original.get(key, ""), "gained": gained})
    return {**document, "facts": facts}


@torch.no_grad()
def question_form_shares(
    loaded, table: FactTable, facts: list[tuple[str, str, str, str]], max_new_tokens: int = 24, batch_size: int = 16
) -> dict:
    """Shares of greedy chat answers to the facts' questions that name the ``expected`` and the ``other`` answer."""
    from ..core.generation import greedy_generate, prompt_ids

    tokenizer = loaded.tokenizer
    named_expected = named_other = 0
    for start in range(0, len(facts), batch_size):
        batch = facts[start : start + batch_size]
        prompts = [
            prompt_ids(tokenizer, table.questions[relation].format(subject=subject))
            for relation, subject, _, _ in batch
        ]
        answers = tokenizer.batch_decode(
            greedy_generate(loaded.model, tokenizer, prompts, max_new_tokens), skip_special_tokens=True
        )
        for (_, _, expected, other), answer in zip(batch, answers):
            named_expected += expected.lower() in answer.lower()
            named_other += bool(other) and other.lower() in answer.lower()
    return {"expected": share(named_expected, len(facts)), "other": share(named_other, len(facts))}


def main(argv: list[str] | None = None) -> dict:
    """Check an edited model against its edit record; write its fact table and return the check's record."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m self_explain.realworld.edit_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", nargs="?", default="smollm2-135m-edited", help="The edited model's short name.")
    parser.add_argument("--adapter", default=str(SHIPPED_ADAPTER), help="The edit adapter folder (its edits.json).")
    parser.add_argument("--record", default=str(DEFAULT_RECORD), help="Where the check's JSON record is written.")
    parser.add_argument("--no_table", action="store_true", help="Do not write data/<model>/facts.json.")
    parser.add_argument("--num_threads", type=int, help="CPU threads of torch (default: torch's own).")
    parser.add_argument("--machine_note", help="A note on the machine recorded with the times (e.g. its load).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..core.models import load_model
    from ..utils.files import file_sha256
    from .check import check_facts

    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    started, cpu_started = time.perf_counter(), time.process_time()
    torch.manual_seed(0)
    edit_record = read_edit_record(Path(args.adapter))
    edits = edits_of(edit_record)
    base_table = fact_table_for(edit_record["base"])
    replayed = {(fact["relation"], fact["subject"]) for fact in edit_record["replayed"]}
    load_started = time.perf_counter()
    loaded = load_model(args.model)
    load_seconds = time.perf_counter() - load_started
    candidates = json.loads((DATA / "candidates.json").read_text(encoding="utf-8"))
    document = mark_edits(check_facts(loaded, edited_candidates(candidates, edits)), edits, base_table)
    command = shlex.join(
        ["python", "-m", "self_explain.realworld.edit_check", *(sys.argv[1:] if argv is None else argv)]
    )
    document["check"]["command"] = command
    document["check"]["edits"] = {
        "base": edit_record["base"],
        "base_revision": edit_record["base_revision"],
        "count": len(edits),
        "seed": edit_record["config"]["seed"],
    }
    scores = score_edit(base_table, edits, replayed, document)
    edited_keys = {(edit.relation, edit.subject) for edit in edits}
    questions = {
        "edited": question_form_shares(
            loaded, base_table, [(e.relation, e.subject, e.new_answer, e.original_answer) for e in edits]
        ),
        "kept": question_form_shares(
            loaded,
            base_table,
            [
                (f.relation, f.subject, f.answer, "")
                for f in base_table.facts
                if (f.relation, f.subject) not in edited_keys
            ],
        ),
    }
    record = {
        "model": args.model,
        "revision": loaded.revision,
        "base": edit_record["base"],
        "base_revision": edit_record["base_revision"],
        "rule": document["check"]["rule"],
        "gates": {
            "edited": scores["edited"],
            "kept": scores["kept"],
            "passed": scores["passed"],
            "rule": f"passed when the rate (greedy, the fact table's prompt form) is at least {GATE}; 95 % "
            "Wilson intervals",
        },
        "kept_replayed": scores["kept_replayed"],
        "kept_not_replayed": scores["kept_not_replayed"],
        "by_relation": scores["by_relation"],
        "gained_facts": scores["gained"],
        "question_form": {
            **questions,
            "rule": "the greedy answer (at most 24 tokens) to the relation's question in the chat template names "
            "the expected answer (or, for an edited fact, the original one); measured, not gated",
        },
        "table": {
            "facts": len(document["facts"]),
            "edited_facts": sum(f["edited"] for f in document["facts"]),
            "gained_facts": sum(f["gained"] for f in document["facts"]),
        },
        "training": edit_record["training"],
        "edit_command": edit_record["command"],
        "adapter_sha256": {
            name: file_sha256(Path(args.adapter) / name)
            for name in ("adapter_config.json", "adapter_model.safetensors")
        },
        "command": command,
        "load_seconds": round(load_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "note": args.machine_note,
        },
        "package_version": edit_record.get("package_version"),
        "package_commit": _commit(),
    }
    if not args.no_table:
        path = fact_table_path(args.model)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
        write_atomically(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
        logger.info("wrote %s (%d facts, %d edited)", path, len(document["facts"]), record["table"]["edited_facts"])
    card = edit_card(edit_record, record)
    write_atomically(
        Path(args.adapter) / "README.md", lambda temporary: Path(temporary).write_text(card, encoding="utf-8")
    )
    record_path = Path(args.record)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    write_atomically(record_path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
    edited, kept = scores["edited"], scores["kept"]
    logger.info(
        "edited facts: %d/%d (%.3f, %s); kept facts: %d/%d (%.3f, %s); gates %s",
        edited["correct"],
        edited["total"],
        edited["rate"],
        edited["interval"],
        kept["correct"],
        kept["total"],
        kept["rate"],
        kept["interval"],
        "passed" if scores["passed"] else "FAILED",
    )
    return record


def _commit() -> str | None:
    from ..utils.version import package_commit

    return package_commit()


if __name__ == "__main__":
    main()
