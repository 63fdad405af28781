"""Progress bars with ETA for long commands (backtest, train), drawn on stderr only on a
terminal: never under --json / --quiet or in a pipe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


#: A stage progress hook: ``(stage, done, total)``, e.g. ``("fit", 2, 4)``.
StageHook = Callable[[str, int, int], None]


@contextmanager
def stage_bars(labels: dict[str, str], *, show: bool) -> Iterator[StageHook]:
    """One bar (done/total, elapsed, ETA) per stage reported to the yielded hook; ``labels``
    names the stages. Drawn on stderr only when ``show`` and stderr is a terminal, and cleared
    when done (the command's own output follows)."""
    if not (show and err_console.is_terminal):
        yield lambda _stage, _done, _total: None
        return
    from rich.progress import MofNCompleteColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err_console,
                  transient=True) as p:
        tasks: dict[str, TaskID] = {}

        def hook(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = p.add_task(labels.get(stage, stage), total=total)
            p.update(tasks[stage], completed=done, total=total)

        yield hook
