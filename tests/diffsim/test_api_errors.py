"""Misused Python calls fail at once with an error that names the argument
and the expected value; traced values fail when the compiled program runs
(`eqx.error_if`); valid calls still work under `jit`, `vmap` and `grad`,
and the checks add nothing to the time loop."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim as ds
from diffsim.operators import (
    HLL,
    HLLC,
    PML,
    Burgers,
    Euler,
    FiniteDifference,
    FirstOrder,
    FourierSpectral,
    Grid,
    Helmholtz,
    IdealGas,
    KortewegDeVries,
    KuramotoSivashinsky,
    NavierStokesVorticity,
    discretize,
)
from diffsim.operators.finite_volume import NeuralFlux
from diffsim.operators.physics import PotentialFluxLaw

GRID = Grid([16], 0.0, 2.0 * np.pi)
DISC = FourierSpectral(GRID)
GRID2 = Grid([8, 8], 0.0, 2.0 * np.pi)
BURGERS = discretize(Burgers(0.1), DISC)
Y = jnp.sin(jnp.asarray(GRID.coordinates[0]))[None]
EULER = Euler(Grid([16]), reconstruction=FirstOrder(), riemann=HLL())
EY = jnp.stack([jnp.ones(16), jnp.zeros(16), jnp.ones(16)])
_NO_PML = PML(width=0)


def solve(**kw):
    args: dict[str, Any] = dict(
        operator=BURGERS, stepper=ds.ETDRK4(), y0=Y, dt=0.1, num_steps=2
    )
    args.update(kw)
    return ds.solve(args.pop("operator"), args.pop("stepper"), args.pop("y0"), **args)


def solve_cfl(**kw):
    args: dict[str, Any] = dict(
        operator=EULER, stepper=ds.SSPRK3(), y0=EY, t1=0.1, cfl=0.5, max_steps=50
    )
    args.update(kw)
    return ds.solve_cfl(
        args.pop("operator"), args.pop("stepper"), args.pop("y0"), **args
    )


def with_cell(y, channel, cell, value):
    return y.at[channel, cell].set(value)


NAN = float("nan")

# Many cases pass arguments of the wrong type on purpose (marked for pyright).
CASES = [
    # solve: time arguments
    (
        "solve dt=0",
        lambda: solve(dt=0.0),
        ValueError,
        r"solve: dt must be > 0 and finite, got 0\.0",
    ),
    (
        "solve dt<0",
        lambda: solve(dt=-0.1),
        ValueError,
        r"solve: dt must be > 0 and finite, got -0\.1",
    ),
    (
        "solve dt=nan",
        lambda: solve(dt=NAN),
        ValueError,
        r"solve: dt must be > 0 and finite, got nan",
    ),
    (
        "solve dt=str",
        lambda: solve(dt="0.1"),
        TypeError,
        r"solve: dt must be a real scalar, got shape \(\), dtype <U3",
    ),
    (
        "solve dt=array",
        lambda: solve(dt=np.array([0.1, 0.2])),
        TypeError,
        r"solve: dt must be a real scalar, got shape \(2,\)",
    ),
    (
        "solve t0=nan",
        lambda: solve(t0=NAN),
        ValueError,
        r"solve: t0 must be finite, got nan",
    ),
    (
        "solve num_steps<0",
        lambda: solve(num_steps=-1),
        ValueError,
        r"solve: num_steps must be a non-negative int, got -1",
    ),
    (
        "solve num_steps float",
        lambda: solve(num_steps=2.5),
        ValueError,
        r"solve: num_steps must be a non-negative int, got 2\.5",
    ),
    (
        "solve num_steps bool",
        lambda: solve(num_steps=True),
        ValueError,
        r"solve: num_steps must be a non-negative int, got True",
    ),
    # solve: y0
    (
        "solve y0 nan",
        lambda: solve(y0=with_cell(Y, 0, 3, NAN)),
        ValueError,
        r"solve: y0 must be finite, got nan in field 'velocity_x' at cell \(3,\)",
    ),
    (
        "solve y0 inf",
        lambda: solve(y0=with_cell(Y, 0, 5, np.inf)),
        ValueError,
        r"solve: y0 must be finite, got inf .* at cell \(5,\)",
    ),
    (
        "solve y0 list",
        lambda: solve(y0=Y.tolist()),
        TypeError,
        r"solve: y0 must be an array of physical fields, .* got a list",
    ),
    (
        "solve y0 scalar",
        lambda: solve(y0=1.0),
        TypeError,
        r"solve: y0 must be an array of physical fields, .* got 1\.0",
    ),
    (
        "solve y0 int",
        lambda: solve(y0=jnp.ones((1, 16), dtype=int)),
        TypeError,
        r"solve: y0 must be floating point, got dtype int64",
    ),
    (
        "solve y0 float32",
        lambda: solve(y0=Y.astype(jnp.float32)),
        TypeError,
        r"solve: y0 has dtype float32 but Burgers's parameters are float64, "
        r".*complex64 into complex128; pass y0.astype\(float64\)",
    ),
    (
        "solve y0 complex",
        lambda: solve(y0=Y.astype(complex)),
        TypeError,
        r"solve: y0 has dtype complex128, .*pass real fields \(y0.real\)",
    ),
    (
        "solve y0 channels",
        lambda: solve(y0=jnp.concatenate([Y, Y])),
        ValueError,
        r"solve: y0 must have shape \(channels, \*cells\) with 1 channel\(s\) "
        r"\(velocity_x\) for Burgers, got shape \(2, 16\)",
    ),
    (
        "solve y0 no channel axis",
        lambda: solve(y0=Y[0]),
        ValueError,
        r"solve: y0 must have shape \(channels, \*cells\) .* got shape \(16,\)",
    ),
    (
        "solve y0 cells",
        lambda: solve(y0=Y[:, :8]),
        ValueError,
        r"solve: y0 does not fit Burgers: .*expected fields of shape \(1, 16\)",
    ),
    (
        "solve y0 Euler density<0",
        lambda: solve(
            operator=EULER, stepper=ds.SSPRK3(), dt=1e-3, y0=with_cell(EY, 0, 4, -1.0)
        ),
        ValueError,
        r"solve: y0 is not physical: density is -1 \(must be > 0\) at cell \(4,\)",
    ),
    # solve: strategy objects
    (
        "solve stepper class",
        lambda: solve(stepper=ds.RK4),
        TypeError,
        r"solve: stepper must be an AbstractStepper instance such as ETDRK4\(\), got "
        r"the class RK4 \(not an instance; call it: RK4\(\)\)",
    ),
    (
        "solve stepper str",
        lambda: solve(stepper="rk4"),
        TypeError,
        r"solve: stepper must be an AbstractStepper instance .* got the string 'rk4'",
    ),
    (
        "solve adjoint class",
        lambda: solve(adjoint=ds.CheckpointAdjoint),
        TypeError,
        r"solve: adjoint must be an AbstractAdjoint instance such as "
        r"DirectAdjoint\(\), got the class CheckpointAdjoint",
    ),
    (
        "solve saveat dict",
        lambda: solve(saveat={"t0": True}),
        TypeError,
        r"solve: saveat must be a SaveAt instance .* got a dict",
    ),
    (
        "solve operator str",
        lambda: solve(operator="burgers"),
        TypeError,
        r"solve: operator must be an AbstractOperator instance .* got the string "
        r"'burgers'",
    ),
    (
        "solve throw str",
        lambda: solve(throw="yes"),
        TypeError,
        r"solve: throw must be True or False, got the string 'yes'",
    ),
    (
        "solve etdrk on euler",
        lambda: solve(operator=EULER, y0=EY, dt=1e-3),
        TypeError,
        r"ETDRK4 needs an operator split into",
    ),
    (
        "SaveAt every=0",
        lambda: ds.SaveAt(every=0),
        ValueError,
        r"SaveAt: every must be >= 1 \(an int\), got 0",
    ),
    (
        "SaveAt every=str",
        lambda: ds.SaveAt(every="2"),
        ValueError,
        r"SaveAt: every must be >= 1 \(an int\), got '2'",
    ),
    (
        "SaveAt ts=nan",
        lambda: ds.SaveAt(ts=[0.1, NAN]),
        ValueError,
        r"SaveAt: ts must be finite",
    ),
    # solve_cfl
    (
        "solve_cfl cfl=0",
        lambda: solve_cfl(cfl=0.0),
        ValueError,
        r"solve_cfl: cfl must be > 0 and finite, got 0\.0",
    ),
    (
        "solve_cfl cfl<0",
        lambda: solve_cfl(cfl=-0.5),
        ValueError,
        r"solve_cfl: cfl must be > 0 and finite, got -0\.5",
    ),
    (
        "solve_cfl cfl=nan",
        lambda: solve_cfl(cfl=NAN),
        ValueError,
        r"solve_cfl: cfl must be > 0 and finite, got nan",
    ),
    (
        "solve_cfl t1<t0",
        lambda: solve_cfl(t0=0.2, t1=0.1),
        ValueError,
        r"solve_cfl: t1 must be >= t0, got t1=0\.1 < t0=0\.2",
    ),
    (
        "solve_cfl t1=inf",
        lambda: solve_cfl(t1=np.inf),
        ValueError,
        r"solve_cfl: t1 must be finite, got inf",
    ),
    (
        "solve_cfl max_steps=0",
        lambda: solve_cfl(max_steps=0),
        ValueError,
        r"solve_cfl: max_steps must be an int >= 1, got 0",
    ),
    (
        "solve_cfl y0 nan",
        lambda: solve_cfl(y0=with_cell(EY, 2, 7, NAN)),
        ValueError,
        r"solve_cfl: y0 must be finite, got nan in field 'pressure' at cell \(7,\)",
    ),
    (
        "solve_cfl y0 density<0",
        lambda: solve_cfl(y0=with_cell(EY, 0, 2, -0.5)),
        ValueError,
        r"solve_cfl: y0 is not physical: density is -0\.5 \(must be > 0\) at cell "
        r"\(2,\)",
    ),
    (
        "solve_cfl y0 pressure=0",
        lambda: solve_cfl(y0=with_cell(EY, 2, 9, 0.0)),
        ValueError,
        r"solve_cfl: y0 is not physical: pressure is 0 \(must be > 0\) at cell \(9,\)",
    ),
    (
        "solve_cfl saveat outside",
        lambda: solve_cfl(saveat=ds.SaveAt(ts=[0.05, 0.3])),
        ValueError,
        r"solve_cfl: saveat.ts must lie in \[t0, t1\] = \[0\.0, 0\.1\], got \[0\.3\]",
    ),
    (
        "solve_cfl saveat decreasing",
        lambda: solve_cfl(saveat=ds.SaveAt(ts=[0.08, 0.05])),
        ValueError,
        r"solve_cfl: saveat.ts must be increasing",
    ),
    (
        "solve_cfl stepper class",
        lambda: solve_cfl(stepper=ds.SSPRK3),
        TypeError,
        r"solve_cfl: stepper must be an AbstractStepper instance such as SSPRK3\(\), "
        r"got the class SSPRK3",
    ),
    (
        "solve_cfl y0 float32",
        lambda: solve_cfl(y0=EY.astype(jnp.float32)),
        TypeError,
        r"solve_cfl: y0 has dtype float32 but Euler's parameters are float64, and one "
        r"step does not keep the state's dtype; "
        r"pass y0.astype\(float64\)",
    ),
    (
        "solve_cfl y0 list",
        lambda: solve_cfl(y0=EY.tolist()),
        TypeError,
        r"solve_cfl: y0 must be an array",
    ),
    # operators: physical parameters
    (
        "Burgers nu<0",
        lambda: Burgers(-0.1),
        ValueError,
        r"Burgers: nu must be >= 0 and finite, got -0\.1",
    ),
    (
        "Burgers nu=nan",
        lambda: Burgers(NAN),
        ValueError,
        r"Burgers: nu must be >= 0 and finite, got nan",
    ),
    (
        "Burgers nu=str",
        lambda: Burgers("0.1"),
        TypeError,
        r"Burgers: nu must be >= 0 and finite, got dtype <U3",
    ),
    (
        "Burgers discretization",
        lambda: discretize(Burgers(0.1), "fourier"),
        TypeError,
        r"discretize: no strategy for str; known: .*FourierSpectral",
    ),
    (
        "Burgers physics",
        lambda: discretize("burgers", DISC),  # pyright: ignore[reportArgumentType]
        TypeError,
        r"discretize: physics must be an AbstractPhysics, got str",
    ),
    (
        "KdV nu<0",
        lambda: KortewegDeVries(nu=-1.0),
        ValueError,
        r"KortewegDeVries: nu must be >= 0 and finite, got -1\.0",
    ),
    (
        "KdV beta=inf",
        lambda: KortewegDeVries(beta=np.inf),
        ValueError,
        r"KortewegDeVries: beta must be finite, got inf",
    ),
    (
        "KS nu4=0",
        lambda: KuramotoSivashinsky(nu4=0.0),
        ValueError,
        r"KuramotoSivashinsky: nu4 must be > 0 and finite, got 0\.0",
    ),
    (
        "KS dimension",
        lambda: discretize(KuramotoSivashinsky(), FourierSpectral(GRID2)),
        ValueError,
        r"KuramotoSivashinsky \(derivative form\) is one-dimensional; use "
        r"KuramotoSivashinskyCombustion in 2D/3D",
    ),
    (
        "NS nu=nan",
        lambda: NavierStokesVorticity(NAN),
        ValueError,
        r"NavierStokesVorticity: nu must be >= 0 and finite, got nan",
    ),
    (
        "NS drag<0",
        lambda: NavierStokesVorticity(0.01, drag=-1.0),
        ValueError,
        r"NavierStokesVorticity: drag must be >= 0 and finite",
    ),
    (
        "NS forcing_wavenumber",
        lambda: NavierStokesVorticity(0.01, forcing_wavenumber=0),
        ValueError,
        r"NavierStokesVorticity: forcing_wavenumber must be an int >= 1, got 0",
    ),
    (
        "Helmholtz c<=0",
        lambda: Helmholtz(
            FiniteDifference(GRID2, 2),
            jnp.ones((8, 8)).at[2, 3].set(0.0),
            1.0,
            pml=_NO_PML,
        ),
        ValueError,
        r"Helmholtz: sound_speed must be > 0 and finite in every cell, got 0\.0 at "
        r"index \(2, 3\)",
    ),
    (
        "Helmholtz c<0 scalar",
        lambda: Helmholtz(FiniteDifference(GRID2, 2), -1500.0, 1.0, pml=_NO_PML),
        ValueError,
        r"Helmholtz: sound_speed must be > 0 and finite in every cell, got -1500\.0",
    ),
    (
        "Helmholtz omega=nan",
        lambda: Helmholtz(FiniteDifference(GRID2, 2), 1.0, NAN, pml=_NO_PML),
        ValueError,
        r"Helmholtz: omega must be > 0 and finite, got nan",
    ),
    (
        "Helmholtz omega<0",
        lambda: Helmholtz(FiniteDifference(GRID2, 2), 1.0, -2.0, pml=_NO_PML),
        ValueError,
        r"Helmholtz: omega must be > 0 and finite, got -2\.0",
    ),
    (
        "Helmholtz density=0",
        lambda: Helmholtz(
            FiniteDifference(GRID2, 2), 1.0, 1.0, density=0.0, pml=_NO_PML
        ),
        ValueError,
        r"Helmholtz: density must be > 0 and finite in every cell, got 0\.0",
    ),
    (
        "Helmholtz pml",
        lambda: Helmholtz(FiniteDifference(GRID2, 2), 1.0, 1.0, pml=20),  # pyright: ignore[reportArgumentType]
        TypeError,
        r"Helmholtz: pml must be a PML instance such as PML\(width=20\), got 20",
    ),
    (
        "IdealGas gamma=1",
        lambda: IdealGas(1.0),
        ValueError,
        r"IdealGas: gamma must be > 1 and finite, got 1\.0",
    ),
    (
        "IdealGas gamma=nan",
        lambda: IdealGas(NAN),
        ValueError,
        r"IdealGas: gamma must be > 1 and finite, got nan",
    ),
    # operators: strategy objects
    (
        "Euler reconstruction str",
        lambda: Euler(Grid([16]), reconstruction="weno5z"),  # pyright: ignore[reportArgumentType]
        TypeError,
        r"^Euler: reconstruction must be an AbstractReconstruction instance such as "
        r"WENO5Z\(\), got the string 'weno5z'$",
    ),
    (
        "Euler riemann class",
        lambda: Euler(Grid([16]), riemann=HLLC),  # pyright: ignore[reportArgumentType]
        TypeError,
        r"Euler: riemann must be an AbstractRiemannSolver instance such as HLLC\(\), "
        r"got the class HLLC \(not an instance; call it: HLLC\(\)\)",
    ),
    (
        "Euler eos str",
        lambda: Euler(Grid([16]), eos="air"),  # pyright: ignore[reportArgumentType]
        TypeError,
        r"Euler: eos must be an AbstractEquationOfState instance such as "
        r"IdealGas\(gamma=1\.4\), got the string 'air'",
    ),
    (
        "Euler grid list",
        lambda: Euler([16]),  # pyright: ignore[reportArgumentType]
        TypeError,
        r"Euler: grid must be a Grid instance .* got a list",
    ),
    (
        "Euler variables",
        lambda: Euler(Grid([16]), variables="conservative"),
        ValueError,
        r"Euler: variables must be one of \('primitive', 'characteristic'\), got the "
        r"string 'conservative'",
    ),
    (
        "Euler positivity str",
        lambda: Euler(Grid([16]), positivity="yes"),  # pyright: ignore[reportArgumentType]
        TypeError,
        r"Euler: positivity must be True or False, got the string 'yes'",
    ),
    (
        "PotentialFluxLaw potential",
        lambda: PotentialFluxLaw(3.0),  # pyright: ignore[reportArgumentType]
        TypeError,
        r"^PotentialFluxLaw: potential must be callable, got float$",
    ),
    (
        "NeuralFlux base",
        lambda: NeuralFlux(BURGERS, key=jax.random.key(0)),  # pyright: ignore[reportArgumentType]
        TypeError,
        r"NeuralFlux: base must be an Euler instance such as Euler\(grid\), got a "
        r"FourierPDE",
    ),
]


@pytest.mark.parametrize(
    "call, kind, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_misuse_names_the_argument(call, kind, message):
    with pytest.raises(kind, match=message):
        call()


def test_case_table_is_large():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


# ------------------------------------------------ traced values: errors at run time


def test_traced_dt_is_checked_when_the_program_runs():
    run = eqx.filter_jit(lambda dt: solve(dt=dt).ys)
    np.testing.assert_allclose(run(jnp.asarray(0.1)), solve().ys, rtol=1e-12)
    with pytest.raises(
        eqx.EquinoxRuntimeError, match="solve: dt must be > 0 and finite"
    ):
        run(jnp.asarray(-0.1))


def test_traced_y0_is_checked_when_the_program_runs():
    run = eqx.filter_jit(lambda y: solve(y0=y).ys)
    with pytest.raises(
        eqx.EquinoxRuntimeError,
        match=r"solve: y0 must be finite \(it holds NaN or Inf\)",
    ):
        run(with_cell(Y, 0, 3, NAN))


def test_traced_y0_nan_passes_with_throw_false():
    ys = eqx.filter_jit(lambda y: solve(y0=y, throw=False).ys)(with_cell(Y, 0, 3, NAN))
    assert np.isnan(np.asarray(ys)).all()


def test_traced_parameters_are_the_losses_business():
    """A viscosity or sound speed being fitted is traced: it is not checked
    (an optimizer that leaves the physical range sees the loss, not an
    exception); the same values given concretely are refused (CASES)."""
    run = eqx.filter_jit(
        jax.vmap(lambda nu: solve(operator=discretize(Burgers(nu), DISC)).ys)
    )
    assert run(jnp.asarray([0.1, -0.2])).shape == (2, 1, 1, 16)
    disc = FiniteDifference(GRID2, 2)
    mass = eqx.filter_jit(lambda c: Helmholtz(disc, c, 1.0, pml=_NO_PML).mass())
    np.testing.assert_allclose(mass(jnp.full((8, 8), 2.0)), 0.25)
    assert np.isfinite(np.asarray(mass(jnp.full((8, 8), 2.0).at[1, 1].set(-2.0)))).all()
    with pytest.raises(ValueError, match="Burgers: nu must be >= 0 and finite"):
        Burgers(-0.2)


def test_traced_cfl_arguments_are_checked_when_the_program_runs():
    run = eqx.filter_jit(lambda y, t0, t1: solve_cfl(y0=y, t0=t0, t1=t1).ys)
    with pytest.raises(eqx.EquinoxRuntimeError, match="solve_cfl: t1 must be >= t0"):
        run(EY, jnp.asarray(0.2), jnp.asarray(0.1))
    with pytest.raises(
        eqx.EquinoxRuntimeError,
        match=r"solve_cfl: y0 is not physical: Euler needs density and pressure > 0",
    ):
        run(with_cell(EY, 2, 3, -1.0), jnp.asarray(0.0), jnp.asarray(0.1))


# ------------------------------------------------ valid calls keep working


def test_grad_and_vmap_through_checked_solve():
    """`grad` w.r.t. a viscosity built inside the loss (its check is traced)
    agrees with central differences; `vmap` over initial data matches a loop."""

    def loss(nu):
        return jnp.sum(
            solve(operator=discretize(Burgers(nu), DISC), num_steps=4).ys ** 2
        )

    g = jax.grad(loss)(0.1)
    eps = 1e-6
    fd = (loss(0.1 + eps) - loss(0.1 - eps)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6)
    ys = jax.vmap(lambda y: solve(y0=y).ys)(jnp.stack([Y, 2 * Y]))
    np.testing.assert_allclose(ys[1], solve(y0=2 * Y).ys, rtol=1e-12)


def test_grad_through_checked_solve_cfl():
    """The gradient of an Euler rollout w.r.t. its initial data passes the
    (traced) finiteness and positivity checks unchanged."""
    direction = jnp.stack(
        [jnp.sin(jnp.linspace(0, 2 * np.pi, 16)), jnp.zeros(16), jnp.zeros(16)]
    )

    def loss(s):
        return jnp.sum(
            solve_cfl(y0=EY + s * direction, t1=0.02, max_steps=10).ys[-1, 0] ** 2
        )

    g = jax.grad(loss)(0.1)
    eps = 1e-6
    np.testing.assert_allclose(
        g, (loss(0.1 + eps) - loss(0.1 - eps)) / (2 * eps), rtol=1e-5
    )


def _scan_bodies(jaxpr):
    for eqn in jaxpr.eqns:
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns"):
                if eqn.primitive.name == "scan":
                    yield inner
                yield from _scan_bodies(inner)


def test_checks_stay_out_of_the_time_loop():
    """The run-time checks sit before the loop: no callback (host round
    trip) inside any scan of a jitted solve with traced dt and y0."""
    jaxpr = jax.make_jaxpr(
        lambda y, dt: solve(y0=y, dt=dt, num_steps=6, saveat=ds.SaveAt(every=2)).ys
    )(Y, 0.1).jaxpr
    text = str(jaxpr)
    assert "callback" in text  # the entry checks are there...
    bodies = list(_scan_bodies(jaxpr))
    assert bodies and all(
        "callback" not in str(body) for body in bodies
    )  # ...and not in the loop
