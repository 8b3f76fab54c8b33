"""The predictions ``evaluate`` writes per row: declared columns, right/wrong from the metric, old files readable."""

import pandas as pd
import pytest

from self_explain.evaluation.predictions import (
    PREDICTION_FEATURES,
    prediction_table,
    read_predictions,
    write_predictions,
)
from self_explain.metrics.causal_match.rows import causal_match_rows
from self_explain.metrics.weight_correlation.rows import weight_correlation_rows
from self_explain.tasks import ExplainerExamples
from self_explain.tasks.row_view import row_view

ANSWERS = ["The output would remain unchanged from <<<cat>>>.", "The most likely output would change to <<<dog>>>."]


def causal_table(predictions, **options):
    examples = ExplainerExamples(["q0", "q1"], ANSWERS)
    return prediction_table(examples, predictions, {"columns": causal_match_rows(predictions, ANSWERS)}, **options)


def test_a_row_is_correct_exactly_when_the_metric_counts_it_an_exact_match(tmp_path):
    views = [row_view([("cat", True)], label="unchanged"), row_view([("dog", False)], label="changed")]
    table = causal_table(
        [ANSWERS[0], "The output would remain unchanged from <<<dog>>>."], indices=[7, 3], views=views
    )
    assert table.features == PREDICTION_FEATURES
    write_predictions(tmp_path / "predictions-test.parquet", table)
    rows = read_predictions(tmp_path / "predictions-test.parquet")
    assert [r["row"] for r in rows] == [7, 3]
    assert [r["correct"] for r in rows] == [True, False]
    assert [r["row_score"] for r in rows] == [None, None], "causal_match grades no row"
    assert [r["view"]["label"] for r in rows] == ["unchanged", "changed"]
    assert rows[0]["view"]["segments"] == [{"text": "cat", "marked": True}]


def test_a_graded_metric_gives_a_row_score_only_to_valid_answers():
    references = ['{"rent": 50, "rooms": -20}', '{"rent": 10, "rooms": 90}']
    predictions = ['{"rent": 40, "rooms": -10}', "no idea"]
    statistics = {"columns": weight_correlation_rows(predictions, references)}
    table = prediction_table(ExplainerExamples(["q0", "q1"], references), predictions, statistics)
    assert table["correct"] == [None, None], "no exact match: neither right nor wrong"
    assert table["row_score"][0] == pytest.approx(1.0) and table["row_score"][1] is None


def test_counts_that_differ_are_refused():
    examples = ExplainerExamples(["q0", "q1"], ANSWERS)
    with pytest.raises(ValueError, match="2 examples, but 1 predictions"):
        prediction_table(examples, [ANSWERS[0]])
    with pytest.raises(ValueError, match="3 row indices"):
        prediction_table(examples, ANSWERS, indices=[0, 1, 2])


def test_a_file_from_before_the_report_columns_reads_with_them_empty(tmp_path):
    path = tmp_path / "predictions-test.parquet"
    pd.DataFrame({"question": ["q"], "reference": [ANSWERS[0]], "prediction": [ANSWERS[0]]}).to_parquet(path)
    (row,) = read_predictions(path)
    assert row["row"] is None and row["correct"] is None and row["view"]["segments"] == []
    assert row["prediction"] == ANSWERS[0]


def test_rows_a_view_cannot_read_get_empty_views_and_a_warning(caplog):
    from datasets import Dataset

    from self_explain.evaluation.predictions import row_views

    rows = Dataset.from_dict({"text": ["a", "b"]})  # not a patching row: its view reads columns it lacks
    with caplog.at_level("WARNING"):
        views = row_views("patching", rows)
    assert views == [{"segments": [], "details": [], "label": ""}] * 2
    assert "cannot be shown in the report" in caplog.text
