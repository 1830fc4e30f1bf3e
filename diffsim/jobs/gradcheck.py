"""`diffsim gradcheck`: a configured gradient against finite differences.

The check runs in float64. Iterative solves inside the loss (Helmholtz
linear solves, Newton-Krylov steady states) are tightened to the scenario's
`gradcheck_rtol` for the gradient and the finite differences alike; the
finite-difference step is picked by a sweep, whose neighbours also estimate
the noise floor. The verdict is one of three (exit status): passed (0), the
gradient is wrong (1), or the finite differences are too noisy to judge
(`EXIT_INCONCLUSIVE`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import time

import equinox as eqx
import jax

from .. import RunError
from ..internal import (
    FD_STEPS,
    NOISE_MARGIN,
    PASSED,
    TOO_NOISY,
    WRONG,
    central_differences,
    directional_derivatives,
    judge,
    num_parameters,
    overall_verdict,
    random_directions,
    resolve_mode,
)
from .config import RunConfig
from .errors import ConfigError
from .run import precision
from .scenario import OptimizationScenario, build_problem

EXIT_MISMATCH = 1
#: Finite differences too noisy to judge the gradient (neither passed nor wrong).
EXIT_INCONCLUSIVE = 5
EXIT_CODES = {PASSED: 0, WRONG: EXIT_MISMATCH, TOO_NOISY: EXIT_INCONCLUSIVE}


def _progress(line: str) -> None:
    print(f"gradcheck: {line}", file=sys.stderr, flush=True)


def _steps(args) -> tuple[float, ...]:
    if args.eps is not None and args.steps is not None:
        raise ConfigError(
            "--eps", "give either --eps (one step) or --steps (a sweep), not both"
        )
    if args.eps is not None:
        if not args.eps > 0:
            raise ConfigError("--eps", f"expected a positive step, got {args.eps:g}")
        return (10 * args.eps, args.eps, args.eps / 10)
    if args.steps is None:
        return FD_STEPS
    try:
        steps = sorted(
            {float(s) for s in args.steps.split(",") if s.strip()}, reverse=True
        )
    except ValueError:
        raise ConfigError(
            "--steps",
            "expected comma-separated numbers, e.g. 1e-2,1e-3,1e-4, got "
            f"{args.steps!r}",
        ) from None
    if len(steps) < 3 or not steps[-1] > 0:
        raise ConfigError(
            "--steps",
            f"expected at least 3 distinct positive steps, got {args.steps!r}",
        )
    return tuple(steps)


def _check_options(args) -> None:
    if args.directions < 1:
        raise ConfigError(
            "--directions", f"expected a positive count, got {args.directions}"
        )
    if not args.tol > 0:
        raise ConfigError("--tol", f"expected a positive tolerance, got {args.tol:g}")
    if args.solver_rtol is not None and not args.solver_rtol > 0:
        raise ConfigError(
            "--solver-rtol", f"expected a positive tolerance, got {args.solver_rtol:g}"
        )


def _solver_rtol(args, config: RunConfig, scenario) -> tuple[float | None, str]:
    """The `solver.rtol` of the check and the line that reports it."""
    if scenario.gradcheck_rtol is None:
        if args.solver_rtol is not None:
            raise ConfigError(
                "--solver-rtol", f"{scenario.name} has no iterative solve in its loss"
            )
        return None, "iterative solves: none in this loss"
    configured = scenario.Solver.model_validate(config.solver).rtol
    if args.solver_rtol is not None:
        rtol, note = (
            args.solver_rtol,
            f" (--solver-rtol; the config's is {configured:g})",
        )
    else:
        rtol = min(scenario.gradcheck_rtol, configured)
        note = (
            ""
            if rtol == configured
            else f" (tightened from the config's {configured:g} for the check)"
        )
    return (
        rtol,
        f"iterative solves: solver.rtol = {rtol:g}{note}, for autodiff and finite "
        "differences alike",
    )


def _evaluation_error(e: Exception, rtol: float | None) -> RunError:
    """One line from a failed evaluation: the message of the `eqx.error_if`
    that fired (e.g. a solve that missed its tolerance), else the first line."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    marked = [
        line.split("EquinoxRuntimeError: ", 1)[1]
        for line in lines
        if "EquinoxRuntimeError: " in line
    ]
    first = marked[0] if marked else (lines[0] if lines else type(e).__name__)
    where = (
        ""
        if rtol is None
        else f" (iterative solves at solver.rtol = {rtol:g}; see --solver-rtol)"
    )
    return RunError(f"gradcheck: evaluating the loss failed{where}: {first}")


@contextlib.contextmanager
def _quiet_callbacks():
    """JAX logs a traceback when a callback raises (how `eqx.error_if`
    reports on CPU); the error itself is reported in one line instead."""
    logger = logging.getLogger("jax._src.callback")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def run_gradcheck(args, config: RunConfig, physics, scenario) -> int:
    if not issubclass(scenario, OptimizationScenario):
        raise ConfigError(
            "scenario",
            f"{scenario.name} is not an optimization problem: nothing to differentiate",
        )
    if config.batch is not None:
        raise ConfigError(
            "batch",
            "ensembles run with diffsim run; an optimization batches inside its own "
            "loss (remove batch:)",
        )
    _check_options(args)
    steps = _steps(args)
    adjoints = scenario.adjoints
    variants = [(config.adjoint, config.optimize.gradient)]
    if args.all_modes:
        first = next(iter(adjoints))
        variants = [(adjoint, "reverse") for adjoint in adjoints] + [(first, "forward")]
    rtol, rtol_line = _solver_rtol(args, config, scenario)
    solver = config.solver if rtol is None else {**config.solver, "rtol": rtol}
    started = time.perf_counter()

    with precision("float64"), _quiet_callbacks():
        problems = {}

        def problem_for(adjoint):
            if adjoint not in problems:
                cfg = config.model_copy(
                    update={
                        "adjoint": adjoint,
                        "precision": "float64",
                        "solver": solver,
                    }
                )
                problems[adjoint] = build_problem(scenario, cfg, physics)
            return problems[adjoint]

        try:
            base = problem_for(
                variants[0][0]
            )  # the scenario's own check of `adjoint:` first
            if config.adjoint not in adjoints:
                raise ConfigError(
                    "adjoint",
                    f"{scenario.name} supports {', '.join(adjoints)}, got "
                    f"{config.adjoint}",
                )
            count = num_parameters(base.params)
            directions = random_directions(
                base.params, args.directions, jax.random.key(config.seed)
            )
            print(
                f"gradcheck {scenario.name}: {count} parameters, {args.directions} "
                f"random unit direction(s), float64, tolerance {args.tol:g}"
            )
            print(rtol_line)
            sweep = ", ".join(f"{h:.0e}" for h in steps)
            print(
                f"finite differences: central, steps {sweep} along each direction; "
                "the step with the smallest estimated error is used, "
                "and that estimate is the noise floor"
            )
            for adjoint in dict.fromkeys(a for a, _ in variants):
                print(f"adjoint {adjoint}: {adjoints[adjoint]}")
            if len(variants) > 1:
                print(
                    "(the finite differences are computed once: the loss's value "
                    "does not depend on the adjoint)"
                )
            sys.stdout.flush()
            _progress(
                f"finite differences: {1 + 2 * len(steps) * args.directions} loss "
                "evaluations"
            )
            fds = central_differences(
                base.loss, base.params, directions, steps=steps, progress=_progress
            )
            results = []
            for adjoint, mode in variants:
                problem = problem_for(adjoint)
                used = resolve_mode(mode, problem.params)  # pyright: ignore[reportArgumentType]
                _progress(f"autodiff: {adjoint} adjoint, {used} mode")
                ads = directional_derivatives(
                    problem.loss,
                    problem.params,
                    directions,
                    mode=used,
                    progress=_progress,
                )
                results.append((adjoint, used, ads))
        except (
            eqx.EquinoxRuntimeError,
            jax.errors.JaxRuntimeError,
        ) as e:  # e.g. a solve that missed its tolerance
            raise _evaluation_error(e, rtol) from None

    print()
    print(
        f"{'adjoint':<11} {'mode':<8} {'direction':>9} {'autodiff':>22} "
        f"{'finite diff.':>22} {'step':>6} {'FD noise':>8} {'rel. error':>10}  "
        "verdict"
    )
    rows = []
    for adjoint, used, ads in results:
        for i, (ad, fd) in enumerate(zip(ads, fds)):
            row = {
                "adjoint": adjoint,
                "mode": used,
                "direction": i,
                "ad": ad,
                **fd,
                **judge(ad, fd["fd"], fd["noise"], args.tol, fd["jump"]),
            }
            rows.append(row)
            print(
                f"{adjoint:<11} {used:<8} {i:>9} {ad:>22.15e} {fd['fd']:>22.15e} "
                f"{fd['eps']:>6.0e} {row['noise_floor']:>8.1e} "
                f"{row['relative_error']:>10.2e}  "
                f"{row['verdict']}{' (kink)' if row['kink'] else ''}"
            )
    kinks = [r for r in rows if r["kink"]]
    if kinks:
        along = ", ".join(str(i) for i in dict.fromkeys(r["direction"] for r in kinks))
        print(
            "kink: the loss is not differentiable at these parameters along "
            f"direction(s) {along}: its one-sided derivatives "
            f"differ by up to {max(r['jump'] for r in kinks):.1e} (relative). "
            "Central differences give their mean; autodiff "
            "gives the derivative of one smooth piece (or a mix), which must lie "
            "between them: the error is measured from "
            "that interval."
        )
    disagreements = []
    for (a, ga), (b, gb) in itertools.combinations(
        [(f"{adj}/{m}", ads) for adj, m, ads in results], 2
    ):
        spread = max(abs(x - y) / max(abs(x), abs(y), 1e-300) for x, y in zip(ga, gb))
        if not spread <= args.tol:
            disagreements.append(
                f"{a} and {b} differ by {spread:.1e} > tolerance {args.tol:g}"
            )
        print(
            f"{a} vs {b}: max relative difference "
            f"{spread:.2e}{'' if spread <= args.tol else '  (beyond the tolerance)'}"
        )

    verdict = overall_verdict(
        [r["verdict"] for r in rows] + [WRONG] * len(disagreements)
    )
    floor = max(r["noise_floor"] for r in rows)
    elapsed = time.perf_counter() - started
    if verdict == PASSED:
        largest = f"largest relative error {max(r['relative_error'] for r in rows):.1e}"
        if kinks:
            largest += (
                f", {max(r['excess'] for r in rows):.1e} beyond the "
                "one-sided derivatives at the kink"
            )
        print(
            f"gradcheck: passed (tolerance {args.tol:g}; {largest}, "
            f"finite-difference noise floor up to {floor:.1e}; {elapsed:.1f} s)"
        )
    elif verdict == WRONG:
        wrong = [r for r in rows if r["verdict"] == WRONG]
        if wrong:
            r = wrong[0]
            differs = (
                f"lies {r['excess']:.1e} outside the one-sided derivatives at the kink"
                if r["kink"]
                else f"differs from the finite differences by {r['relative_error']:.1e}"
            )
            why = (
                f"{r['adjoint']}/{r['mode']} along direction {r['direction']} "
                f"{differs}, beyond the tolerance {args.tol:g} "
                f"and {NOISE_MARGIN:g}x the finite-difference noise floor "
                f"{r['noise_floor']:.1e}"
            )
        else:
            why = disagreements[0]
        print(f"gradcheck: GRADIENT WRONG: {why}")
    else:
        hint = (
            "tighten the solves (--solver-rtol)"
            if rtol is not None
            else "try other steps (--steps)"
        )
        print(
            "gradcheck: INCONCLUSIVE: the finite differences are too noisy to judge "
            "the gradient (noise floor up to "
            f"{floor:.1e}, tolerance {args.tol:g}); {hint} or raise --tol"
        )
    return EXIT_CODES[verdict]
