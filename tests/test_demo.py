"""The demo's parts that do not need a build: task order, committed results, the shipped explainers it uses."""

import logging
from types import SimpleNamespace

import pytest

from self_explain import demo
from self_explain.core.models import TOY_EXPLAINERS
from self_explain.evaluation.html_page import ReportSection
from self_explain.tasks import TASKS


def test_demo_tasks_come_in_demo_order():
    names = demo.demo_tasks()
    assert names == sorted(names, key=lambda name: TASKS[name].demo.order)
    assert {"patching", "ablation", "features"} <= set(names)


def test_a_task_without_a_demo_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="'nonesuch' is not a demo task"):
        demo.run_task(demo.DemoConfig(output_dir=str(tmp_path)), "nonesuch")


def test_committed_results_are_linked_not_printed_or_their_absence_said(tmp_path):
    config = demo.DemoConfig(output_dir=str(tmp_path / "out"), results=str(tmp_path / "results"))
    missing = demo.committed_results(config, "patching")
    assert len(missing) == 1 and "make experiment" in missing[0]
    folder = tmp_path / "results" / "patching"
    folder.mkdir(parents=True)
    (folder / "results.md").write_text("| who | exact match |\n|---|---|\n| toy-target | 0.9 |\n")
    (folder / "scaling.png").write_bytes(b"")
    (line,) = demo.committed_results(config, "patching")
    assert "| toy-target | 0.9 |" not in line
    assert line.endswith(f"{folder / 'results.md'}, plot {folder / 'scaling.png'}")


@pytest.mark.parametrize("name", [n for n in TASKS if TASKS[n].demo is not None and TASKS[n].demo.explainer])
def test_every_demo_explainer_is_shipped_and_rows_become_pipeline_inputs(name):
    spec = TASKS[name].demo
    assert spec.explainer in TOY_EXPLAINERS
    assert spec.pipeline_input is not None


def fake_outcome(task: str) -> demo.TaskOutcome:
    return demo.TaskOutcome(task, [f"== {task}: done ==", f"summary of {task}"], ReportSection(f"section {task}"), 1.0)


def test_each_task_is_told_as_soon_as_it_finishes_and_the_report_follows(monkeypatch, tmp_path, capsys):
    """The first task's summary is printed, and the report holds it, before the second task starts."""
    seen_when_started = {}

    def run_task(config, task):
        seen_when_started[task] = (
            capsys.readouterr().out,
            (tmp_path / "report.html").is_file() and (tmp_path / "report.html").read_text(encoding="utf-8"),
        )
        return fake_outcome(task)

    monkeypatch.setattr(demo, "run_task", run_task)
    closing = demo.run_demo(demo.DemoConfig(output_dir=str(tmp_path), tasks=["ablation", "patching"]))
    printed_before_patching, report_before_patching = seen_when_started["patching"]
    assert printed_before_patching.index("summary of ablation") < printed_before_patching.index("[2/2] patching")
    assert "section ablation" in report_before_patching and "Still running: patching." in report_before_patching
    assert "summary of patching" in capsys.readouterr().out
    assert closing.splitlines()[0].startswith("demo finished in")
    assert f"full report: {tmp_path / 'report.html'}" in closing
    assert "section patching" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_the_log_goes_to_its_file_and_only_warnings_to_the_terminal(tmp_path, capsys):
    log = logging.getLogger("self_explain.demo_probe")
    with demo.demo_logging(tmp_path / "demo.log"):
        log.info("a loss line")
        log.warning("a warning")
    err = capsys.readouterr().err
    assert "a warning" in err and "a loss line" not in err
    text = (tmp_path / "demo.log").read_text()
    assert "a loss line" in text and "a warning" in text
    assert logging.getLogger("self_explain").propagate, "restored after the demo"


def test_one_small_table_of_the_headline_metric_per_split():
    report = {
        "task": "patching",
        "results": [
            {
                "split": "test",
                "baseline": None,
                "metrics": {"changed_content_match": 0.275, "exact_match": 0.25},
                "intervals": {"changed_content_match": [0.16, 0.394]},
            },
            {"split": "ood", "baseline": None, "metrics": {"changed_content_match": None}},
            {
                "split": "test",
                "baseline": "majority",
                "metrics": {"changed_content_match": 0.0},
                "intervals": {"changed_content_match": [0.0, 0.0]},
            },
        ],
    }
    lines = demo.headline_lines(report)
    assert lines[0].startswith("changed_content_match on held-out rows")
    assert "| trained explainer | 0.275 [0.160, 0.394] | not estimable |" in lines
    assert "| baseline: majority | 0.000 [0.000, 0.000] | – |" in lines


def test_a_row_the_pipeline_refuses_is_reported_and_the_next_is_tried(monkeypatch):
    from datasets import Dataset

    from self_explain.tasks import DemoSpec

    rows = Dataset.from_dict({"x": [0, 1, 2, 3, 4, 5]})
    monkeypatch.setattr(demo, "load_dataset", lambda folder, config, split: rows)

    def fake_pipeline(task, target, explainer):
        def explain(request, verify):
            if request["x"] == 0:
                raise ValueError("the feature never fires on the verification texts")
            return {"explanation": f"row {request['x']}", "ground_truth": "row 1", "verified": request["x"] == 1}

        return explain

    monkeypatch.setattr("transformers.pipeline", fake_pipeline)
    task = SimpleNamespace(demo=DemoSpec(summary=None, explainer="e", pipeline_input=lambda row: {"x": row["x"]}))
    examples = demo.explain_rows(task, "folder", "toy-target", "toy-target", count=2)
    assert [e["explanation"] for e in examples] == [None, "row 1", "row 2"]
    assert examples[0]["note"] == "not explained: the feature never fires on the verification texts"
    lines = demo.example_lines(examples)
    assert lines == [
        "verified on the target: 1 of 2 explanations held",
        "  - not explained: the feature never fires on the verification texts",
        "  ✓ 'row 1'",
        "  ✗ 'row 2'; the target: 'row 1'",
    ]
