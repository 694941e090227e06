"""What a person sees while topology works: on a terminal, a rich progress bar with counts and elapsed time;
elsewhere (CI logs, pipes), plain lines. `-q` keeps only failures; `-v` adds each change's line on a
terminal too. Progress goes to stderr, so stdout stays the plan or the JSON alone.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["Display", "Work"]


@dataclass(frozen=True)
class Display:
    """How to show progress: `verbosity` -1 (quiet), 0 or 1 (verbose); `colour` off with --no-color or NO_COLOR."""

    verbosity: int = 0
    colour: bool = True
    stream: TextIO | None = None  # stderr unless given

    @property
    def out(self) -> TextIO:
        return self.stream or sys.stderr

    @property
    def live(self) -> bool:
        """A bar is drawn only on a terminal that can redraw a line (not TERM=dumb), and not with -q."""
        return self.verbosity >= 0 and self.out.isatty() and os.environ.get("TERM") != "dumb"

    def line(self, text: str, *, failure: bool = False) -> None:
        """A line for the log: failures always, others unless quiet."""
        if failure or self.verbosity >= 0:
            print(text, file=self.out, flush=True)


class Work:
    """One long step (inspecting targets, applying changes): a bar of `total` on a terminal, else lines.
    A context manager; `done(line)` counts one item, printing its line where lines are printed."""

    def __init__(self, display: Display, description: str, total: int, *, keep: bool = True) -> None:
        self.display = display
        self.description = description
        self.total = total
        self.keep = keep  # the finished bar stays on the terminal (applying) or goes (inspecting)
        self._progress: Progress | None = None
        self._task: Any = None
        self._failed = 0

    def __enter__(self) -> Work:
        if self.display.live and self.total:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            console = Console(file=self.display.out, no_color=not self.display.colour, highlight=False)
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("elapsed"), TimeElapsedColumn(),
                                      console=console, transient=not self.keep)
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def done(self, text: str | None = None, *, failure: bool = False) -> None:
        if failure:
            self._failed += 1
        if self._progress is None:
            if text is not None:
                self.display.line(text, failure=failure)
            return
        if text is not None and (failure or self.display.verbosity > 0):
            self._progress.console.print(text, markup=False, highlight=False)
        description = f"{self.description} ({self._failed} failed)" if self._failed else self.description
        self._progress.update(self._task, advance=1, description=description)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
