"""Spectral solvers vs exponax: step time, FFT floor and gradient cost.

Runs our Fourier pseudo-spectral ETDRK solvers (`diffsim.solve` with
`operators.KuramotoSivashinsky` / `operators.NavierStokesVorticity`) and the
matching exponax 0.2 steppers in one process, on the same problem, at the same
precision and ETDRK order, and prints

- forward time per step of a jitted rollout of n steps (ours: `ds.solve`,
  exponax: `exponax.repeat`, a `lax.scan` over `stepper`), best of many rounds
  in which all variants run interleaved, compile excluded. `solve` computes the
  ETDRK coefficients inside the jitted call (exponax when the stepper is
  built); that fixed cost is timed on its own and subtracted, and reported;
- the "FFT floor": a jitted scan doing only the transforms one of our steps
  needs (KS: per nonlinear evaluation 1 irfft + 1 rfft of length 256; NS: per
  evaluation 1 batched irfft2 of 3 fields + 1 batched rfft2 of 2 fields), with
  a data dependence between them so XLA cannot drop or hoist them;
- reverse-mode gradient of `mean(u(T)^2)` after 100 steps w.r.t. the initial
  condition, and its cost relative to the 100-step forward rollout (for ours
  with the coefficient set-up taken out of both, as for the step time).

Usage (one thread, as in docs/benchmarks.md)::

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        taskset -c 0 python benchmarks/spectral.py --threads 1 --precision float64

`--threads 1` also pins the process to its first allowed CPU and sets the
XLA_FLAGS above if XLA_FLAGS is unset (before jax is imported). Note that
`intra_op_parallelism_threads=1` is not an XLA flag: after a `--` flag XLA
ignores it (on its own it would be read as a flags-file name and abort); the
single thread comes from the CPU affinity and `--xla_cpu_multi_thread_eigen`.

On a shared machine also run it under `nice -n -10` (docs/benchmarks.md does).

Clock: with `--threads 1` the table uses this process's CPU time by default
(`--timer cpu`), which stays meaningful when other processes take turns on the
same core (a shared 2-core machine); the best wall-clock figures are printed
too. Other processes' CPU use during each problem is measured and printed, as
they still compete for the shared cache and memory bandwidth. `--quick`
shortens everything (smoke test). `--json PATH` writes all numbers, including
every round's times.

Matching exponax (checked at start-up, the max difference is printed):

- KS: `exponax.stepper.KuramotoSivashinskyConservative(1, L, N, dt, order=k)`
  solves `u_t + 1/2 (u^2)_x + u_xx + u_xxxx = 0`, the same equation as ours.
- NS: `exponax.stepper.NavierStokesVorticity(2, 2 pi, N, dt, diffusivity=nu,
  order=k)` takes the stream function `psi = Laplacian^-1 w` (ours:
  `Laplacian psi = -w`) with the same `u = (psi_y, -psi_x)`, so its velocity is
  the negative of ours: exponax maps `-w0` to `-w(T)`. We compare it on `-w0`;
  the cost is identical. It evaluates the advective form `u . grad w` (4 irfft +
  1 rfft per evaluation), we the conservative `div(u w)` (3 irfft + 2 rfft);
  with 2/3 de-aliasing they agree to round-off.
- De-aliasing: exponax keeps `|k_i| <= floor(2/3 (N/2) - 1)` per axis, ours
  `|k_i| <= dealias (N/2)`; we pass `dealias = (floor(2/3 (N/2) - 1) + 1/2) / (N/2)`
  so the masks are identical (a constant mask: no effect on cost).
- exponax's `stepper(u)` works on physical fields and does one extra rfft +
  irfft per step; ours keeps the state in Fourier space across steps.
"""

# exponax, the peer, is installed only to run this benchmark (pip install exponax),
# not in diffsim's environment.
# pyright: reportMissingImports=false

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import time

DEFAULT_ONE_THREAD_FLAGS = (
    "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument(
        "--threads",
        choices=["1", "all"],
        default="all",
        help=(
            "1: pin to CPU 0 and single-threaded XLA flags (if XLA_FLAGS unset); "
            "all: leave as is"
        ),
    )
    p.add_argument("--precision", choices=["float32", "float64"], default="float64")
    p.add_argument(
        "--quick",
        action="store_true",
        help="few steps and repetitions: a smoke test, the numbers mean little",
    )
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument(
        "--only",
        default=None,
        help="comma-separated subset of problem ids (ks, ns128, ns256)",
    )
    p.add_argument(
        "--orders", default="2,4", help="ETDRK orders for NS (KS always uses 4)"
    )
    p.add_argument(
        "--timer",
        choices=["auto", "wall", "cpu"],
        default="auto",
        help=(
            "clock for the table: wall, or this process's CPU time (robust to other "
            "processes sharing the core; only meaningful single-threaded). auto: cpu "
            "with --threads 1, else wall"
        ),
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=(
            "first wait (at most this long) until other processes leave the CPUs "
            "idle for 10 s"
        ),
    )
    return p.parse_args(argv)


ARGS = parse_args()
TIMER = (
    ARGS.timer if ARGS.timer != "auto" else ("cpu" if ARGS.threads == "1" else "wall")
)
if ARGS.threads == "1":
    # Must happen before jax (and its thread pools) start.
    os.environ.setdefault("XLA_FLAGS", DEFAULT_ONE_THREAD_FLAGS)
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[0]})

import jax  # noqa: E402

jax.config.update("jax_enable_x64", ARGS.precision == "float64")

import exponax as ex  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import diffsim as ds  # noqa: E402
from diffsim.jobs.run import cpu_model as _cpu_model  # noqa: E402
from diffsim.operators import (  # noqa: E402
    FourierSpectral,
    Grid,
    KuramotoSivashinsky,
    NavierStokesVorticity,
    discretize,
)

STEPPERS = {2: ds.ETDRK2, 4: ds.ETDRK4}


# --------------------------------------------------------------------------- helpers


class CpuMeter:
    """CPU time used by *other* processes while we run (from /proc/stat), to
    flag results taken on a busy machine. Linux only; zeros elsewhere."""

    def __init__(self):
        self.start = self._read()

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except OSError:
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy = (sum(v[:8]) - v[3] - v[4]) / hz  # all but idle and iowait
        own = sum(os.times()[:4])
        return busy, own, time.perf_counter()

    def other(self) -> dict:
        end = self._read()
        if end is None or self.start is None:
            return dict(other_cpu_s=0.0, wall_s=0.0, other_cpu_frac=0.0)
        busy, own, wall = (e - s for e, s in zip(end, self.start))
        other = max(busy - own, 0.0)
        return dict(
            other_cpu_s=other, wall_s=wall, other_cpu_frac=other / max(wall, 1e-9)
        )


def wait_idle(max_wait: float, need: float = 10.0) -> float:
    """Wait until the machine has been idle (< 10% busy) for `need` s.

    Waits at most `max_wait` s.
    """
    t0, streak = time.perf_counter(), 0.0
    while streak < need and time.perf_counter() - t0 < max_wait:
        m = CpuMeter()
        time.sleep(1.0)
        o = m.other()
        ncpu = os.cpu_count() or 1
        streak = streak + 1.0 if o["other_cpu_frac"] < 0.1 * ncpu else 0.0
    return time.perf_counter() - t0


def interleaved_times(fns: dict, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Times (s) of each `f(x)` in `fns = {name: (f, x)}` over `rounds` rounds,
    the functions interleaved within each round, after one warm-up (compile)
    call each: `{"wall": {name: [...]}, "cpu": {name: [...]}}`, wall clock and
    this process's CPU time (all threads). Interleaving matters on shared
    (virtualised) machines, whose speed drifts by tens of per cent over
    seconds: the best of many interleaved rounds compares every function under
    the same conditions. CPU time is insensitive to other processes taking
    turns on our core (not to their cache and memory-bandwidth pressure)."""
    for f, x in fns.values():
        jax.block_until_ready(f(x))
    times: dict[str, dict[str, list[float]]] = {
        "wall": {n: [] for n in fns},
        "cpu": {n: [] for n in fns},
    }
    for _ in range(rounds):
        for name, (f, x) in fns.items():
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(f(x))
            times["cpu"][name].append(time.process_time() - c)
            times["wall"][name].append(time.perf_counter() - t)
    return times


def median_ratio(a, b) -> float:
    """Median over rounds of a[i] / b[i] (robust to slow phases of the machine)."""
    return float(np.median(np.asarray(a) / np.asarray(b)))


def hlo_ffts(f, x) -> dict[str, int]:
    """FFT instructions in the optimized HLO of `jit(f)(x)`, by type.

    A scan body counts once.
    """
    text = jax.jit(f).lower(x).compile().as_text()
    assert text is not None, "the CPU backend prints its executables"
    counts: dict[str, int] = {}
    for m in re.finditer(r"\bfft\((.*?)fft_type=(\w+)", text):
        counts[m.group(2)] = counts.get(m.group(2), 0) + 1
    return counts


def exponax_dealias_fraction(n: int) -> float:
    """Our `dealias` giving exponax's mask `|k| <= floor(2/3 (N/2) - 1)`."""
    return float((np.floor(2.0 / 3.0 * (n // 2) - 1.0) + 0.5) / (n // 2))


def random_field(shape, k_peak, seed):
    """Smooth, zero-mean random field with max |u| = 1.

    Its spectrum is a Gaussian of width `k_peak` (integer modes).
    """
    rng = np.random.default_rng(seed)
    ks = np.meshgrid(*[np.fft.fftfreq(n, 1.0 / n) for n in shape], indexing="ij")
    k = np.sqrt(sum(kk**2 for kk in ks))
    amp = np.exp(-0.5 * (k / k_peak) ** 2) * (k > 0)
    phase = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    u = np.real(np.fft.ifftn(amp * phase))
    return u / np.max(np.abs(u))


def fft_floor_fn(spatial, n_inv: int, n_fwd: int, evals: int, num_steps: int):
    """A jitted scan doing, per step, `evals` times: one batched inverse real FFT
    of `n_inv` fields and one batched forward real FFT of `n_fwd` fields (the
    transforms of one of our steps). The only other work is one fused
    elementwise op in physical space and a small concatenate in spectral space,
    which keep a data dependence from each transform to the next."""
    axes = tuple(range(-len(spatial), 0))

    def step(c, _):
        for _ in range(evals):
            p = jnp.fft.irfftn(c, s=spatial, axes=axes)  # (n_inv, *cells)
            q = 0.5 * (p[:n_fwd] + p[n_inv - 1 :])  # (n_fwd, *cells)
            s = jnp.fft.rfftn(q, axes=axes)  # (n_fwd, *spectrum)
            c = jnp.concatenate([s] + [s[:1]] * (n_inv - n_fwd)) if n_inv > n_fwd else s
        return c, None

    def run(c):
        return jax.lax.scan(step, c, None, length=num_steps)[0]

    return jax.jit(run)


# --------------------------------------------------------------------------- problems
def ks_problem(order):
    n, L, dt = 256, 60.0, 0.1
    op = discretize(
        KuramotoSivashinsky(),
        FourierSpectral(Grid(n, 0.0, L), dealias=exponax_dealias_fraction(n)),
    )
    st = ex.stepper.KuramotoSivashinskyConservative(1, L, n, dt, order=order)
    u0 = random_field((n,), k_peak=8.0, seed=0)[None]
    return dict(
        id="ks",
        name="KS 1D",
        grid=f"{n}",
        L=L,
        dt=dt,
        order=order,
        op=op,
        exponax=st,
        u0=u0,
        sign=1.0,
        fft_floor=dict(spatial=(n,), n_inv=1, n_fwd=1),
        nsteps=1000,
        rounds=20,
        grad_rounds=10,
        verify_steps=50,
    )


def ns_problem(n, order):
    L, nu, dt = 2 * np.pi, 1e-3, 0.01
    op = discretize(
        NavierStokesVorticity(nu=nu),
        FourierSpectral(Grid((n, n), 0.0, L), dealias=exponax_dealias_fraction(n)),
    )
    st = ex.stepper.NavierStokesVorticity(2, L, n, dt, diffusivity=nu, order=order)
    w0 = random_field((n, n), k_peak=6.0, seed=1)[None]
    return dict(
        id=f"ns{n}",
        name="NS 2D",
        grid=f"{n}^2",
        L=L,
        dt=dt,
        order=order,
        nu=nu,
        op=op,
        exponax=st,
        u0=w0,
        sign=-1.0,
        fft_floor=dict(spatial=(n, n), n_inv=3, n_fwd=2),
        nsteps=200 if n <= 128 else 100,
        rounds=12 if n <= 128 else 10,
        grad_rounds=6 if n <= 128 else 4,
        verify_steps=20,
    )


def run_problem(prob, quick: bool) -> dict:
    meter = CpuMeter()
    dtype = jnp.result_type(float)
    op, st, order, dt = prob["op"], prob["exponax"], prob["order"], prob["dt"]
    stepper = STEPPERS[order]()
    sign = prob["sign"]
    u0 = jnp.asarray(prob["u0"], dtype=dtype)
    n = max(prob["nsteps"] // 10, 5) if quick else prob["nsteps"]
    rounds = 3 if quick else prob["rounds"]
    ngrad = 10 if quick else 100
    grounds = 2 if quick else prob["grad_rounds"]

    def ours(k):
        return jax.jit(lambda u: ds.solve(op, stepper, u, dt=dt, num_steps=k).ys[-1])

    def theirs(k):
        # exponax's convention for NS is w -> -w (see module docstring); the
        # sign flips are outside the loop and cost nothing measurable.
        return jax.jit(lambda u: sign * ex.repeat(st, k)(sign * u))

    # --- agreement -------------------------------------------------------
    nv = prob["verify_steps"]
    a, b = ours(nv)(u0), theirs(nv)(u0)
    scale = float(jnp.max(jnp.abs(a)))
    verify = dict(
        steps=nv, max_abs_diff=float(jnp.max(jnp.abs(a - b))), max_abs_state=scale
    )
    verify["rel_diff"] = verify["max_abs_diff"] / scale

    # --- FFT counts in the compiled rollouts -----------------------------
    ffts = dict(ours=hlo_ffts(ours(3), u0), exponax=hlo_ffts(theirs(3), u0))

    # --- forward ---------------------------------------------------------
    # `solve` computes the ETDRK coefficients (`stepper.init`) inside the jitted
    # call; we time that separately (dt traced, so nothing is constant-folded)
    # and report the step time without it. exponax computes them eagerly when
    # the stepper is built.
    ff = prob["fft_floor"]
    spec = op.encode(u0)
    c0 = jnp.broadcast_to(spec, (ff["n_inv"], *spec.shape[1:]))
    init = jax.jit(lambda h: stepper.init(op, h))
    fwd = interleaved_times(
        dict(
            ours=(ours(n), u0),
            exponax=(theirs(n), u0),
            floor=(fft_floor_fn(ff["spatial"], ff["n_inv"], ff["n_fwd"], order, n), c0),
            ours_init=(init, jnp.asarray(dt, dtype=dtype)),
        ),
        rounds,
    )
    fwd_all, fwd = fwd, fwd[TIMER]
    best = {k: min(v) for k, v in fwd.items()}
    o_step = (best["ours"] - best["ours_init"]) / n
    e_step = best["exponax"] / n
    f_step = best["floor"] / n

    # --- gradient ----------------------------------------------------------
    def loss_ours(u):
        return jnp.mean(ds.solve(op, stepper, u, dt=dt, num_steps=ngrad).ys[-1] ** 2)

    def loss_theirs(u):
        return jnp.mean(ex.repeat(st, ngrad)(sign * u) ** 2)

    g_o, g_e = jax.jit(jax.grad(loss_ours)), jax.jit(jax.grad(loss_theirs))
    grad_diff = float(jnp.max(jnp.abs(g_o(u0) - g_e(u0))) / jnp.max(jnp.abs(g_o(u0))))
    grad = interleaved_times(
        dict(
            ours_grad=(g_o, u0),
            ours_fwd=(ours(ngrad), u0),
            exponax_grad=(g_e, u0),
            exponax_fwd=(theirs(ngrad), u0),
        ),
        grounds,
    )
    grad_all, grad = grad, grad[TIMER]
    gbest = {k: min(v) for k, v in grad.items()}
    init_s = best["ours_init"]

    return dict(
        problem=prob["name"],
        id=prob["id"],
        grid=prob["grid"],
        order=order,
        dt=dt,
        steps=n,
        rounds=rounds,
        precision=ARGS.precision,
        verify=verify,
        grad_rel_diff=grad_diff,
        hlo_ffts=ffts,
        ours_us=o_step * 1e6,
        exponax_us=e_step * 1e6,
        floor_us=f_step * 1e6,
        ours_total_us=best["ours"] / n * 1e6,
        ours_init_ms=init_s * 1e3,
        ratio_ours_exponax=o_step / e_step,
        ratio_ours_floor=o_step / f_step,
        ratio_ours_total_exponax=best["ours"] / best["exponax"],
        median_round_ratio_ours_exponax=median_ratio(
            np.subtract(fwd["ours"], best["ours_init"]), fwd["exponax"]
        ),
        median_round_ratio_ours_floor=median_ratio(
            np.subtract(fwd["ours"], best["ours_init"]), fwd["floor"]
        ),
        grad_steps=ngrad,
        grad_rounds=grounds,
        ours_grad_ms=gbest["ours_grad"] * 1e3,
        exponax_grad_ms=gbest["exponax_grad"] * 1e3,
        ours_fwd_ms=gbest["ours_fwd"] * 1e3,
        exponax_fwd_ms=gbest["exponax_fwd"] * 1e3,
        ours_grad_ratio=gbest["ours_grad"] / gbest["ours_fwd"],
        ours_grad_ratio_noinit=(gbest["ours_grad"] - init_s)
        / (gbest["ours_fwd"] - init_s),
        exponax_grad_ratio=gbest["exponax_grad"] / gbest["exponax_fwd"],
        timer=TIMER,
        times_s=dict(forward=fwd_all, gradient=grad_all),
        wall_ours_us=(min(fwd_all["wall"]["ours"]) - min(fwd_all["wall"]["ours_init"]))
        / n
        * 1e6,
        wall_exponax_us=min(fwd_all["wall"]["exponax"]) / n * 1e6,
        wall_floor_us=min(fwd_all["wall"]["floor"]) / n * 1e6,
        load=meter.other(),
    )


# --------------------------------------------------------------------------- output
def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def header() -> dict:
    import importlib.metadata as md

    return dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        devices=[str(d) for d in jax.devices()],
        cpu=_cpu_model(),
        cpu_count=os.cpu_count(),
        affinity=sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        threads=ARGS.threads,
        xla_flags=os.environ.get("XLA_FLAGS", ""),
        precision=ARGS.precision,
        python=platform.python_version(),
        jax=jax.__version__,
        jaxlib=md.version("jaxlib"),
        exponax=md.version("exponax"),
        diffsim=ds.__version__,
        quick=ARGS.quick,
        command=" ".join([os.path.basename(sys.executable), *sys.argv]),
    )


def print_table(rows):
    cols = [
        ("problem", "{problem}", 7),
        ("grid", "{grid}", 5),
        ("prec", "{precision}", 7),
        ("ord", "{order}", 3),
        ("ours us/step", "{ours_us:.1f}", 12),
        ("exponax us/step", "{exponax_us:.1f}", 15),
        ("ours/exponax", "{ratio_ours_exponax:.2f}", 12),
        ("FFT floor us/step", "{floor_us:.1f}", 17),
        ("ours/floor", "{ratio_ours_floor:.2f}", 10),
        ("ours init ms/call", "{ours_init_ms:.1f}", 17),
        ("grad/fwd ours", "{ours_grad_ratio_noinit:.2f}", 13),
        ("grad/fwd exponax", "{exponax_grad_ratio:.2f}", 16),
    ]
    line = " | ".join(name.rjust(w) for name, _, w in cols)
    print(line)
    print("-" * len(line))
    for r in rows:
        print(" | ".join(fmt.format(**r).rjust(w) for _, fmt, w in cols))


def print_details(rows):
    print()
    print("Details per problem:")
    print(
        "  init: our ETDRK coefficients (stepper.init, computed inside every solve "
        "call), subtracted from 'ours us/step' and from both sides of 'grad/fwd ours';"
    )
    print(
        "  total: ours including it; median ratios: median over rounds of the "
        "per-round ratio (drift check);"
    )
    print(
        "  FFTs: FFT instructions in the compiled HLO of a rollout (a scan body "
        "counted once, encode/decode included)"
    )
    for r in rows:
        v = r["verify"]
        print(
            f"  {r['problem']} {r['grid']} ETDRK{r['order']}, {r['steps']} steps x "
            f"{r['rounds']} rounds: init {r['ours_init_ms']:.2f} ms/call, ours total "
            f"{r['ours_total_us']:.1f} us/step (total/exponax "
            f"{r['ratio_ours_total_exponax']:.2f}); median ratios ours/exponax "
            f"{r['median_round_ratio_ours_exponax']:.2f}, ours/floor "
            f"{r['median_round_ratio_ours_floor']:.2f}"
        )
        print(
            f"      grad of {r['grad_steps']}-step loss ({r['grad_rounds']} rounds): "
            f"ours {r['ours_grad_ms']:.1f} ms (fwd {r['ours_fwd_ms']:.1f} ms, both "
            f"with init; ratio as called {r['ours_grad_ratio']:.2f}), exponax "
            f"{r['exponax_grad_ms']:.1f} ms (fwd {r['exponax_fwd_ms']:.1f} ms)"
        )
        print(
            f"      agreement after {v['steps']} steps: max|ours - exponax| = "
            f"{v['max_abs_diff']:.2e} (max|u| = {v['max_abs_state']:.3g}, rel "
            f"{v['rel_diff']:.1e}); gradients rel diff {r['grad_rel_diff']:.1e}"
        )
        print(
            f"      wall clock (best round): ours {r['wall_ours_us']:.1f}, exponax "
            f"{r['wall_exponax_us']:.1f}, floor {r['wall_floor_us']:.1f} us/step "
            f"(table clock: {r['timer']})"
        )
        print(
            f"      FFTs in HLO: ours {r['hlo_ffts']['ours']}, exponax "
            f"{r['hlo_ffts']['exponax']}"
        )
        print(
            f"      other processes used {r['load']['other_cpu_s']:.1f} CPU-s during "
            f"the {r['load']['wall_s']:.0f} s this problem took "
            f"({r['load']['other_cpu_frac']:.2f} CPUs on average)"
        )


def main():
    waited = wait_idle(ARGS.wait_idle) if ARGS.wait_idle > 0 else 0.0
    meter = CpuMeter()
    info = header()
    info["waited_for_idle_s"] = waited
    info["timer"] = TIMER
    info["loadavg_start"] = _loadavg()
    print("# Spectral solvers vs exponax")
    for key in (
        "date",
        "devices",
        "cpu",
        "cpu_count",
        "affinity",
        "threads",
        "xla_flags",
        "precision",
        "python",
        "jax",
        "jaxlib",
        "exponax",
        "diffsim",
        "command",
        "loadavg_start",
    ):
        print(f"# {key}: {info[key]}")
    print(
        f"# timer: {TIMER} "
        f"({'CPU time of this process' if TIMER == 'cpu' else 'wall clock'})"
    )
    print(
        "# us/step: best time of a jitted n-step rollout / n over interleaved rounds "
        "(compile excluded; ours without its per-call ETDRK coefficient set-up, see "
        "details); grad/fwd: reverse-mode gradient of mean(u_T^2) over 100 steps / "
        "the 100-step forward rollout (ours: both without the coefficient set-up)"
    )
    orders = [int(o) for o in ARGS.orders.split(",")]
    probs = [ks_problem(4)]
    for n in (128, 256):
        probs += [ns_problem(n, k) for k in orders]
    if ARGS.only:
        keep = set(ARGS.only.split(","))
        probs = [p for p in probs if p["id"] in keep]
    rows = []
    for prob in probs:
        t = time.perf_counter()
        rows.append(run_problem(prob, ARGS.quick))
        r = rows[-1]
        print(
            f"# done {r['problem']} {r['grid']} ETDRK{r['order']} in "
            f"{time.perf_counter() - t:.0f} s: ours {r['ours_us']:.1f} us/step, "
            f"exponax {r['exponax_us']:.1f} us/step, floor {r['floor_us']:.1f} us/step",
            flush=True,
        )
    print()
    print_table(rows)
    print_details(rows)
    info["loadavg_end"] = _loadavg()
    info["load"] = meter.other()
    print(
        f"\n# loadavg at start {info['loadavg_start']}, at end {info['loadavg_end']}; "
        f"other processes used {info['load']['other_cpu_s']:.0f} CPU-s during the "
        f"{info['load']['wall_s']:.0f} s run ({info['load']['other_cpu_frac']:.2f} "
        "CPUs on average)"
    )
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            json.dump(dict(info=info, results=rows), f, indent=2)
        print(f"\n# wrote {ARGS.json}")


if __name__ == "__main__":
    main()
