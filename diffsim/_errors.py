"""Errors users see as one line."""


class ConfigError(ValueError):
    """An invalid configuration; `str()` is the one-line message for users,
    starting with the dotted key at fault."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class KeyedError(ValueError):
    """Raised inside a config schema's validators (pydantic) to name the
    sub-key at fault: `raise KeyedError("c_min", "expected c_min < c_max")`
    in the `physics:` schema is reported as `physics.c_min: expected ...`.
    `key` may be dotted (`lens.size`) to name a deeper key."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


class RunError(RuntimeError):
    """A job that could not start (bad initial data) or had to stop
    (non-physical state, unconverged solve, NaN loss)."""
