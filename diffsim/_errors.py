"""Errors users see as one line."""


class ConfigError(ValueError):
    """An invalid configuration; `str()` is the one-line message for users,
    starting with the dotted key at fault."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class RunError(RuntimeError):
    """A job that could not start (bad initial data) or had to stop
    (non-physical state, unconverged solve, NaN loss)."""
