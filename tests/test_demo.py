"""The demo's closing summary (the tasks themselves run in the tasks' end-to-end tests)."""

import pytest

from self_explain import demo


@pytest.mark.parametrize("seeds, phrase", [(1, "over 1 seed,"), (2, "over 2 seeds,")])
def test_the_headline_says_seed_or_seeds(monkeypatch, tmp_path, seeds, phrase):
    monkeypatch.setattr(demo, "run_task", lambda config, task: ([f"## {task}"], {"sizes": [100, 300]}))
    monkeypatch.setattr(demo, "task_headline", lambda summary: ["| table |"])
    text = demo.run_demo(demo.DemoConfig(out=str(tmp_path), tasks=["patching"], seeds=seeds))
    assert f"Mean [95 % CI] {phrase} at the largest training size (patching 300 rows)." in text
    assert "1 seeds" not in text
