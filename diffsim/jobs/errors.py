"""The job layer's errors: a config value at fault, named by its dotted key.

The library (`diffsim`) raises ordinary `ValueError`/`TypeError` (and
`diffsim.RunError`); the job layer catches them where it hands config values
to the library and re-raises a `ConfigError` naming the key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class ConfigError(ValueError):
    """An invalid configuration; `str()` is the one-line message for users,
    starting with the dotted key at fault.

    **Arguments:**

    - `key`: the dotted config key (`time.dt`) or option (`--out`) at fault;
        empty for a problem with the file as a whole.
    - `message`: what is wrong and what is expected.
    """

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class OptionError(ConfigError):
    """A command-line option at fault (`--out`, a folder argument) rather
    than a config key: the CLI prints it without the `config error:` label.

    **Arguments:**

    - `option`: the option at fault (`--out`); empty when the message names
        it.
    - `message`: what is wrong and what is expected.
    """


class KeyedError(ValueError):
    """Raised inside a config schema's validators (pydantic) to name the
    sub-key at fault: `raise KeyedError("c_min", "expected c_min < c_max")`
    in the `physics:` schema is reported as `physics.c_min: expected ...`.

    **Arguments:**

    - `key`: the sub-key at fault; may be dotted (`lens.size`) to name a
        deeper key.
    - `message`: what is wrong and what is expected.
    """

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


@contextmanager
def config_key(key: str, *errors: type[Exception]) -> Iterator[None]:
    """Re-raise a library error as a `ConfigError` naming `key`.

    For the boundary where the job layer passes a config value to the library:
    `with config_key("parallel.mesh"): make_mesh(shape)` turns the library's
    `ValueError` into `parallel.mesh: <its message>`. A `ConfigError` raised
    inside passes through unchanged.

    **Arguments:**

    - `key`: the dotted config key whose value was passed.
    - `errors`: the exception types to convert (default `ValueError` and
        `TypeError`).
    """
    try:
        yield
    except ConfigError:
        raise
    except errors or (ValueError, TypeError) as e:
        raise ConfigError(key, str(e)) from None
