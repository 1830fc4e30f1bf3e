"""The `diffsim` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

EXIT_CONFIG = 2
EXIT_RUN = 3
EXIT_IO = 4  # an output could not be written (full disk, permissions) or --out is in use by another job


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffsim",
        description="Differentiable PDE simulations on JAX, driven by YAML configs.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"diffsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run a simulation from a config",
        description="Run CONFIG with dotted overrides, e.g. grid.cells=[512] time.t_end=2.0",
    )
    run.add_argument("config", help="YAML config file")
    run.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="dotted overrides, values parsed as YAML",
    )
    run.add_argument("--out", required=True, help="output directory (created)")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG figures")

    opt = sub.add_parser(
        "optimize",
        help="run an optimization (inverse problem) from a config",
        description="Optimize CONFIG; started again on the same --out, it resumes from the last checkpoint",
    )
    opt.add_argument("config", help="YAML config file")
    opt.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="dotted overrides, values parsed as YAML",
    )
    opt.add_argument(
        "--out", required=True, help="output directory (created; reused to resume)"
    )
    opt.add_argument("--no-plots", action="store_true", help="skip the PNG figures")

    check = sub.add_parser(
        "gradcheck",
        help="compare a config's gradient with central finite differences (float64)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Directional derivatives of the optimization loss along random unit directions: the configured "
        "gradient (optimize.gradient, adjoint)\nagainst central differences, in float64. Iterative solves in the loss "
        "are tightened to the scenario's check tolerance (printed).\nThe step is picked by a sweep whose neighbouring "
        "steps estimate the finite differences' noise floor.\n\n"
        "exit status: 0 passed; 1 gradient wrong (autodiff differs from finite differences beyond --tol and the noise "
        "floor);\n5 inconclusive (finite differences too noisy to judge: noise floor above --tol); 2 config error; 3 a "
        "loss evaluation failed.",
    )
    check.add_argument("config", help="YAML config file of an optimization scenario")
    check.add_argument("overrides", nargs="*", metavar="key=value")
    check.add_argument(
        "--directions", type=int, default=3, help="random unit directions (default 3)"
    )
    check.add_argument(
        "--eps",
        type=float,
        default=None,
        help="one finite-difference step along a unit direction (10 eps and eps/10 estimate its noise); default: a sweep",
    )
    check.add_argument(
        "--steps",
        default=None,
        metavar="H1,H2,...",
        help="finite-difference steps swept, at least 3 (default 1e-1,1e-2,...,1e-6)",
    )
    check.add_argument(
        "--tol",
        type=float,
        default=1e-5,
        help="largest relative error and noise floor accepted (default 1e-5)",
    )
    check.add_argument(
        "--solver-rtol",
        type=float,
        default=None,
        help="solver.rtol of the iterative solves during the check (default: the scenario's, e.g. 1e-12 for Helmholtz)",
    )
    check.add_argument(
        "--all-modes",
        action="store_true",
        help="check reverse mode with every adjoint the scenario supports and forward mode (one JVP per direction), and that they agree",
    )
    check.add_argument(
        "--horizon",
        action="store_true",
        help="instead: sweep the rollout length of a time-dependent config; print and plot the gradient norm of the final mean square and its AD-vs-FD agreement per horizon, and name where gradients explode (needs --out)",
    )
    check.add_argument(
        "--horizons",
        metavar="T1,T2,...",
        help="with --horizon: the horizons (default: 10 equal steps up to time.t_end)",
    )
    check.add_argument(
        "--out",
        type=Path,
        help="with --horizon: folder for horizon.json and horizon.png (created)",
    )
    check.add_argument(
        "--gain-limit",
        type=float,
        default=1e3,
        help="with --horizon: gradients explode where the backward pass amplifies the loss's gradient more than this (default 1e3)",
    )
    check.add_argument(
        "--fd-tol",
        type=float,
        default=1e-3,
        help="with --horizon: gradients also explode where AD and finite differences disagree by more than this (default 1e-3)",
    )

    sw = sub.add_parser(
        "sweep",
        help="run the cross product of parameter values as independent tasks",
        description="Each task is an ordinary `diffsim run` in OUT/task_NNNN/; finished tasks are skipped when the sweep is run again.",
    )
    sw.add_argument("config")
    sw.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="overrides shared by every task",
    )
    sw.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="key=v1,v2",
        help="a swept key and its values (commas outside brackets separate values); repeat for a cross product",
    )
    sw.add_argument("--out", required=True)
    sw.add_argument(
        "--executor",
        choices=["local", "slurm"],
        default="local",
        help="local process pool, or one SLURM job array via submitit (resources from the slurm: section)",
    )
    sw.add_argument(
        "--workers",
        type=int,
        default=1,
        help="parallel local tasks (default 1: each task uses every core)",
    )
    sw.add_argument(
        "--no-plots", action="store_true", help="skip each task's PNG figures"
    )

    col = sub.add_parser(
        "collect",
        help="gather a sweep's summary.json files into results.csv (and a plot)",
    )
    col.add_argument("folder", type=Path)
    col.add_argument(
        "--metric",
        help="summary figure to plot, e.g. errors.l1_density or cell_updates_per_s (default: the first error norm, else cell_updates_per_s)",
    )
    col.add_argument(
        "--param",
        help="swept key on the x axis, e.g. grid.cells (default: the first swept key)",
    )

    show = sub.add_parser(
        "config", help="print the fully resolved config without running"
    )
    show.add_argument("config")
    show.add_argument("overrides", nargs="*", metavar="key=value")

    scen = sub.add_parser(
        "scenarios",
        help="list the registered scenarios, or describe one (its keys, defaults and meanings)",
    )
    scen.add_argument(
        "name",
        nargs="?",
        help="a scenario: print its description and every config key with its default and meaning",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
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
    # Imports that pull in JAX come after argument parsing, so `--help` is instant.
    from .config import ConfigError, load_config, resolved_dict

    if (
        getattr(args, "out", None) is not None
    ):  # before anything is read, compiled or written
        from .io import check_out_dir

        try:
            args.out = check_out_dir(args.out)
        except ConfigError as e:
            print(f"diffsim: {e}", file=sys.stderr)
            return EXIT_CONFIG

    if args.command == "collect":
        from .sweep import collect

        if not (args.folder / "sweep.json").exists():
            print(
                f"diffsim: {args.folder} holds no sweep.json (not a sweep output folder)",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        try:
            path, plot = collect(args.folder, args.metric, args.param)
        except ConfigError as e:
            print(f"diffsim: config error: {e}", file=sys.stderr)
            return EXIT_CONFIG
        except OSError as e:
            return _io_failure(e)
        print(f"wrote {path}")
        if plot is not None:
            print(f"wrote {plot}")
        return 0

    if args.command == "sweep":
        from .sweep import sweep

        try:
            manifest = sweep(
                args.config,
                args.grid,
                args.overrides,
                args.out,
                executor=args.executor,
                workers=args.workers,
                plots=not args.no_plots,
            )
        except ConfigError as e:
            print(f"diffsim: config error: {e}", file=sys.stderr)
            return EXIT_CONFIG
        except OSError as e:
            return _io_failure(e)
        n, skipped, failed = (
            len(manifest["tasks"]),
            manifest["skipped"],
            manifest["failed"],
        )
        print(
            f"sweep: {n} tasks, {skipped} already finished, {n - skipped - len(failed)} ran, {len(failed)} failed"
        )
        for folder in failed:
            print(f"  failed: {folder} (see task.log there)")
        return EXIT_RUN if failed else 0

    if args.command == "scenarios":
        from .scenario import registry

        if args.name is not None:
            from .config import describe_scenario

            try:
                print(describe_scenario(args.name))
            except ConfigError as e:
                print(f"diffsim: config error: {e}", file=sys.stderr)
                return EXIT_CONFIG
            return 0
        for name, cls in registry().items():
            print(f"{name:<24} {cls.ndim}D  {cls.description}")
        return 0

    try:
        config, physics, scenario = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"diffsim: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG

    # a failed check inside compiled code (an unconverged solve) is reported in one line below; JAX would also log its traceback
    logging.getLogger("jax._src.callback").addFilter(
        lambda r: (
            not (r.exc_info and type(r.exc_info[1]).__name__ == "_EquinoxRuntimeError")
        )
    )

    if args.command == "gradcheck" and args.horizon:
        from .horizon import run_horizon

        return run_horizon(args, config, physics, scenario)
    if args.command == "gradcheck":
        from .. import RunError
        from .gradcheck import run_gradcheck

        try:
            return run_gradcheck(args, config, physics, scenario)
        except ConfigError as e:
            print(f"diffsim: config error: {e}", file=sys.stderr)
            return EXIT_CONFIG
        except RunError as e:  # a loss evaluation failed
            print(f"diffsim: {e}", file=sys.stderr)
            return EXIT_RUN

    if args.command == "config":
        import yaml

        print(yaml.safe_dump(resolved_dict(config), sort_keys=False), end="")
        return 0

    from .. import RunError
    from ..internal import initialize
    from .run import precheck, run
    from .scenario import SteadyScenario, TimeDependentScenario

    try:  # several processes (srun -n N, or the distributed: section) join here
        initialize(config.distributed)
    except RunError as e:
        print(f"diffsim: {e}", file=sys.stderr)
        return EXIT_RUN

    if args.command == "run":
        try:  # checks that need the initial fields, before --out is touched
            if not issubclass(scenario, (TimeDependentScenario, SteadyScenario)):
                raise ConfigError(
                    "scenario",
                    f"{scenario.name} is an optimization problem with nothing to run forward: use diffsim optimize",
                )
            precheck(config, physics, scenario)
        except ConfigError as e:
            print(f"diffsim: config error: {e}", file=sys.stderr)
            return EXIT_CONFIG

    if args.command == "optimize":
        from .optimize import run_optimize

        try:
            summary = run_optimize(
                config, physics, scenario, args.out, plots=not args.no_plots
            )
        except ConfigError as e:
            print(f"diffsim: config error: {e}", file=sys.stderr)
            return EXIT_CONFIG
        except RunError as e:
            print(f"diffsim: {e}", file=sys.stderr)
            return EXIT_RUN
        except OSError as e:
            return _io_failure(e)
        print(
            f"{summary['scenario']}: loss {summary['loss_initial']:.6g} -> {summary['loss_final']:.6g} "
            f"in {summary['iterations']} iterations ({summary['wall_s']:.1f} s, compile {summary['compile_s']:.1f} s)"
        )
        for (
            key,
            label,
        ) in scenario.headline.items():  # the figures the scenario is about
            if key in summary:
                print(f"{label}: {summary[key]:.4g}")
        print(f"outputs in {args.out}/")
        return 0

    try:
        summary = run(config, physics, scenario, args.out, plots=not args.no_plots)
    except ConfigError as e:  # checks a scenario can only make while building
        print(f"diffsim: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except RunError as e:
        print(f"diffsim: {e}", file=sys.stderr)
        return EXIT_RUN
    except OSError as e:
        return _io_failure(e)
    if "steps" in summary:
        line = (
            f"{summary['scenario']}: {summary['steps']} steps to t={summary['t_final']:.4g} in {summary['run_s']:.2f} s "
            f"(compile {summary['compile_s']:.2f} s, {summary['cell_updates_per_s']:.3g} cell updates/s)"
        )
        if (
            "batch" in summary
        ):  # an ensemble: steps are the most any member took; errors the worst member's
            line = line.replace(
                ": ",
                f": {summary['batch']['size']} members on {summary['batch']['devices']} device(s), up to ",
                1,
            )
    else:  # a steady solve
        line = f"{summary['scenario']}: solved in {summary['run_s']:.2f} s"
        if "iterations" in summary:
            line += f" ({summary['iterations']} iterations, relative residual {summary.get('relative_residual', float('nan')):.2e})"
    for name, value in summary.get("errors", {}).items():
        line += f", {name} {value:.3e}"
    print(line)
    print(f"outputs in {args.out}/")
    return 0


def _io_failure(error: OSError) -> int:
    """One line naming the file that could not be written; exit 4."""
    from ..internal import describe_os_error

    print(f"diffsim: {describe_os_error(error)}", file=sys.stderr)
    return EXIT_IO


if __name__ == "__main__":
    sys.exit(main())
