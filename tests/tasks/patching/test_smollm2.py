"""Patching on the real model, smollm2-135m (slow; skipped, saying why, where its package is absent)."""

import pytest
from datasets import load_dataset

pytestmark = pytest.mark.slow


def test_patching_the_subject_mid_depth_moves_the_answer_to_the_counterfactuals(smollm2_patching_dir):
    rows = load_dataset(str(smollm2_patching_dir), "smollm2-135m", split="train")
    assert set(rows["token_type"]) >= {"subject", "last"} and set(rows["layer"]) == {0, 12}
    assert all(len(row["layers"]) == 8 for row in rows)  # a quarter of 30 layers, as the reference
    mid = [row for row in rows if row["layer"] == 12]
    subject = [row for row in mid if row["token_type"] == "subject"]
    moved = [row["ablated_continuation"].strip() == row["gt_counterfactual_target"] for row in subject]
    assert len(subject) == 3 and sum(moved) >= 2, [(r["original_text"], r["ablated_continuation"]) for r in subject]
    # The last token mid-depth has not yet read the subject's attributes: writing the counterfactual's state there
    # (a different subject, the same last word) leaves the answer where it was.
    last = [row for row in mid if row["token_type"] == "last"]
    assert last and all(not row["is_different"] for row in last)
    assert all(row["original_continuation"].strip() == row["gt_original_target"] for row in rows)
