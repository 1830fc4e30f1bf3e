"""Every figure diffsim saves says what it shows: each plotting axes has a
title (or the figure a suptitle) and x and y labels, each colour bar a label,
and a figure with several lines a legend. `Figure.savefig` is wrapped so the
figures are checked as the jobs save them, from tiny runs."""

from __future__ import annotations

import matplotlib
import matplotlib.figure
import numpy as np
import pytest

from diffsim.jobs.cli import main

matplotlib.use("Agg")


def figure_problems(fig: matplotlib.figure.Figure) -> list[str]:
    """What a figure leaves unsaid, one line per problem (empty when complete)."""
    problems = []
    suptitle, supx, supy = (
        fig.get_suptitle().strip(),
        fig.get_supxlabel().strip(),
        fig.get_supylabel().strip(),
    )
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
        for axis, label, sup, shared in (
            ("x", ax.get_xlabel(), supx, ax.get_shared_x_axes()),
            ("y", ax.get_ylabel(), supy, ax.get_shared_y_axes()),
        ):
            siblings = [s for s in shared.get_siblings(ax) if s is not ax]
            sibling = any(
                (s.get_xlabel() if axis == "x" else s.get_ylabel()).strip()
                for s in siblings
            )
            if not (label.strip() or sup or sibling):
                problems.append(f"{where}: no {axis} label")
        lines = [line for line in ax.get_lines() if np.size(line.get_xdata()) > 2]
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
        found.append(
            (
                self.get_suptitle() or (titles[0] if titles else "untitled figure"),
                figure_problems(self),
            )
        )
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return found


def test_figure_problems_names_what_is_missing():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    a.plot([0, 1, 2], [0, 1, 2])
    a.plot([0, 1, 2], [2, 1, 0])
    fig.colorbar(b.imshow([[0.0, 1.0]]), ax=b)
    b.set(xlabel="x (m)", ylabel="y (m)", title="field")
    assert figure_problems(fig) == [
        "axes 0 (untitled): no title and no suptitle",
        "axes 0 (untitled): no x label",
        "axes 0 (untitled): no y label",
        "axes 0 (untitled): 2 lines and no legend",
        "axes 2 (<colorbar>): colour bar without a label",
    ]
    a.set(xlabel="t (s)", ylabel="u (m/s)")
    a.legend(["one", "two"])
    fig.axes[2].set_ylabel("p (Pa)")
    fig.suptitle("two panels")
    assert figure_problems(fig) == []
    plt.close(fig)


HELMHOLTZ_2D = ["grid.cells=[48,48]", "physics.pml.width=8"]
CASES = {
    "burgers_inverse": (
        [
            "optimize",
            "configs/burgers_inverse.yaml",
            "grid.cells=[32]",
            "time.t_end=0.5",
            "physics.observation_every=5",
            "physics.sensors=8",
            "optimize.iterations=1",
        ],
        2,
    ),
    "shock_tube_inverse": (
        [
            "optimize",
            "configs/shock_tube_inverse.yaml",
            "grid.cells=[16]",
            "time.t_end=0.04",
            "optimize.iterations=1",
            "optimize.optimizer={name: adam, learning_rate: 0.01}",
        ],
        2,
    ),
    "steady_fit": (
        [
            "optimize",
            "configs/steady_fit.yaml",
            "grid.cells=[16]",
            "physics.sensors=8",
            "physics.modes=2",
            "optimize.iterations=1",
            "optimize.optimizer={name: adam, learning_rate: 0.01}",
        ],
        2,
    ),
    "euler_closure": (
        [
            "optimize",
            "configs/euler_flux_closure.yaml",
            "grid.cells=[8]",
            "physics.fine_factor=2",
            "physics.train_states=2",
            "physics.test_states=1",
            "time.t_end=0.02",
            "optimize.iterations=1",
        ],
        2,
    ),
    "learned_flux": (
        [
            "optimize",
            "configs/learned_flux.yaml",
            "grid.cells=[32]",
            "physics.samples=1",
            "time.t_end=0.1",
            "optimize.iterations=1",
        ],
        2,
    ),
    "acoustic_lens": (
        [
            "optimize",
            "configs/acoustic_lens.yaml",
            "grid.cells=[64,64]",
            "physics.pml.width=8",
            "optimize.iterations=1",
        ],
        4,
    ),
    "helmholtz_inclusion_inverse": (
        [
            "optimize",
            "configs/helmholtz_inclusion_inverse.yaml",
            *HELMHOLTZ_2D,
            "physics.sources=1",
            "physics.receivers=4",
            "optimize.iterations=1",
        ],
        2,
    ),
    "helmholtz_point_source": (
        [
            "run",
            "configs/helmholtz_point_source.yaml",
            *HELMHOLTZ_2D,
            "grid.lower=[-2.4e-3,-2.4e-3]",
            "grid.upper=[2.4e-3,2.4e-3]",
        ],
        3,
    ),
    "helmholtz_scattering": (
        ["run", "configs/helmholtz_scattering.yaml", *HELMHOLTZ_2D],
        3,
    ),
    "double_mach_reflection": (
        [
            "run",
            "configs/double_mach_reflection.yaml",
            "grid.cells=[40,10]",
            "time.t_end=0.02",
        ],
        5,
    ),
    "kdv_1d": (
        [
            "run",
            "configs/kdv_two_soliton.yaml",
            "grid.cells=[64]",
            "time.t_end=0.2",
            "time.snapshots=2",
        ],
        2,
    ),
    "ensemble_1d": (
        [
            "run",
            "configs/burgers_ensemble.yaml",
            "grid.cells=[64]",
            "time.t_end=0.1",
            "time.dt=0.01",
            "time.snapshots=2",
            "batch.size=3",
        ],
        1,
    ),
    "ensemble_2d": (
        [
            "run",
            "configs/taylor_green.yaml",
            "grid.cells=[16,16]",
            "time.t_end=0.1",
            "time.snapshots=2",
            "batch.size=2",
            "batch.vary={physics.nu: {uniform: [0.01, 0.02]}}",
        ],
        1,
    ),
    "horizon": (
        [
            "gradcheck",
            "configs/ks_chaos.yaml",
            "grid.cells=[64]",
            "--horizon",
            "--horizons",
            "1,0.5",
        ],
        1,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_saved_figure_says_what_it_shows(name, saved, tmp_path):
    argv, figures = CASES[name]
    assert main([*argv, "--out", str(tmp_path / name)]) == 0
    assert len(saved) == figures, [what for what, _ in saved]
    assert {what: problems for what, problems in saved if problems} == {}


def test_collect_plot_says_what_it_shows(saved, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "sweep",
                "configs/taylor_green.yaml",
                "--grid",
                "grid.cells=[8,8],[12,12]",
                "time.t_end=0.02",
                "time.snapshots=1",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert main(["collect", str(out)]) == 0
    assert saved == [("sweep: errors.l2_relative vs grid.cells", [])]
