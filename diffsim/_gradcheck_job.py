"""`diffsim gradcheck`: a configured gradient against finite differences."""

from __future__ import annotations

import itertools

import jax
import numpy as np

from ._config import RunConfig
from ._errors import ConfigError
from ._gradients import gradcheck, resolve_mode
from ._run import precision
from ._scenario import OptimizationScenario

EXIT_MISMATCH = 1


def run_gradcheck(args, config: RunConfig, physics, scenario) -> int:
    if not issubclass(scenario, OptimizationScenario):
        raise ConfigError("scenario", f"{scenario.name} is not an optimization problem: nothing to differentiate")
    if config.batch is not None:
        raise ConfigError("batch", "ensembles run with diffsim run; an optimization batches inside its own loss (remove batch:)")
    variants = [(config.adjoint, config.optimize.gradient)]
    if args.all_modes:
        adjoints = scenario.adjoints
        variants = [(adjoint, "reverse") for adjoint in adjoints] + [(adjoints[0], "forward")]
    failed, gradients = False, []
    print(f"{'adjoint':<11} {'mode':<8} {'direction':>9} {'autodiff':>22} {'finite diff.':>22} {'rel. error':>10}")
    with precision("float64"):
        for adjoint, mode in variants:
            cfg = config.model_copy(update={"adjoint": adjoint, "precision": "float64"})
            problem = scenario().build_problem(cfg, physics, jax.random.key(cfg.seed))
            used = resolve_mode(mode, problem.params)
            rows = gradcheck(problem.loss, problem.params, mode=mode, directions=args.directions, eps=args.eps)
            gradients.append([r["ad"] for r in rows])
            for i, row in enumerate(rows):
                bad = row["relative_error"] > args.tol
                failed |= bad
                print(f"{adjoint:<11} {used:<8} {i:>9} {row['ad']:>22.15e} {row['fd']:>22.15e} {row['relative_error']:>10.2e}{'  FAIL' if bad else ''}")
    for (a, b), (ga, gb) in zip(itertools.combinations(variants, 2), itertools.combinations(gradients, 2)):
        spread = float(np.max(np.abs(np.subtract(ga, gb)) / np.maximum(np.abs(ga), 1e-300)))
        agree = spread <= args.tol
        failed |= not agree
        print(f"{a[0]}/{a[1]} vs {b[0]}/{b[1]}: max relative difference {spread:.2e}{'' if agree else '  FAIL'}")
    print("gradcheck: FAILED" if failed else f"gradcheck: passed (tolerance {args.tol:g})")
    return EXIT_MISMATCH if failed else 0
