"""Progress bars on stderr for the job layer (the library reports progress
through callbacks and never imports tqdm)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from tqdm.auto import tqdm


def progress_bar(total: float, desc: str, **options: Any) -> tqdm:
    """A tqdm bar on stderr, shown only when stderr is a terminal (logs and
    captured output stay clean) and only after a second (quick jobs print
    nothing).

    **Arguments:**

    - `total`: the amount of work (iterations, simulated time, ...).
    - `desc`: the label in front of the bar.
    - `options`: further `tqdm` options (`unit`, `initial`, `leave`, ...),
        which override the defaults above.
    """
    settings: dict[str, Any] = {
        "disable": not sys.stderr.isatty(),
        "delay": 1.0,
        "file": sys.stderr,
    }
    return tqdm(total=total, desc=desc, **(settings | options))


class IterationProgress:
    """The `progress(iteration, loss)` callback of `diffsim.optimize` as a
    bar of iterations with the latest loss. The bar opens at the first
    iteration reported, so that a resumed run starts where it left off.
    Use it as a context manager, which closes the bar.

    **Arguments:**

    - `total`: the number of iterations the run ends at.
    - `desc`: the label in front of the bar.
    - `options`: further options of `progress_bar`.
    """

    def __init__(self, total: int, desc: str = "optimize", **options: Any):
        self.total = total
        self.desc = desc
        self.options = options
        self.bar: tqdm | None = None

    def __call__(self, iteration: int, loss: float) -> None:
        if self.bar is None:
            options = {"unit": "it", "initial": iteration} | self.options
            self.bar = progress_bar(self.total, self.desc, **options)
        self.bar.set_postfix(loss=f"{loss:.4e}", refresh=False)
        self.bar.update(1)

    def __enter__(self) -> IterationProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.bar is not None:
            self.bar.close()
