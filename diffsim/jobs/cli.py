"""The `diffsim` command line: a table of subcommands (`COMMANDS`), each an
argument builder and a handler, and one `main` that parses, dispatches and
turns errors into exit codes.

Exit codes: 0 done; 1 gradcheck found a wrong gradient; 2 a config or option
error; 3 a run that could not start or had to stop; 4 an output that could
not be written (full disk, permissions) or an `--out` in use by another job;
5 gradcheck inconclusive (finite differences too noisy).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

EXIT_CONFIG = 2
EXIT_RUN = 3
EXIT_IO = 4


@dataclass(frozen=True)
class Subcommand:
    """One `diffsim` subcommand.

    **Arguments:**

    - `help`: the line `diffsim --help` shows for it.
    - `arguments`: adds its arguments to its parser.
    - `handler`: runs it from the parsed arguments and returns the exit code;
        errors it raises are mapped to exit codes by `main`.
    - `description`: the text of `diffsim NAME --help`, if any.
    - `raw_description`: keep the description's line breaks.
    """

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]
    description: str | None = None
    raw_description: bool = False


# ---- arguments -------------------------------------------------------------


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config file")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="dotted overrides, values parsed as YAML",
    )


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    _config_arguments(parser)
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")


def _optimize_arguments(parser: argparse.ArgumentParser) -> None:
    _config_arguments(parser)
    parser.add_argument(
        "--out", required=True, help="output directory (created; reused to resume)"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")


def _gradcheck_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config file of an optimization scenario")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.add_argument(
        "--directions", type=int, default=3, help="random unit directions (default 3)"
    )
    parser.add_argument(
        "--eps",
        type=float,
        default=None,
        help="one finite-difference step along a unit direction (10 eps and "
        "eps/10 estimate its noise); default: a sweep",
    )
    parser.add_argument(
        "--steps",
        default=None,
        metavar="H1,H2,...",
        help="finite-difference steps swept, at least 3 (default 1e-1,1e-2,...,1e-6)",
    )
    parser.add_argument(
        "--tol",
        type=float,
        default=1e-5,
        help="largest relative error and noise floor accepted (default 1e-5)",
    )
    parser.add_argument(
        "--solver-rtol",
        type=float,
        default=None,
        help="solver.rtol of the iterative solves during the check "
        "(default: the scenario's, e.g. 1e-12 for Helmholtz)",
    )
    parser.add_argument(
        "--all-modes",
        action="store_true",
        help="check reverse mode with every adjoint the scenario supports and "
        "forward mode (one JVP per direction), and that they agree",
    )
    parser.add_argument(
        "--horizon",
        action="store_true",
        help="instead: sweep the rollout length of a time-dependent config; "
        "print and plot the gradient norm of the final mean square and its "
        "AD-vs-FD agreement per horizon, and name where gradients explode "
        "(needs --out)",
    )
    parser.add_argument(
        "--horizons",
        metavar="T1,T2,...",
        help="with --horizon: the horizons (default: 10 equal steps up to time.t_end)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="with --horizon: folder for horizon.json and horizon.png (created)",
    )
    parser.add_argument(
        "--gain-limit",
        type=float,
        default=1e3,
        help="with --horizon: gradients explode where the backward pass "
        "amplifies the loss's gradient more than this (default 1e3)",
    )
    parser.add_argument(
        "--fd-tol",
        type=float,
        default=1e-3,
        help="with --horizon: gradients also explode where AD and finite "
        "differences disagree by more than this (default 1e-3)",
    )


def _sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="overrides shared by every task",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="key=v1,v2",
        help="a swept key and its values (commas outside brackets separate "
        "values); repeat for a cross product",
    )
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--executor",
        choices=["local", "slurm"],
        default="local",
        help="local process pool, or one SLURM job array via submitit "
        "(resources from the slurm: section)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="parallel local tasks (default 1: each task uses every core)",
    )
    parser.add_argument(
        "--no-plots", action="store_true", help="skip each task's PNG figures"
    )


def _collect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path)
    parser.add_argument(
        "--metric",
        help="summary figure to plot, e.g. errors.l1_density or "
        "cell_updates_per_s (default: the first error norm, else "
        "cell_updates_per_s)",
    )
    parser.add_argument(
        "--param",
        help="swept key on the x axis, e.g. grid.cells (default: the first swept key)",
    )


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*", metavar="key=value")


def _scenarios_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name",
        nargs="?",
        help="a scenario: print its description and every config key with its "
        "default and meaning",
    )


# ---- handlers --------------------------------------------------------------
# Imports that pull in JAX happen inside the handlers, after argument parsing,
# so that `--help` is instant.


def _load(args: argparse.Namespace):
    """The config, physics and scenario class of `args.config` with its
    overrides."""
    from .config import load_config

    return load_config(args.config, args.overrides)


def _quiet_failed_checks() -> None:
    """A failed check inside compiled code (an unconverged solve) is reported
    in one line by `main`; JAX would also log its traceback."""
    logging.getLogger("jax._src.callback").addFilter(
        lambda r: (
            not (r.exc_info and type(r.exc_info[1]).__name__ == "_EquinoxRuntimeError")
        )
    )


def _start_processes(config) -> None:
    """Several processes (srun -n N, or the distributed: section) join here."""
    from ..internal import initialize

    initialize(config.distributed)


def _run(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .run import precheck, run
    from .scenario import SteadyScenario, TimeDependentScenario

    config, physics, scenario = _load(args)
    _quiet_failed_checks()
    _start_processes(config)
    # checks that need the initial fields, before --out is touched
    if not issubclass(scenario, (TimeDependentScenario, SteadyScenario)):
        raise ConfigError(
            "scenario",
            f"{scenario.name} is an optimization problem with nothing to run "
            "forward: use diffsim optimize",
        )
    precheck(config, physics, scenario)
    summary = run(config, physics, scenario, args.out, plots=not args.no_plots)
    print(_run_line(summary))
    print(f"outputs in {args.out}/")
    return 0


def _run_line(summary: dict) -> str:
    """The one line `diffsim run` prints about a finished run."""
    if "steps" in summary:
        line = (
            f"{summary['scenario']}: {summary['steps']} steps to "
            f"t={summary['t_final']:.4g} in {summary['run_s']:.2f} s "
            f"(compile {summary['compile_s']:.2f} s, "
            f"{summary['cell_updates_per_s']:.3g} cell updates/s)"
        )
        if "batch" in summary:
            # an ensemble: steps are the most any member took; errors the
            # worst member's
            line = line.replace(
                ": ",
                f": {summary['batch']['size']} members on "
                f"{summary['batch']['devices']} device(s), up to ",
                1,
            )
    else:  # a steady solve
        line = f"{summary['scenario']}: solved in {summary['run_s']:.2f} s"
        if "iterations" in summary:
            residual = summary.get("relative_residual", float("nan"))
            line += (
                f" ({summary['iterations']} iterations, "
                f"relative residual {residual:.2e})"
            )
    for name, value in summary.get("errors", {}).items():
        line += f", {name} {value:.3e}"
    return line


def _optimize(args: argparse.Namespace) -> int:
    from .optimize import run_optimize

    config, physics, scenario = _load(args)
    _quiet_failed_checks()
    _start_processes(config)
    summary = run_optimize(config, physics, scenario, args.out, plots=not args.no_plots)
    print(
        f"{summary['scenario']}: loss {summary['loss_initial']:.6g} -> "
        f"{summary['loss_final']:.6g} in {summary['iterations']} iterations "
        f"({summary['wall_s']:.1f} s, compile {summary['compile_s']:.1f} s)"
    )
    for key, label in scenario.headline.items():  # the figures it is about
        if key in summary:
            print(f"{label}: {summary[key]:.4g}")
    print(f"outputs in {args.out}/")
    return 0


def _gradcheck(args: argparse.Namespace) -> int:
    """The verdict's exit code (0 passed, 1 wrong, 5 inconclusive)."""
    config, physics, scenario = _load(args)
    _quiet_failed_checks()
    if args.horizon:
        from .horizon import run_horizon

        return run_horizon(args, config, physics, scenario)
    from .gradcheck import run_gradcheck

    return run_gradcheck(args, config, physics, scenario)


def _sweep(args: argparse.Namespace) -> int:
    from .sweep import sweep

    manifest = sweep(
        args.config,
        args.grid,
        args.overrides,
        args.out,
        executor=args.executor,
        workers=args.workers,
        plots=not args.no_plots,
    )
    n, skipped, failed = (
        len(manifest["tasks"]),
        manifest["skipped"],
        manifest["failed"],
    )
    print(
        f"sweep: {n} tasks, {skipped} already finished, "
        f"{n - skipped - len(failed)} ran, {len(failed)} failed"
    )
    for folder in failed:
        print(f"  failed: {folder} (see task.log there)")
    return EXIT_RUN if failed else 0


def _collect(args: argparse.Namespace) -> int:
    from .errors import OptionError
    from .sweep import collect

    if not (args.folder / "sweep.json").exists():
        raise OptionError(
            "", f"{args.folder} holds no sweep.json (not a sweep output folder)"
        )
    path, plot = collect(args.folder, args.metric, args.param)
    print(f"wrote {path}")
    if plot is not None:
        print(f"wrote {plot}")
    return 0


def _show(args: argparse.Namespace) -> int:
    import yaml

    from .config import resolved_dict

    config, _, _ = _load(args)
    print(yaml.safe_dump(resolved_dict(config), sort_keys=False), end="")
    return 0


def _scenarios(args: argparse.Namespace) -> int:
    from .scenario import registry

    if args.name is not None:
        from .config import describe_scenario

        print(describe_scenario(args.name))
        return 0
    for name, cls in registry().items():
        on = f" [{', '.join(cls.discretizations)}]" if cls.discretizations else ""
        print(f"{name:<24} {cls.ndim}D  {cls.description}{on}")
    return 0


COMMANDS: dict[str, Subcommand] = {
    "run": Subcommand(
        help="run a simulation from a config",
        arguments=_run_arguments,
        handler=_run,
        description="Run CONFIG with dotted overrides, e.g. grid.cells=[512] "
        "time.t_end=2.0",
    ),
    "optimize": Subcommand(
        help="run an optimization (inverse problem) from a config",
        arguments=_optimize_arguments,
        handler=_optimize,
        description="Optimize CONFIG; started again on the same --out, it "
        "resumes from the last checkpoint",
    ),
    "gradcheck": Subcommand(
        help="compare a config's gradient with central finite differences (float64)",
        arguments=_gradcheck_arguments,
        handler=_gradcheck,
        description="Directional derivatives of the optimization loss along "
        "random unit directions: the configured gradient (optimize.gradient, "
        "adjoint)\nagainst central differences, in float64. Iterative solves in "
        "the loss are tightened to the scenario's check tolerance (printed)."
        "\nThe step is picked by a sweep whose neighbouring steps estimate the "
        "finite differences' noise floor.\n\n"
        "exit status: 0 passed; 1 gradient wrong (autodiff differs from finite "
        "differences beyond --tol and the noise floor);\n5 inconclusive (finite "
        "differences too noisy to judge: noise floor above --tol); 2 config "
        "error; 3 a loss evaluation failed.",
        raw_description=True,
    ),
    "sweep": Subcommand(
        help="run the cross product of parameter values as independent tasks",
        arguments=_sweep_arguments,
        handler=_sweep,
        description="Each task is an ordinary `diffsim run` in OUT/task_NNNN/; "
        "finished tasks are skipped when the sweep is run again.",
    ),
    "collect": Subcommand(
        help="gather a sweep's summary.json files into results.csv (and a plot)",
        arguments=_collect_arguments,
        handler=_collect,
    ),
    "config": Subcommand(
        help="print the fully resolved config without running",
        arguments=_show_arguments,
        handler=_show,
    ),
    "scenarios": Subcommand(
        help="list the registered scenarios, or describe one (its keys, "
        "defaults and meanings)",
        arguments=_scenarios_arguments,
        handler=_scenarios,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `diffsim`, one subparser per `COMMANDS` entry."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="diffsim",
        description="Differentiable PDE simulations on JAX, driven by YAML configs.",
    )
    parser.add_argument("--version", action="version", version=f"diffsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.arguments(
            sub.add_parser(
                name,
                help=command.help,
                description=command.description,
                formatter_class=argparse.RawDescriptionHelpFormatter
                if command.raw_description
                else argparse.HelpFormatter,
            )
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `diffsim ARGV` and return its exit code; every error a subcommand
    raises becomes one line on stderr and its exit code here."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # overrides may also follow options (`sweep CONFIG --grid ... time.t_end=1`)
    if (
        extra
        and hasattr(args, "overrides")
        and all("=" in e and not e.startswith("-") for e in extra)
    ):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    from .. import RunError
    from ..internal import describe_os_error
    from .errors import ConfigError, OptionError

    try:
        if getattr(args, "out", None) is not None:
            # before anything is read, compiled or written
            from .io import check_out_dir

            args.out = check_out_dir(args.out)
        return COMMANDS[args.command].handler(args)
    except OptionError as e:
        print(f"diffsim: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as e:
        print(f"diffsim: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except RunError as e:  # could not start, or had to stop
        print(f"diffsim: {e}", file=sys.stderr)
        return EXIT_RUN
    except OSError as e:  # an output that could not be written
        print(f"diffsim: {describe_os_error(e)}", file=sys.stderr)
        return EXIT_IO


if __name__ == "__main__":
    sys.exit(main())
