"""`diffsim gradcheck CONFIG --horizon`: how a time-dependent scenario's
gradient behaves as the rollout gets longer (see `_horizon.py`)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .. import solve
from ..internal import explosion, gradient_horizons, growth_rate
from .config import RunConfig
from .errors import ConfigError
from .io import write_json
from .plots import plot_horizon
from .run import precision
from .scenario import ADJOINTS, STEPPERS, TimeDependentScenario, build_setup

EXIT_CONFIG = 2
#: Default sweep: this many equally spaced horizons up to `time.t_end`.
DEFAULT_HORIZONS = 10
#: Finite-difference step along the unit direction when `--eps` is not given.
DEFAULT_EPS = 1e-6
#: Most blocks the host loop of a sweep may take (horizons whose common
#: step count is small would loop over nearly every time step).
MAX_BLOCKS = 2000
LOSS = "mean square of the final fields, L(T) = mean over fields and cells of y(T)^2"


def parse_horizons(text: str) -> list[float]:
    """`"0.5,1,2"` -> `[0.5, 1.0, 2.0]`, the value of `--horizons`."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(
            "--horizons",
            f"expected comma-separated times such as 0.5,1,2, got {text!r}",
        ) from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise ConfigError(
            "--horizons",
            f"expected positive finite times such as 0.5,1,2, got {text!r}",
        )
    return values


def run_horizon(args, config: RunConfig, physics, scenario) -> int:
    """The `--horizon` sweep of `diffsim gradcheck`: prints the table and
    the verdict, writes `horizon.json` and `horizon.png` into `--out`.
    Returns the exit code (0; 2 for a config error, printed as one line)."""
    try:
        return _run(args, config, physics, scenario)
    except ConfigError as e:
        print(f"diffsim: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG


def horizon_steps(
    config: RunConfig, horizons: list[float] | None
) -> tuple[list[int], int]:
    """The horizons as step counts (0 first, for the reference) and the
    block length: their greatest common divisor. Default: `DEFAULT_HORIZONS`
    equal steps up to `time.t_end`."""
    n, dt = config.num_steps, config.dt
    assert n is not None and dt is not None  # `_check` refuses time.cfl
    if horizons is None:
        block = max(1, n // DEFAULT_HORIZONS)
        steps = [k * block for k in range(1, min(DEFAULT_HORIZONS, n) + 1)]
    else:
        steps = sorted({round(t / dt) for t in horizons})
        if steps[0] < 1:
            raise ConfigError(
                "--horizons",
                f"{min(horizons):g} is shorter than one time step (dt = {dt:g})",
            )
        block = math.gcd(*steps)
    if steps[-1] // block > MAX_BLOCKS:
        raise ConfigError(
            "--horizons",
            f"the horizons' step counts {steps} share only {block} step(s), so the "
            "sweep would take "
            f"{steps[-1] // block} host round trips; choose horizons that are "
            "multiples of a common time",
        )
    return [0, *steps], block


def _check(config: RunConfig, scenario, args) -> None:
    if not issubclass(scenario, TimeDependentScenario) or config.time is None:
        raise ConfigError(
            "scenario",
            f"{scenario.name} is not time-dependent: --horizon sweeps the length of "
            "a rollout (use a config with a time: section)",
        )
    if config.time.dt is None:
        raise ConfigError(
            "time.cfl", "--horizon needs fixed steps: set time.dt (and time.cfl=null)"
        )
    if config.batch is not None:
        raise ConfigError(
            "batch", "--horizon differentiates one rollout; remove the batch: section"
        )
    if args.out is None:
        raise ConfigError(
            "--out",
            "required with --horizon: the folder for horizon.json and horizon.png",
        )
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError("--out", f"{args.out} exists and is not a folder")
    if not args.gain_limit > 1:
        raise ConfigError(
            "--gain-limit", f"expected a factor > 1, got {args.gain_limit:g}"
        )
    if not args.fd_tol > 0:
        raise ConfigError(
            "--fd-tol", f"expected a relative error > 0, got {args.fd_tol:g}"
        )
    if args.eps is not None and not args.eps > 0:
        raise ConfigError("--eps", f"expected a step > 0, got {args.eps:g}")


def _run(args, config: RunConfig, physics, scenario) -> int:
    _check(config, scenario, args)
    adjoint = ADJOINTS[config.adjoint]()  # a ConfigError for adjoint: implicit
    steps, block = horizon_steps(
        config, None if args.horizons is None else parse_horizons(args.horizons)
    )
    dt, eps = config.dt, (DEFAULT_EPS if args.eps is None else args.eps)
    assert dt is not None  # `_check` refuses time.cfl
    stepper = STEPPERS[config.stepper]()
    with precision("float64"):
        cfg = config.model_copy(update={"precision": "float64"})
        setup = build_setup(scenario, cfg, physics)
        op = setup.operator

        def advance(y, k):
            return solve(
                op,
                stepper,
                y,
                dt=dt,
                num_steps=block,
                t0=k * (block * dt),
                adjoint=adjoint,
            ).ys[-1]

        def loss(y):
            return jnp.mean(y**2)

        print(
            f"{scenario.name}: gradient of the {LOSS.split(',')[0]} with respect to "
            "the initial fields, "
            f"{len(steps) - 1} horizons up to T = {steps[-1] * dt:g} ({steps[-1]} "
            f"steps of dt = {dt:g}, "
            f"{config.stepper}, adjoint {config.adjoint}, float64)"
        )
        bar = tqdm(
            total=2 * steps[-1] // block,
            unit="block",
            delay=2.0,
            disable=not sys.stderr.isatty(),
            desc="horizon sweep",
            leave=False,
        )

        def tick(done: int, total: int) -> None:
            bar.update(1)

        with bar:
            points = gradient_horizons(
                advance,
                loss,
                jnp.asarray(setup.initial, jnp.float64),
                [s // block for s in steps],
                eps=eps,
                key=jax.random.key(cfg.seed),
                progress=tick,
            )
    times = [p.blocks * block * dt for p in points]
    rate = growth_rate(times, [p.gain for p in points])
    verdict = explosion(points, factor=args.gain_limit, tol=args.fd_tol)

    print(
        f"{'T':>9} {'steps':>7} {'loss':>11} {'|dL/dy0|':>11} {'gain':>10} "
        f"{'rate':>8} {'AD':>12} {'FD':>12} {'AD-FD err':>9}"
    )
    for i, (t, p) in enumerate(zip(times, points)):
        local = _local_rate(times, points, i)
        mark = "  <- explodes" if verdict.index == i else ""
        print(
            f"{t:>9.4g} {p.blocks * block:>7d} {p.loss:>11.4e} {p.grad_norm:>11.4e} "
            f"{p.gain:>10.3e} "
            f"{'' if local is None else f'{local:.3f}':>8} {p.ad:>12.5e} "
            f"{p.fd:>12.5e} {p.relative_error:>9.2e}{mark}"
        )
    e_fold = 1.0 / rate if np.isfinite(rate) and rate > 0 else None
    print(
        f"growth rate of the gradient (fit of ln gain against T): {rate:.4g} per "
        "unit time"
        + (f" (e-folding time {e_fold:.4g})" if e_fold else " (not growing)")
    )
    if verdict.index is None:
        print(f"no explosion up to T = {times[-1]:g}: {verdict.reason}")
    else:
        print(
            f"gradients explode at T = {times[verdict.index]:g} (step "
            f"{points[verdict.index].blocks * block}): {verdict.reason}"
        )
        for name, index in (
            ("gain above the limit", verdict.gain_index),
            ("AD-vs-FD agreement lost", verdict.fd_index),
        ):
            print(
                f"  {name}: "
                + (
                    "not within the sweep"
                    if index is None
                    else f"from T = {times[index]:g}"
                )
            )

    result = {
        "scenario": scenario.name,
        "loss": LOSS,
        "with_respect_to": "initial fields y0 (physical, every cell)",
        "stepper": config.stepper,
        "adjoint": config.adjoint,
        "dt": dt,
        "eps": eps,
        "direction": f"unit-norm Gaussian, jax.random.key(seed={cfg.seed})",
        "gain_limit": args.gain_limit,
        "fd_tol": args.fd_tol,
        "horizons": [
            {
                "t": t,
                "steps": p.blocks * block,
                "loss": p.loss,
                "grad_norm": p.grad_norm,
                "final_grad_norm": p.final_grad_norm,
                "gain": p.gain,
                "ad": p.ad,
                "fd": p.fd,
                "relative_error": p.relative_error,
            }
            for t, p in zip(times, points)
        ],
        "growth_rate": rate,
        "e_folding_time": e_fold,
        "explosion": None
        if verdict.index is None
        else {
            "t": times[verdict.index],
            "steps": points[verdict.index].blocks * block,
            "reason": verdict.reason,
            "gain_above_limit_from_t": None
            if verdict.gain_index is None
            else times[verdict.gain_index],
            "fd_agreement_lost_from_t": None
            if verdict.fd_index is None
            else times[verdict.fd_index],
        },
        "verdict": verdict.reason,
    }
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "horizon.json", result)
        plot = plot_horizon(result, out / "horizon.png", scenario.name)
    except OSError as e:
        raise ConfigError(
            "--out", f"cannot write into {out}: {e.strerror or e}"
        ) from None
    print(f"wrote {out / 'horizon.json'} and {plot}")
    return 0


def _local_rate(times, points, i):
    """`d ln gain / dT` between horizon `i - 1` and `i` (None for the first)."""
    if i == 0:
        return None
    a, b = points[i - 1].gain, points[i].gain
    if not (a > 0 and b > 0 and np.isfinite(a) and np.isfinite(b)):
        return None
    return math.log(b / a) / (times[i] - times[i - 1])
