"""JAX-Fluids on the 2D Euler benchmark case, inviscid and viscous (#15, peer).

Runs the peer solver JAX-Fluids (Bezgin, Buhendwa & Adams 2023, "JAX-Fluids: A
fully-differentiable high-order computational fluid dynamics solver for
compressible two-phase flows", Comput. Phys. Commun. 282, 108527; version 2.0,
Bezgin et al. 2025) on the case of `benchmarks/euler.py`, and the same case
with viscosity and heat conduction on, and measures its compile time and
steady-state cell updates per second, one thread, float64. It is NOT run with
the project's interpreter: JAX-Fluids is not on PyPI, so it lives in its own
virtual environment built from its GitHub source snapshot (all commands in
`INSTALL` below and in the JSON's `info.install`)::

    python3 -m venv /tmp/jxfvenv
    /tmp/jxfvenv/bin/pip install "jax[cpu]==0.10.2"          # jax of diffsim's venv
    /tmp/jxfvenv/bin/pip install /tmp/jaxfluids_src           # tumaer/JAXFLUIDS
    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false taskset -c 0 \\
        /tmp/jxfvenv/bin/python benchmarks/jaxfluids_peer.py --steps 20

The script imports nothing from diffsim (it cannot: the two packages live in
different environments); the case is written out here.

The case (both variants; the lead runs the same in diffsim)
-------------------------------------------------------------

- Domain `[-5, 5]^2`, 256 x 256 cells (`--n`), periodic on all four sides.
- Ideal gas, `gamma = 1.4`, specific gas constant `R = 1` (temperature
  `T = p / rho`).
- Initial condition: the isentropic vortex of `configs/isentropic_vortex.yaml`
  (Shu 1998), strength `beta = 5`, centre `(0, 0)`, background velocity
  `(1, 1)`: with `r^2 = x^2 + y^2`,
  `T = 1 - (gamma - 1) beta^2 / (8 gamma pi^2) exp(1 - r^2)`,
  `rho = T^(1 / (gamma - 1))`, `p = rho^gamma`,
  `u = 1 - beta / (2 pi) exp((1 - r^2) / 2) y`,
  `v = 1 + beta / (2 pi) exp((1 - r^2) / 2) x`.
  JAX-Fluids takes these as point values at the cell centres (diffsim takes
  Gauss cell averages); the difference is invisible to the throughput.
- Scheme: WENO5-Z (Borges et al. 2008, `q = 1`, `eps = 1e-6` set through
  `precision.spatial_stencil_epsilon` to match diffsim's default; JAX-Fluids'
  own default is 1e-30) in characteristic variables of the primitive
  variables (`CHAR-PRIMITIVE`), eigenvectors at the arithmetic mean of the
  two cells (`frozen_state = ARITHMETIC`, as diffsim), HLLC with Einfeldt
  signal speeds (as diffsim's default), 5 halo cells (JAX-Fluids' setting
  for WENO5; 3 suffice), SSP-RK3 (JAX-Fluids' `RK3`, Shu-Osher).
- Time step: fixed, `dt = CFL / max over cells of sum_d (|u_d| + c) / dx`
  with `CFL = 0.5` on the initial state (diffsim's `Euler.stable_dt`, which
  is also JAX-Fluids' convective formula on a uniform grid). At 256^2
  this is `dt = 3.62207e-3` on JAX-Fluids' point values (the JSON's `dt`;
  diffsim's `stable_dt` on its cell averages gives 3.62219e-3). The viscous
  limit (`3/14 dx^2 / nu` with `nu = mu / rho`, JAX-Fluids' formula) is
  0.33 for `mu = 1e-3`: the convective one governs.
- Viscous variant (`viscous`): constant dynamic viscosity `mu = 1e-3`
  (`--viscosity`; Reynolds number `rho U L / mu = 1e4` with `U = 1`,
  `L = 10`), bulk viscosity 0, heat conduction from the Prandtl number
  `Pr = 0.72` (`kappa = mu c_p / Pr`, `c_p = gamma R / (gamma - 1) = 3.5`),
  viscous heating included (the energy equation's `div(tau . u)`). Face
  gradients and face values by 4th-order central stencils (JAX-Fluids'
  `dissipative_fluxes`: `reconstruction_stencil`, `derivative_stencil_face`
  and `derivative_stencil_center` = `CENTRAL4`, its defaults: normal
  derivatives at the face from the 4 cells around it, tangential ones as
  4th-order central derivatives at the cell centres interpolated to the
  face at 4th order).
- Steps: `--steps` (default 20) per timed call, after one untimed call.

What is timed
-------------

Two ways of stepping, each compiled ahead of time (`jax.jit(...).lower(...)
.compile()`, timed: the compile time) and then called `--repeats` times
(best call; `block_until_ready`; compile excluded):

- `rollout`: JAX-Fluids' differentiable fixed-step rollout,
  `SimulationManager._feed_forward` (the function behind `feed_forward`, a
  `lax.scan` over `_do_integration_step` without I/O), one outer step of
  `--steps` inner steps, no checkpointing, the trajectory not stored:
  what `diffsim.solve(op, SSPRK3(), y0, dt=dt, num_steps=steps)` does, and
  the comparable figure.
- `step_loop`: the jitted single step `SimulationManager._do_integration_step`
  called in a Python loop, as `SimulationManager.advance` (its `simulate`)
  does, but without its logging and HDF5 output (`fixed_timestep` set, so
  the step computes no time-step reduction).

Positivity logging (`output.logging.is_positivity`) is off: with it on,
every step also reduces minimum density and pressure for the log.

Cell updates per second per RK step = `cells * steps / time` (one SSP-RK3
step = three right-hand-side evaluations, as in `benchmarks/euler.py`).
Times are this process's CPU time (`time.process_time`, the clock of
`benchmarks/euler.py --threads 1`: on a shared core other processes inflate
wall time, not CPU time) and wall time; both are recorded, with
`/proc/loadavg` before and after each case.

Output: JSON at the path given (default
`benchmarks/results/jaxfluids_peer.json`).
"""

from __future__ import annotations

# jaxfluids lives in its own venv (see the docstring), not in diffsim's:
# pyright cannot resolve it.
# pyright: reportMissingImports=false
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false"
# how the venv this runs in was built (GIT_DIR: a bare clone or snapshot of
# github.com/tumaer/JAXFLUIDS; its largest docs files may be absent, hence the
# paths given to `git archive`)
INSTALL = [
    "git --git-dir=$GIT_DIR archive -o /tmp/jxf_src.tar HEAD src pyproject.toml "
    "setup.py LICENSE README.MD",
    "mkdir -p /tmp/jaxfluids_src && tar -xf /tmp/jxf_src.tar -C /tmp/jaxfluids_src",
    "git --git-dir=$GIT_DIR rev-parse HEAD > /tmp/jaxfluids_src/JAXFLUIDS_COMMIT",
    "python3 -m venv /tmp/jxfvenv",
    "/tmp/jxfvenv/bin/pip install --upgrade pip",
    '/tmp/jxfvenv/bin/pip install "jax[cpu]==0.10.2"',
    "/tmp/jxfvenv/bin/pip install /tmp/jaxfluids_src",
]

GAMMA = 1.4
GAS_CONSTANT = 1.0
STRENGTH = 5.0
VELOCITY = (1.0, 1.0)
LOWER, UPPER = -5.0, 5.0
CFL = 0.5
PRANDTL = 0.72


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("json", nargs="?", default=None, help="output JSON path")
    p.add_argument("--n", type=int, default=256, help="cells per side")
    p.add_argument("--steps", type=int, default=20, help="RK steps per timed call")
    p.add_argument("--repeats", type=int, default=2, help="timed calls per case")
    p.add_argument("--viscosity", type=float, default=1e-3)
    p.add_argument(
        "--cases",
        nargs="+",
        default=["inviscid", "viscous"],
        choices=["inviscid", "viscous"],
    )
    p.add_argument(
        "--modes",
        nargs="+",
        default=["rollout", "step_loop"],
        choices=["rollout", "step_loop"],
    )
    p.add_argument(
        "--threads",
        choices=["1", "all"],
        default="1",
        help="1: XLA_FLAGS and CPU affinity as benchmarks/euler.py --threads 1",
    )
    return p.parse_args(argv)


ARGS = parse_args()
if ARGS.threads == "1":
    # before JAX starts its thread pools
    os.environ.setdefault("XLA_FLAGS", ONE_THREAD_FLAGS)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _exact_density(n: int, t: float):
    """Density of the inviscid isentropic vortex at time `t`, at the cell
    centres (nearest periodic image of the advected centre)."""
    import numpy as np

    h = (UPPER - LOWER) / n
    x = LOWER + h * (np.arange(n) + 0.5)
    X, Y = np.meshgrid(x, x, indexing="ij")
    L = UPPER - LOWER
    dx = (X - VELOCITY[0] * t - LOWER) % L + LOWER
    dy = (Y - VELOCITY[1] * t - LOWER) % L + LOWER
    g, beta = GAMMA, STRENGTH
    temp = 1.0 - (g - 1) * beta**2 / (8 * g * np.pi**2) * np.exp(1 - dx**2 - dy**2)
    return temp ** (1 / (g - 1))


def case_setup(n: int, viscosity: float | None) -> dict:
    """JAX-Fluids case setup (the dictionary form of its case JSON)."""
    g, beta = GAMMA, STRENGTH
    ux, uy = VELOCITY
    amp = f"{beta / (2 * 3.141592653589793)!r}"
    swirl = f"{amp} * jnp.exp(0.5 * (1.0 - x**2 - y**2))"
    temp = (
        f"(1.0 - {(g - 1) * beta**2 / (8 * g * 3.141592653589793**2)!r} "
        "* jnp.exp(1.0 - x**2 - y**2))"
    )
    setup = {
        "general": {
            "case_name": "jaxfluids_peer",
            "end_time": 1e9,
            "save_path": "/tmp/jaxfluids_peer_results",
            "save_dt": 1e9,
        },
        "domain": {
            "x": {"cells": n, "range": [LOWER, UPPER]},
            "y": {"cells": n, "range": [LOWER, UPPER]},
            "z": {"cells": 1, "range": [0.0, 1.0]},
        },
        "boundary_conditions": {
            "east": {"type": "PERIODIC"},
            "west": {"type": "PERIODIC"},
            "north": {"type": "PERIODIC"},
            "south": {"type": "PERIODIC"},
            "top": {"type": "INACTIVE"},
            "bottom": {"type": "INACTIVE"},
        },
        "initial_condition": {
            "rho": f"lambda x, y: {temp} ** {1.0 / (g - 1)!r}",
            "u": f"lambda x, y: {ux!r} - {swirl} * y",
            "v": f"lambda x, y: {uy!r} + {swirl} * x",
            "w": 0.0,
            "p": f"lambda x, y: {temp} ** {g / (g - 1)!r}",
        },
        "material_properties": {
            "equation_of_state": {
                "model": "IdealGas",
                "specific_heat_ratio": g,
                "specific_gas_constant": GAS_CONSTANT,
            },
        },
        "nondimensionalization_parameters": {
            "density_reference": 1.0,
            "length_reference": 1.0,
            "velocity_reference": 1.0,
            "temperature_reference": 1.0,
        },
        "output": {"primitives": ["density", "velocity", "pressure"]},
    }
    if viscosity is not None:
        setup["material_properties"]["transport"] = {
            "dynamic_viscosity": {"model": "CUSTOM", "value": viscosity},
            "bulk_viscosity": 0.0,
            "thermal_conductivity": {"model": "PRANDTL", "prandtl_number": PRANDTL},
        }
    return setup


def numerical_setup(viscous: bool, dt: float | None) -> dict:
    """JAX-Fluids numerical setup: WENO5-Z (characteristic, primitive), HLLC,
    RK3, CENTRAL4 dissipative fluxes, double precision, no positivity fixes
    and no positivity logging."""
    time_integration: dict = {"integrator": "RK3", "CFL": CFL}
    if dt is not None:
        time_integration["fixed_timestep"] = dt
    return {
        "conservatives": {
            "halo_cells": 5,
            "time_integration": time_integration,
            "convective_fluxes": {
                "convective_solver": "GODUNOV",
                "godunov": {
                    "riemann_solver": "HLLC",
                    "signal_speed": "EINFELDT",
                    "reconstruction_stencil": "WENO5-Z",
                    "reconstruction_variable": "CHAR-PRIMITIVE",
                    "frozen_state": "ARITHMETIC",
                },
            },
            "dissipative_fluxes": {
                "reconstruction_stencil": "CENTRAL4",
                "derivative_stencil_center": "CENTRAL4",
                "derivative_stencil_face": "CENTRAL4",
            },
        },
        "active_physics": {
            "is_convective_flux": True,
            "is_viscous_flux": viscous,
            "is_heat_flux": viscous,
            "is_volume_force": False,
        },
        "precision": {
            "is_double_precision_compute": True,
            "is_double_precision_output": True,
            "spatial_stencil_epsilon": 1e-6,
        },
        "output": {
            "is_xdmf": False,
            "derivative_stencil": "CENTRAL4",
            "logging": {
                "level": "NONE",
                "is_positivity": False,
                "is_levelset_residuals": False,
            },
        },
    }


def _times(fn, arg, repeats: int) -> dict:
    import jax

    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(arg))
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return dict(wall=wall, cpu=cpu)


def _cost(compiled) -> dict:
    """XLA's flop and byte estimates of a compiled executable."""
    try:
        c = compiled.cost_analysis()
    except Exception as e:  # not every backend provides it
        return dict(error=repr(e))
    c = c[0] if isinstance(c, list) else c
    return {k: float(c[k]) for k in ("flops", "bytes accessed") if k in c}


def run_case(name: str) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jaxfluids import InitializationManager, InputManager, SimulationManager
    from jaxfluids.data_types.ml_buffers import CallablesSetup, ParametersSetup
    from jaxfluids.feed_forward.data_types import FeedForwardSetup

    viscous = name == "viscous"
    mu = ARGS.viscosity if viscous else None
    n = ARGS.n

    # the initial state, and the fixed dt of diffsim's Euler.stable_dt on it
    probe = InputManager(case_setup(n, mu), numerical_setup(viscous, None))
    buffers = InitializationManager(probe).initialization()
    nhx, nhy, nhz = SimulationManager(
        probe
    ).domain_information.domain_slices_conservatives
    prim = np.asarray(buffers.simulation_buffers.material_fields.primitives)
    rho, u, v, p = (prim[i, nhx, nhy, nhz] for i in (0, 1, 2, 4))
    c = np.sqrt(GAMMA * p / rho)
    dx = (UPPER - LOWER) / n
    dt = float(CFL / np.max((np.abs(u) + c + np.abs(v) + c) / dx))

    inputs = InputManager(case_setup(n, mu), numerical_setup(viscous, dt))
    sim = SimulationManager(inputs)
    jxf = InitializationManager(inputs).initialization()
    primes_init = jxf.simulation_buffers.material_fields.primitives[:, nhx, nhy, nhz]
    cells = n * n
    steps = ARGS.steps
    common = dict(
        case=name,
        n=n,
        cells=cells,
        steps=steps,
        dt=dt,
        viscosity=mu,
        prandtl=PRANDTL if viscous else None,
        primitives_shape=list(jxf.simulation_buffers.material_fields.primitives.shape),
    )
    rows = []
    for mode in ARGS.modes:
        load0 = _loadavg()
        if mode == "rollout":
            ff = FeedForwardSetup(
                outer_steps=1,
                inner_steps=steps,
                is_scan=True,
                is_checkpoint_inner_step=False,
                is_checkpoint_integration_step=False,
                is_include_t0=False,
                is_include_halos=False,
            )

            def rollout(q):
                # the public, batched `feed_forward` (a vmap of the scan) on
                # a batch of one
                out, _ = sim.feed_forward(
                    q[None], jnp.asarray([dt]), jnp.asarray([0.0]), ff
                )
                return out["primitives"][0, -1]

            arg = primes_init
            t0 = time.perf_counter()
            compiled = jax.jit(rollout).lower(arg).compile()
            compile_s = time.perf_counter() - t0
            fn = compiled
            cost = _cost(compiled)
        else:
            from jaxfluids.data_types.buffers import ControlFlowParameters

            cfp = ControlFlowParameters(None, None, None, None, False)

            def one_step(buf):
                out = sim.do_integration_step(
                    buf, cfp, ParametersSetup(), CallablesSetup()
                )[0]
                # the step's diagnostics (StepInformation) come back with
                # another pytree structure than the initial ones; nothing reads
                # them here, so the loop carries the input's
                return type(out)(
                    *(
                        old if name == "step_information" else new
                        for name, new, old in zip(type(out).__annotations__, out, buf)
                    )
                )

            arg = jxf
            t0 = time.perf_counter()
            step = jax.jit(one_step).lower(arg).compile()
            compile_s = time.perf_counter() - t0
            cost = _cost(step)

            def fn(buf):  # the Python loop of SimulationManager.advance, no I/O
                for _ in range(steps):
                    buf = step(buf)
                return buf.simulation_buffers.material_fields.primitives

        jax.block_until_ready(fn(arg))  # warm-up call, not counted
        times = _times(fn, arg, ARGS.repeats)
        final = np.asarray(fn(arg))
        if mode == "step_loop":  # primitives with halos; the rollout's have none
            final = final[:, nhx, nhy, nhz]
        best_cpu, best_wall = min(times["cpu"]), min(times["wall"])
        row = dict(
            common,
            mode=mode,
            compile_s=compile_s,
            # XLA's static estimate of the executable (the rollout: all steps;
            # the step loop: one step)
            xla_cost=cost,
            times_s=times,
            cell_updates_per_s=cells * steps / best_cpu,
            cell_updates_per_s_wall=cells * steps / best_wall,
            finite=bool(np.all(np.isfinite(final))),
            # sanity: mean |rho - exact inviscid vortex at t = steps * dt|
            density_l1_vs_exact=float(
                np.mean(np.abs(final[0, ..., 0] - _exact_density(n, steps * dt)))
            ),
            loadavg_before=load0,
            loadavg_after=_loadavg(),
        )
        print(
            f"# {name:<8} {mode:<9} n={n} steps={steps} compile {compile_s:6.2f} s  "
            f"best {best_cpu:.3f} s cpu / {best_wall:.3f} s wall  "
            f"{row['cell_updates_per_s']:.3e} cell upd/s (cpu)  "
            f"{row['cell_updates_per_s_wall']:.3e} (wall)  load {load0} -> "
            f"{row['loadavg_after']}",
            flush=True,
        )
        rows.append(row)
    return rows


def _git_commit(path: Path) -> str | None:
    marker = path / "JAXFLUIDS_COMMIT"
    if marker.exists():
        return marker.read_text().strip()
    return None


def main():
    import importlib.metadata as md

    import jax

    jax.config.update("jax_enable_x64", True)
    path = Path(ARGS.json or ROOT / "benchmarks" / "results" / "jaxfluids_peer.json")
    src = Path(os.environ.get("JAXFLUIDS_SRC", "/tmp/jaxfluids_src"))
    info = dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        cpu=cpu_model(),
        device=f"cpu ({cpu_model()})",
        jax_devices=[str(d) for d in jax.devices()],
        cpu_count=os.cpu_count(),
        affinity=sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        threads=ARGS.threads,
        xla_flags=os.environ.get("XLA_FLAGS", ""),
        precision="float64",
        timer="cpu (best call; wall recorded too)",
        python=platform.python_version(),
        jax=md.version("jax"),
        jaxlib=md.version("jaxlib"),
        jaxfluids=md.version("jaxfluids"),
        jaxfluids_commit=_git_commit(src),
        numpy=md.version("numpy"),
        install=INSTALL,
        command=" ".join([sys.executable, *sys.argv]),
        loadavg_start=_loadavg(),
        uptime_start=subprocess.run(
            ["uptime"], capture_output=True, text=True
        ).stdout.strip(),
        case=dict(
            domain=[[LOWER, UPPER], [LOWER, UPPER]],
            boundaries="periodic",
            gamma=GAMMA,
            gas_constant=GAS_CONSTANT,
            initial_condition=(
                f"isentropic vortex, strength {STRENGTH}, centre (0, 0), background "
                f"velocity {VELOCITY}, point values at cell centres"
            ),
            cfl=CFL,
            viscosity=ARGS.viscosity,
            prandtl=PRANDTL,
            scheme=(
                "WENO5-Z (q=1, eps=1e-6) CHAR-PRIMITIVE (arithmetic frozen state), "
                "HLLC (Einfeldt), RK3 (SSP), CENTRAL4 dissipative fluxes"
            ),
        ),
    )
    rows: list[dict] = []
    for name in ARGS.cases:
        rows.extend(run_case(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(info=info, rows=rows), indent=1))
    info["loadavg_end"] = _loadavg()
    path.write_text(json.dumps(dict(info=info, rows=rows), indent=1))
    print(f"# wrote {path}")


if __name__ == "__main__":
    main()
