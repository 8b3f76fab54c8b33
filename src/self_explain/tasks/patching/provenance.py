"""What a patching build's provenance measures besides the rows: unchanged rows by pair kind, target mismatches."""

from __future__ import annotations

import logging

from ...core.words import matches_target
from .sources import PromptPair

logger = logging.getLogger(__name__)


def unchanged_by_pair_kind(items: list[PromptPair], rows, same_value_share: float) -> dict:
    """The same-value share configured and drawn, and the measured unchanged share per pair kind (None: no rows)."""
    same_pairs = [bool(p.original_target) and p.original_target == p.counterfactual_target for p in items]
    kinds: dict[str, list[bool]] = {"same_value": [], "different_value": []}
    if len(rows):
        for original, counterfactual, changed in zip(
            rows["gt_original_target"], rows["gt_counterfactual_target"], rows["is_different"]
        ):
            kind = "same_value" if original and original == counterfactual else "different_value"
            kinds[kind].append(not changed)
    return {
        "same_value_share": same_value_share,
        "fraction_same_value_pairs": round(sum(same_pairs) / len(items), 4) if items else None,
        "fraction_unchanged_by_pair_kind": {
            kind: round(sum(v) / len(v), 4) if v else None for kind, v in kinds.items()
        },
    }


def target_mismatches(rows) -> dict:
    """How many pairs have a target the model does not predict (greedy, unpatched), with up to three ``examples``."""
    seen, counts, examples = set(), {"original": 0, "counterfactual": 0}, []
    for row in rows:
        if row["prompt_id"] in seen or not (row["gt_original_target"] or row["gt_counterfactual_target"]):
            continue
        seen.add(row["prompt_id"])
        checks = {
            "original": (row["original_word"], row["original_continuation"], row["gt_original_target"]),
            "counterfactual": (None, row["counterfactual_continuation"], row["gt_counterfactual_target"]),
        }
        for side, (word, token, target) in checks.items():
            if target and not matches_target(word if word is not None else token.strip(), token.strip(), target):
                counts[side] += 1
                if len(examples) < 3:
                    examples.append(f"prompt {row['prompt_id']} {side}: target {target!r}, model {token.strip()!r}")
    if counts["original"] or counts["counterfactual"]:
        logger.warning(
            "%d of %d prompt pairs have an original target and %d a counterfactual target that the "
            "target model does not predict (greedy): %s",
            counts["original"],
            len(seen),
            counts["counterfactual"],
            "; ".join(examples),
        )
    return {"pairs_with_targets": len(seen), **counts, "examples": examples}
