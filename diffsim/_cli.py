"""The `diffsim` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_CONFIG = 2
EXIT_RUN = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffsim",
        description="Differentiable PDE simulations on JAX, driven by YAML configs.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a simulation from a config", description="Run CONFIG with dotted overrides, e.g. grid.cells=[512] time.t_end=2.0")
    run.add_argument("config", help="YAML config file")
    run.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, values parsed as YAML")
    run.add_argument("--out", required=True, type=Path, help="output directory (created)")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG figures")

    opt = sub.add_parser("optimize", help="run an optimization (inverse problem) from a config", description="Optimize CONFIG; started again on the same --out, it resumes from the last checkpoint")
    opt.add_argument("config", help="YAML config file")
    opt.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, values parsed as YAML")
    opt.add_argument("--out", required=True, type=Path, help="output directory (created; reused to resume)")
    opt.add_argument("--no-plots", action="store_true", help="skip the PNG figures")

    check = sub.add_parser("gradcheck", help="compare a config's gradient with central finite differences (float64)",
                           description="Directional derivatives of the optimization loss along random directions: the configured "
                           "gradient (optimize.gradient, adjoint) against central differences, in float64. Exit 1 beyond --tol.")
    check.add_argument("config", help="YAML config file of an optimization scenario")
    check.add_argument("overrides", nargs="*", metavar="key=value")
    check.add_argument("--directions", type=int, default=3, help="random directions (default 3)")
    check.add_argument("--eps", type=float, default=1e-6, help="finite-difference step along a unit direction")
    check.add_argument("--tol", type=float, default=1e-5, help="largest relative error accepted (default 1e-5)")
    check.add_argument("--all-modes", action="store_true", help="check reverse mode with every adjoint the scenario supports (direct, checkpoint; implicit for steady states) and forward mode, and that they agree")

    sw = sub.add_parser("sweep", help="run the cross product of parameter values as independent tasks",
                        description="Each task is an ordinary `diffsim run` in OUT/task_NNNN/; finished tasks are skipped when the sweep is run again.")
    sw.add_argument("config")
    sw.add_argument("overrides", nargs="*", metavar="key=value", help="overrides shared by every task")
    sw.add_argument("--grid", action="append", default=[], metavar="key=v1,v2", help="a swept key and its values (commas outside brackets separate values); repeat for a cross product")
    sw.add_argument("--out", required=True, type=Path)
    sw.add_argument("--executor", choices=["local", "slurm"], default="local", help="local process pool, or one SLURM job array via submitit (resources from the slurm: section)")
    sw.add_argument("--workers", type=int, default=1, help="parallel local tasks (default 1: each task uses every core)")

    col = sub.add_parser("collect", help="gather a sweep's summary.json files into results.csv (and a plot)")
    col.add_argument("folder", type=Path)
    col.add_argument("--metric", help="summary figure to plot, e.g. errors.l1_density or cell_updates_per_s")
    col.add_argument("--param", help="swept key on the x axis, e.g. grid.cells")

    show = sub.add_parser("config", help="print the fully resolved config without running")
    show.add_argument("config")
    show.add_argument("overrides", nargs="*", metavar="key=value")

    scen = sub.add_parser("scenarios", help="list the registered scenarios, or describe one (its keys, defaults and meanings)")
    scen.add_argument("name", nargs="?", help="a scenario: print its description and every config key with its default and meaning")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # overrides may also follow options (`sweep CONFIG --grid ... time.t_end=1`)
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # Imports that pull in JAX come after argument parsing, so `--help` is instant.
    from ._config import ConfigError, load_config, resolved_dict

    if args.command == "collect":
        from ._sweep import collect

        if not (args.folder / "sweep.json").exists():
            print(f"diffsim: {args.folder} holds no sweep.json (not a sweep output folder)", file=sys.stderr)
            return EXIT_CONFIG
        try:
            path = collect(args.folder, args.metric, args.param)
        except ConfigError as e:
            print(f"diffsim: config error: {e}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"wrote {path}")
        return 0

    if args.command == "sweep":
        from ._sweep import sweep

        try:
            manifest = sweep(args.config, args.grid, args.overrides, args.out, executor=args.executor, workers=args.workers)
        except ConfigError as e:
            print(f"diffsim: config error: {e}", file=sys.stderr)
            return EXIT_CONFIG
        n, skipped, failed = len(manifest["tasks"]), manifest["skipped"], manifest["failed"]
        print(f"sweep: {n} tasks, {skipped} already finished, {n - skipped - len(failed)} ran, {len(failed)} failed")
        for folder in failed:
            print(f"  failed: {folder} (see task.log there)")
        return EXIT_RUN if failed else 0

    if args.command == "scenarios":
        from ._scenario import registry

        if args.name is not None:
            from ._config import describe_scenario

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

    if args.command == "gradcheck":
        from ._gradcheck_job import run_gradcheck

        try:
            return run_gradcheck(args, config, physics, scenario)
        except ConfigError as e:
            print(f"diffsim: config error: {e}", file=sys.stderr)
            return EXIT_CONFIG

    if args.command == "config":
        import yaml

        print(yaml.safe_dump(resolved_dict(config), sort_keys=False), end="")
        return 0

    from ._distributed import initialize
    from ._errors import RunError
    from ._run import precheck, run
    from ._scenario import SteadyScenario, TimeDependentScenario

    try:  # several processes (srun -n N, or the distributed: section) join here
        initialize(config.distributed)
    except RunError as e:
        print(f"diffsim: {e}", file=sys.stderr)
        return EXIT_RUN

    if args.command == "run":
        try:  # checks that need the initial fields, before --out is touched
            if not issubclass(scenario, (TimeDependentScenario, SteadyScenario)):
                raise ConfigError("scenario", f"{scenario.name} is an optimization problem with nothing to run forward: use diffsim optimize")
            precheck(config, physics, scenario)
        except ConfigError as e:
            print(f"diffsim: config error: {e}", file=sys.stderr)
            return EXIT_CONFIG

    if args.command == "optimize":
        from ._optimize_job import run_optimize

        try:
            summary = run_optimize(config, physics, scenario, args.out, plots=not args.no_plots)
        except ConfigError as e:
            print(f"diffsim: config error: {e}", file=sys.stderr)
            return EXIT_CONFIG
        except RunError as e:
            print(f"diffsim: {e}", file=sys.stderr)
            return EXIT_RUN
        print(
            f"{summary['scenario']}: loss {summary['loss_initial']:.6g} -> {summary['loss_final']:.6g} "
            f"in {summary['iterations']} iterations ({summary['wall_s']:.1f} s, compile {summary['compile_s']:.1f} s)"
        )
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
    if "steps" in summary:
        line = (
            f"{summary['scenario']}: {summary['steps']} steps to t={summary['t_final']:.4g} in {summary['run_s']:.2f} s "
            f"(compile {summary['compile_s']:.2f} s, {summary['cell_updates_per_s']:.3g} cell updates/s)"
        )
        if "batch" in summary:  # an ensemble: steps are the most any member took; errors the worst member's
            line = line.replace(": ", f": {summary['batch']['size']} members on {summary['batch']['devices']} device(s), up to ", 1)
    else:  # a steady solve
        line = f"{summary['scenario']}: solved in {summary['run_s']:.2f} s"
        if "iterations" in summary:
            line += f" ({summary['iterations']} iterations, relative residual {summary.get('relative_residual', float('nan')):.2e})"
    for name, value in summary.get("errors", {}).items():
        line += f", {name} {value:.3e}"
    print(line)
    print(f"outputs in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
