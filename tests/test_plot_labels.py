"""Every figure diffsim saves says what it shows: each plotting axes has a
title (or the figure a suptitle) and x and y labels, each colour bar a label,
and a figure with several lines a legend. `Figure.savefig` is wrapped so the
figures are checked as the jobs save them, from tiny runs."""

from __future__ import annotations

import matplotlib
import matplotlib.figure
import pytest

from diffsim._cli import main

matplotlib.use("Agg")


def figure_problems(fig: matplotlib.figure.Figure) -> list[str]:
    """What a figure leaves unsaid, one line per problem (empty when complete)."""
    problems = []
    suptitle, supx, supy = fig.get_suptitle().strip(), fig.get_supxlabel().strip(), fig.get_supylabel().strip()
    drawn = [ax for ax in fig.axes if ax.axison]
    legends = bool(fig.legends) or any(ax.get_legend() is not None for ax in fig.axes)
    for n, ax in enumerate(drawn):
        where = f"axes {n} ({ax.get_title() or ax.get_label() or 'untitled'})"
        if ax.get_label() == "<colorbar>":
            if not (ax.get_ylabel().strip() or ax.get_xlabel().strip()):
                problems.append(f"{where}: colour bar without a label")
            continue
        if not (ax.get_title().strip() or ax.get_title(loc="left").strip() or suptitle):
            problems.append(f"{where}: no title and no suptitle")
        for axis, label, sup, shared in (("x", ax.get_xlabel(), supx, ax.get_shared_x_axes()),
                                         ("y", ax.get_ylabel(), supy, ax.get_shared_y_axes())):
            siblings = [s for s in shared.get_siblings(ax) if s is not ax]
            sibling = any((s.get_xlabel() if axis == "x" else s.get_ylabel()).strip() for s in siblings)
            if not (label.strip() or sup or sibling):
                problems.append(f"{where}: no {axis} label")
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
        if len(lines) >= 2 and not legends:
            problems.append(f"{where}: {len(lines)} lines and no legend")
    return problems


@pytest.fixture
def saved(monkeypatch):
    """`(what, problems)` for every figure saved while the test runs; `what`
    is the suptitle or the first title (figures are rendered into memory
    before their atomic write, so there is no file name to key by)."""
    found: list[tuple[str, list[str]]] = []
    original = matplotlib.figure.Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        titles = [ax.get_title() for ax in self.axes if ax.get_title()]
        found.append((self.get_suptitle() or (titles[0] if titles else "untitled figure"), figure_problems(self)))
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return found
