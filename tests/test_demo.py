"""The demo's parts that do not need a build: task order, committed results, the shipped explainers it uses."""

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
        demo.run_task(demo.DemoConfig(out=str(tmp_path)), "nonesuch")


def test_committed_results_are_printed_with_their_plot_or_their_absence_said(tmp_path):
    config = demo.DemoConfig(out=str(tmp_path / "out"), results=str(tmp_path / "results"))
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
    text = demo.run_demo(demo.DemoConfig(out=str(tmp_path), tasks=["ablation", "patching"]))
    assert text.index("## ablation") < text.index("## patching")
    assert "demo finished in" in text.splitlines()[-1]
