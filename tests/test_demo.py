"""The demo's parts that do not need a build: task order, committed results, the shipped explainers it uses."""

from types import SimpleNamespace

import pytest

from self_explain import demo
from self_explain.core.models import TOY_EXPLAINERS
from self_explain.tasks import TASKS


def test_demo_tasks_come_in_demo_order():
    names = demo.demo_tasks()
    assert names == sorted(names, key=lambda name: TASKS[name].demo.order)
    assert {"patching", "ablation", "features"} <= set(names)


def test_a_task_without_a_demo_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="'nonesuch' is not a demo task"):
        demo.run_task(demo.DemoConfig(output_dir=str(tmp_path)), "nonesuch")


def test_committed_results_are_printed_with_their_plot_or_their_absence_said(tmp_path):
    config = demo.DemoConfig(output_dir=str(tmp_path / "out"), results=str(tmp_path / "results"))
    missing = demo.committed_results(config, "patching")
    assert len(missing) == 1 and "make experiment" in missing[0]
    folder = tmp_path / "results" / "patching"
    folder.mkdir(parents=True)
    (folder / "results.md").write_text("| who | exact match |\n|---|---|\n| toy-target | 0.9 |\n")
    lines = demo.committed_results(config, "patching")
    assert "| toy-target | 0.9 |" in lines and lines[-1] == f"scaling plot: {folder / 'scaling.png'}"


@pytest.mark.parametrize("name", [n for n in TASKS if TASKS[n].demo is not None and TASKS[n].demo.explainer])
def test_every_demo_explainer_is_shipped_and_rows_become_pipeline_inputs(name):
    spec = TASKS[name].demo
    assert spec.explainer in TOY_EXPLAINERS
    assert spec.pipeline_input is not None


def test_the_demo_runs_every_task_in_turn_and_says_its_time(monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "run_task", lambda config, task: [f"## {task}"])
    text = demo.run_demo(demo.DemoConfig(output_dir=str(tmp_path), tasks=["ablation", "patching"]))
    assert text.index("## ablation") < text.index("## patching")
    assert "demo finished in" in text.splitlines()[-1]


def test_a_row_the_pipeline_refuses_is_reported_and_the_next_is_tried(monkeypatch):
    from datasets import Dataset

    from self_explain.tasks.spec import DemoSpec

    rows = Dataset.from_dict({"x": [0, 1, 2, 3, 4, 5]})
    monkeypatch.setattr(demo, "load_dataset", lambda folder, config, split: rows)

    def fake_pipeline(task, target, explainer):
        def explain(request, verify):
            if request["x"] == 0:
                raise ValueError("the feature never fires on the verification texts")
            return {"explanation": f"row {request['x']}", "verified": True}
        return explain

    monkeypatch.setattr("transformers.pipeline", fake_pipeline)
    task = SimpleNamespace(demo=DemoSpec(summary=None, explainer="e", pipeline_input=lambda row: {"x": row["x"]}))
    lines = demo.explain_rows(task, "folder", "toy-target", "toy-target", count=2)
    assert lines[1] == "  not explained: the feature never fires on the verification texts"
    assert [line for line in lines if "explanation:" in line] == ["  explanation: 'row 1'", "  explanation: 'row 2'"]
