"""A progress bar with ETA for long commands (backtest), shown only on a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from kalshibot.cli.context import err_console


class Bar:
    """Feeds ``kalshibot.backtest.runner.PROGRESS`` calls into a rich progress bar (one task
    per strategy); a no-op when not shown."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, name: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        task = self.tasks.get(name)
        if task is None:
            task = self.tasks[name] = self.progress.add_task(name, total=total)
        self.progress.update(task, completed=done)

    def finish(self) -> None:
        if self.progress is not None:
            for task in self.tasks.values():
                t = self.progress.tasks[task]
                self.progress.update(task, completed=t.total)


@contextmanager
def progress_bar(*, show: bool) -> Iterator[Bar]:
    """A ``Bar`` installed as the backtest progress hook; drawn on stderr only when ``show``
    and stderr is a terminal (never under --json or in a pipe)."""
    from kalshibot.backtest.runner import PROGRESS

    if not (show and err_console.is_terminal):
        yield Bar(None)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), console=err_console, transient=True) as p:
        bar = Bar(p)
        token = PROGRESS.set(bar)
        try:
            yield bar
        finally:
            PROGRESS.reset(token)
