"""Argument checks shared by the constructors of `operators` and the solvers
of `diffsim` (an internal namespace, as `lineax.internal`): messages name
the owner, the argument and the expected value.

Values known in Python (numbers, NumPy and concrete JAX arrays) are checked
at once and raise `ValueError`/`TypeError`. A traced physical parameter (one
being fitted inside `jit`/`grad`/`vmap`) is not checked: keeping it in range
is the loss's business (a bounded parameter transform), and an optimizer that
wanders out of range must see the loss, not an exception. The solvers check
traced initial data and times at run time with `error_if`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import TypeCheckError

# Operator helpers that `diffsim`, scenarios, tests and benchmarks share
# (leaf modules: importing them here starts no cycle).
from ._halo import HaloExchange as HaloExchange
from ._operator import parameter as parameter
from .finite_volume._fused import (
    fused_face_map as fused_face_map,
    stencil_shifts as stencil_shifts,
)

_INF = float("inf")


_F = TypeVar("_F", bound=Callable)


def checks_own_arguments(fn: _F) -> _F:
    """Mark `fn` as checking its own arguments, with messages that name the
    expected value (the messages users see and tests pin).

    Under jaxtyping's import hook (the tests run with it) an argument that
    breaks `fn`'s annotations raises `jaxtyping.TypeCheckError` before `fn`'s
    own checks run. Then `fn` is called again unchecked: if its own checks
    reject the arguments too (for an `__init__`: it or the `__check_init__`
    methods equinox runs after it), their error is raised, as without the
    hook; if they accept them, the hook's error stands (an annotation is
    wrong).
    Without the hook this adds one `try`. Put it above other decorators.

    On a class whose `__init__` is generated (a dataclass field list checked
    by `__check_init__`), the hook leaves that `__init__` unchecked: its
    `__check_init__` is the check.
    """
    if isinstance(fn, type):
        setattr(fn, "__no_type_check__", True)  # read by jaxtyping's class wrapper
        return cast(_F, fn)

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TypeCheckError:
            setattr(fn, "__no_type_check__", True)  # read by jaxtyping's wrapper
            try:
                fn(*args, **kwargs)
                if fn.__name__ == "__init__":  # then equinox's __check_init__s
                    for kind in type(args[0]).__mro__:
                        if "__check_init__" in vars(kind):
                            vars(kind)["__check_init__"](args[0])
            finally:
                delattr(fn, "__no_type_check__")
            raise

    # A jaxtyping wrapper put around this one (a class's `__init__`) skips it.
    setattr(checked, "__no_type_check__", True)
    return cast(_F, checked)


def describe(value) -> str:
    """A short description of `value` for error messages."""
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, type):
        return (
            f"the class {value.__name__} (not an instance; call it: {value.__name__}())"
        )
    if value is None or isinstance(value, (bool, int, float, complex)):
        return repr(value)
    return f"a {type(value).__name__}"


@functools.singledispatch
def operator_name(operator) -> str:
    """How error messages name `operator`: its class name, or what a type
    registers instead (an operator built by `discretize` is named by its
    physics, e.g. `Burgers`)."""
    return type(operator).__name__


def check_instance(
    owner: str, name: str, value, kind: type, example: str | None = None
) -> None:
    """Raise `TypeError` unless `value` is an instance of `kind`."""
    if not isinstance(value, kind):
        article = "an" if kind.__name__[:1].lower() in "aeiou" else "a"
        such = f" such as {example}" if example else ""
        raise TypeError(
            f"{owner}: {name} must be {article} {kind.__name__} instance{such}, "
            f"got {describe(value)}"
        )


def positive(x):
    """`x > 0` and finite, elementwise (NaN fails); works on NumPy and JAX arrays."""
    return (x > 0) & (x < _INF)


def nonnegative(x):
    """`x >= 0` and finite, elementwise."""
    return (x >= 0) & (x < _INF)


def finite(x):
    """`x` finite, elementwise."""
    return abs(x) < _INF


def greater_than_one(x):
    """`x > 1` and finite, elementwise."""
    return (x > 1) & (x < _INF)


def concrete(value) -> np.ndarray | None:
    """`value` as a NumPy array, or None when it is traced."""
    try:
        return np.asarray(value)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def error_if(value, pred, message: str):
    """`eqx.error_if(value, pred, message)` (use the returned value), except
    in a program spread over several processes (`jax.process_count() > 1`):
    there the host callback that raises stalls the collective program, so the
    value passes unchecked (the runner still checks every snapshot)."""
    if jax.process_count() > 1:
        return value
    return eqx.error_if(value, pred, message)


def check_value(owner: str, name: str, value, rule: Callable, expected: str):
    """`value`, checked elementwise against `rule` (e.g. `positive`).

    Concrete: raise `ValueError` naming `owner`, `name`, `expected` and the
    first offending entry. Traced: returned unchecked (see the module
    docstring).
    """
    message = f"{owner}: {name} must be {expected}"
    array = concrete(value)
    if array is None:
        return value
    if array.dtype.kind not in "biuf":
        got = describe(value) if array.dtype == object else f"dtype {array.dtype}"
        raise TypeError(f"{message}, got {got}")
    ok = np.asarray(rule(array))
    if not ok.all():
        if array.ndim == 0:
            raise ValueError(f"{message}, got {array.item()!r}")
        where = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise ValueError(f"{message}, got {array[where].item()!r} at index {where}")
    return value


def checked_parameter(owner: str, name: str, rule: Callable, expected: str) -> Callable:
    """A field converter: `check_value`, then conversion to a JAX array in the
    default float dtype (a differentiable leaf, as `operators._operator.parameter`)."""

    def convert(x):
        x = check_value(owner, name, x, rule, expected)
        return jnp.asarray(x, dtype=jnp.result_type(float))

    return convert
