"""rulecascade.progress: bars on a terminal after a delay, nothing otherwise."""

from __future__ import annotations

import io
import sys
import time

from rulecascade import progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bars_when_not_a_terminal_or_quiet(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress.enabled()
    monkeypatch.setattr(sys, "stderr", FakeTTY())
    assert progress.enabled()
    assert not progress.enabled(quiet=True)
    with progress.task("quiet work", total=3, quiet=True) as t:
        t.update(3)
    assert sys.stderr.getvalue() == ""


def test_bar_after_the_delay_on_a_terminal(monkeypatch):
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    monkeypatch.setattr(progress, "TICK_S", 0.01)
    with progress.task("fitting rules") as t:
        time.sleep(0.05)  # no update(): the ticker shows the elapsed time
        t.set_description("still fitting")
    assert "fitting rules" in err.getvalue()
    err2 = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err2)
    assert [(s.start, s.stop) for s in progress.chunks(25, 10, "rows")] == [
        (0, 10),
        (10, 20),
        (20, 25),
    ]
    assert "rows" in err2.getvalue()


def test_short_work_shows_nothing(monkeypatch):
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    with progress.task("quick", total=2) as t:
        t.update(2)
    assert "quick" not in err.getvalue()
