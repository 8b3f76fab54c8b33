"""Progress bars: one per stage; an inner loop's bar is transient and, outside a terminal, not shown."""

import io

import pytest

from self_explain.utils import progress
from self_explain.utils.progress import inside_a_bar, progress_bar


class _Stream(io.StringIO):
    def __init__(self, terminal: bool):
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@pytest.mark.parametrize("terminal", [False, True])
def test_an_inner_bar_is_transient_and_shown_only_in_a_terminal(monkeypatch, terminal):
    stream = _Stream(terminal)
    monkeypatch.setattr(progress.sys, "stderr", stream)
    assert not inside_a_bar()
    outer = progress_bar(range(2), desc="stage", file=stream)
    assert not outer.disable and outer.leave
    assert inside_a_bar()
    for _ in outer:
        inner = progress_bar(range(3), desc="inner", file=stream)
        assert inner.disable is (not terminal)
        assert inner.leave is False
        list(inner)
    assert not inside_a_bar()
    if not terminal:
        assert "\x1b[A" not in stream.getvalue() and "inner" not in stream.getvalue()


def test_a_disabled_bar_does_not_count_as_open(monkeypatch):
    monkeypatch.setattr(progress.sys, "stderr", _Stream(False))
    hidden = progress_bar(range(2), desc="hidden", disable=True)
    assert not inside_a_bar()
    shown = progress_bar(range(2), desc="stage", file=io.StringIO())
    assert not shown.disable
    shown.close()
    hidden.close()
