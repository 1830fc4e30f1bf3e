"""The exact solution of the Riemann problem of the 1D Euler equations for an
ideal or stiffened gas (Toro, *Riemann Solvers and Numerical Methods for Fluid
Dynamics*, 3rd ed., 2009, ch. 4; Ivings, Causon & Toro 1998 for the stiffened
gas), used as the reference for shock tubes.

`solve_riemann(left, right, gamma, p_inf=...)` returns a `RiemannSolution`
whose `sample(xi)` gives density, velocity and pressure at `xi = (x - x0) / t`;
`cell_averages` averages it over cells. Data whose rarefactions separate
(`u_R - u_L >= 2 (c_L + c_R) / (gamma - 1)`) generate a vacuum between the
two fans (Toro §4.6), which is solved exactly too. NumPy, float64, not
traced: a reference for tests and scenarios, not a differentiable solver.

Stiffened gas, `p = (gamma - 1) rho e - gamma p_inf`: with `P = p + p_inf`
the Euler equations become those of an ideal gas in `(rho, u, P)` (the energy
`E = P / (gamma - 1) + p_inf + rho u^2 / 2` differs from the ideal gas' by the
constant `p_inf`, the momentum flux by the constant `-p_inf`), so the waves,
star state and fans are Toro's with `p -> p + p_inf` throughout, which is how
they are computed here. The "vacuum" is then `P = 0`: density zero and
`p = -p_inf` (cavitation, outside the model's validity)."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class RiemannSolution:
    """Star-region state and the sampler of the self-similar solution.

    With `vacuum=True` the data generate a vacuum: `p_star = -p_inf` (0 for
    an ideal gas) and `u_star` is NaN (no star region); the vacuum spans
    `vacuum_speeds()`. Pressures are the physical `p`, not `p + p_inf`.
    """

    left: tuple[float, float, float]  # density, velocity, pressure
    right: tuple[float, float, float]
    gamma: float
    p_star: float
    u_star: float
    vacuum: bool = False
    p_inf: float = 0.0  # stiffened gas; 0: ideal gas

    def vacuum_speeds(self) -> tuple[float, float]:
        """Speeds of the left and right edges of the vacuum (Toro (4.80), (4.83))."""
        g = self.gamma
        (rl, ul, pl), (rr, ur, pr) = self.left, self.right
        pl, pr = pl + self.p_inf, pr + self.p_inf
        cl, cr = np.sqrt(g * pl / rl), np.sqrt(g * pr / rr)
        return ul + 2 * cl / (g - 1), ur - 2 * cr / (g - 1)

    def sample(self, xi):
        """Density, velocity, pressure at `xi = (x - x0) / t` (arrays)."""
        return _sample(np.asarray(xi, dtype=np.float64), self)


def _f(p, rho, pk, ck, gamma):
    """Toro (4.6)-(4.7): velocity change across a shock or rarefaction, and slope."""
    if p > pk:  # shock
        a, b = 2 / ((gamma + 1) * rho), (gamma - 1) / (gamma + 1) * pk
        q = np.sqrt(a / (p + b))
        return (p - pk) * q, q * (1 - 0.5 * (p - pk) / (p + b))
    r = (p / pk) ** ((gamma - 1) / (2 * gamma))  # rarefaction
    return 2 * ck / (gamma - 1) * (r - 1), (p / pk) ** (-(gamma + 1) / (2 * gamma)) / (
        rho * ck
    )


def solve_riemann(
    left, right, gamma=1.4, tol=1e-14, max_iter=100, *, p_inf=0.0
) -> RiemannSolution:
    """The exact solution of the Riemann problem `left` (x < x0) / `right`.

    **Arguments:**

    - `left`, `right`: `(density, velocity, pressure)`, density and
      `pressure + p_inf` > 0.
    - `gamma`: ratio of specific heats.
    - `tol`, `max_iter`: of the Newton iteration on Toro's (4.5) for the star
      pressure, started from the two-rarefaction guess.
    - `p_inf`: the stiffness pressure of a stiffened gas (>= 0; default 0,
      the ideal gas), see the module docstring.

    **Returns:** a `RiemannSolution` (with `vacuum=True` when the data
    generate a vacuum, Toro §4.6).
    """
    rl, ul, pl0 = map(float, left)
    rr, ur, pr0 = map(float, right)
    p_inf = float(p_inf)
    if not 0 <= p_inf < float("inf"):
        raise ValueError(f"exact Riemann solver: p_inf must be >= 0, got {p_inf}")
    pl, pr = pl0 + p_inf, pr0 + p_inf  # the ideal-gas pressures P = p + p_inf
    if min(rl, pl, rr, pr) <= 0:
        raise ValueError(
            "exact Riemann solver: densities and pressures must be positive"
            + (" (pressure + p_inf for a stiffened gas)" if p_inf else "")
        )
    cl, cr = np.sqrt(gamma * pl / rl), np.sqrt(gamma * pr / rr)
    if not gamma > 1:
        raise ValueError(f"exact Riemann solver: gamma must be > 1, got {gamma}")
    if (
        2 * (cl + cr) / (gamma - 1) <= ur - ul
    ):  # Toro (4.82): the pressure positivity condition fails
        return RiemannSolution(
            (rl, ul, pl0),
            (rr, ur, pr0),
            gamma,
            0.0 - p_inf,
            float("nan"),
            vacuum=True,
            p_inf=p_inf,
        )
    z = (gamma - 1) / (2 * gamma)
    p = ((cl + cr - 0.5 * (gamma - 1) * (ur - ul)) / (cl / pl**z + cr / pr**z)) ** (
        1 / z
    )
    p = max(p, 1e-12)
    for _ in range(max_iter):
        fl, dl = _f(p, rl, pl, cl, gamma)
        fr, dr = _f(p, rr, pr, cr, gamma)
        p_new = max(p - (fl + fr + ur - ul) / (dl + dr), 1e-14 * p)
        if abs(p_new - p) <= tol * 0.5 * (p_new + p):
            p = p_new
            break
        p = p_new
    else:
        raise RuntimeError("exact Riemann solver: Newton iteration did not converge")
    fl, _ = _f(p, rl, pl, cl, gamma)
    fr, _ = _f(p, rr, pr, cr, gamma)
    return RiemannSolution(
        (rl, ul, pl0),
        (rr, ur, pr0),
        gamma,
        p - p_inf,
        0.5 * (ul + ur) + 0.5 * (fr - fl),
        p_inf=p_inf,
    )


def _sample(xi, s: RiemannSolution):
    """Toro's sampling (§4.5) in the ideal-gas pressure `P = p + p_inf`."""
    rho, u, p = _sample_shifted(xi, s)
    return rho, u, p - s.p_inf


def _sample_shifted(xi, s: RiemannSolution):
    g = s.gamma
    rl, ul, pl = s.left
    rr, ur, pr = s.right
    pl, pr = pl + s.p_inf, pr + s.p_inf
    ps, us = s.p_star + s.p_inf, s.u_star
    cl, cr = np.sqrt(g * pl / rl), np.sqrt(g * pr / rr)
    gm, gp = (g - 1) / (g + 1), 2 / (g + 1)
    rho, u, p = np.empty_like(xi), np.empty_like(xi), np.empty_like(xi)
    if s.vacuum:
        return _sample_vacuum(xi, s, cl, cr, gp, rho, u, p)

    # left of the contact
    left = xi <= us
    if ps > pl:  # left shock
        rho_s = rl * (ps / pl + gm) / (gm * ps / pl + 1)
        speed = ul - cl * np.sqrt((g + 1) / (2 * g) * ps / pl + (g - 1) / (2 * g))
        pre = left & (xi < speed)
        star = left & ~pre
        rho[pre], u[pre], p[pre] = rl, ul, pl
        rho[star], u[star], p[star] = rho_s, us, ps
    else:  # left rarefaction
        rho_s = rl * (ps / pl) ** (1 / g)
        c_s = cl * (ps / pl) ** ((g - 1) / (2 * g))
        head, tail = ul - cl, us - c_s
        pre = left & (xi < head)
        fan = left & (xi >= head) & (xi < tail)
        star = left & (xi >= tail)
        rho[pre], u[pre], p[pre] = rl, ul, pl
        c = gp * (cl + (g - 1) / 2 * (ul - xi[fan]))
        u[fan] = gp * (cl + (g - 1) / 2 * ul + xi[fan])
        rho[fan] = rl * (c / cl) ** (2 / (g - 1))
        p[fan] = pl * (c / cl) ** (2 * g / (g - 1))
        rho[star], u[star], p[star] = rho_s, us, ps

    right = ~left
    if ps > pr:  # right shock
        rho_s = rr * (ps / pr + gm) / (gm * ps / pr + 1)
        speed = ur + cr * np.sqrt((g + 1) / (2 * g) * ps / pr + (g - 1) / (2 * g))
        post = right & (xi > speed)
        star = right & ~post
        rho[post], u[post], p[post] = rr, ur, pr
        rho[star], u[star], p[star] = rho_s, us, ps
    else:  # right rarefaction
        rho_s = rr * (ps / pr) ** (1 / g)
        c_s = cr * (ps / pr) ** ((g - 1) / (2 * g))
        head, tail = ur + cr, us + c_s
        post = right & (xi > head)
        fan = right & (xi <= head) & (xi > tail)
        star = right & (xi <= tail)
        rho[post], u[post], p[post] = rr, ur, pr
        c = gp * (cr - (g - 1) / 2 * (ur - xi[fan]))
        u[fan] = gp * (-cr + (g - 1) / 2 * ur + xi[fan])
        rho[fan] = rr * (c / cr) ** (2 / (g - 1))
        p[fan] = pr * (c / cr) ** (2 * g / (g - 1))
        rho[star], u[star], p[star] = rho_s, us, ps
    return rho, u, p


def _sample_vacuum(xi, s: RiemannSolution, cl, cr, gp, rho, u, p):
    """Two rarefactions with a vacuum between them (Toro §4.6.3): the fans'
    tails reach zero density at `vacuum_speeds()`; inside, density and
    pressure are zero and the velocity is set to zero (undefined there)."""
    g = s.gamma
    rl, ul, pl = s.left
    rr, ur, pr = s.right
    pl, pr = pl + s.p_inf, pr + s.p_inf
    tail_l, tail_r = s.vacuum_speeds()
    pre, post = xi < ul - cl, xi > ur + cr
    fan_l = (xi >= ul - cl) & (xi < tail_l)
    fan_r = (xi <= ur + cr) & (xi > tail_r)
    rho[:], u[:], p[:] = 0.0, 0.0, 0.0
    rho[pre], u[pre], p[pre] = rl, ul, pl
    rho[post], u[post], p[post] = rr, ur, pr
    c = gp * (cl + (g - 1) / 2 * (ul - xi[fan_l]))
    u[fan_l] = gp * (cl + (g - 1) / 2 * ul + xi[fan_l])
    rho[fan_l] = rl * (c / cl) ** (2 / (g - 1))
    p[fan_l] = pl * (c / cl) ** (2 * g / (g - 1))
    c = gp * (cr - (g - 1) / 2 * (ur - xi[fan_r]))
    u[fan_r] = gp * (-cr + (g - 1) / 2 * ur + xi[fan_r])
    rho[fan_r] = rr * (c / cr) ** (2 / (g - 1))
    p[fan_r] = pr * (c / cr) ** (2 * g / (g - 1))
    return rho, u, p


def cell_averages(solution: RiemannSolution, edges, t, x0, samples: int = 64):
    """Cell averages of the exact solution, as density, velocity and pressure.

    Mass, momentum and energy are averaged by the midpoint rule with `samples`
    points per cell, then converted. The solution is piecewise smooth, so the
    error is confined to the few cells holding a discontinuity and is
    O(jump / samples) there. Cells entirely in a vacuum get density, velocity
    and pressure zero (`-p_inf` for a stiffened gas).

    **Arguments:**

    - `solution`: the `RiemannSolution` (from `solve_riemann`).
    - `edges`: the cell edges, `n + 1` increasing coordinates.
    - `t`: the time (0: the initial data).
    - `x0`: the position of the initial discontinuity.
    - `samples`: midpoint samples per cell (default 64).

    **Returns:**

    `(density, velocity, pressure)`, NumPy arrays of `n` values each.
    """
    edges = np.asarray(edges, dtype=np.float64)
    frac = (np.arange(samples) + 0.5) / samples
    x = edges[:-1, None] + np.diff(edges)[:, None] * frac[None, :]
    if t == 0:
        xi = np.where(x < x0, -np.inf, np.inf)
    else:
        xi = (x - x0) / t
    rho, u, p = solution.sample(xi.ravel())
    mass = rho.reshape(x.shape)
    momentum = (rho * u).reshape(x.shape)
    g, p_inf = solution.gamma, solution.p_inf
    energy = ((p + g * p_inf) / (g - 1) + 0.5 * rho * u**2).reshape(x.shape)
    rho_avg, mom_avg, e_avg = mass.mean(1), momentum.mean(1), energy.mean(1)
    u_avg = np.divide(mom_avg, rho_avg, out=np.zeros_like(mom_avg), where=rho_avg > 0)
    p_avg = (g - 1) * (e_avg - 0.5 * rho_avg * u_avg**2) - g * p_inf
    return rho_avg, u_avg, p_avg
