"""The library's own error; everything else it raises is an ordinary
`ValueError` or `TypeError` naming the argument at fault."""


class RunError(RuntimeError):
    """A job that could not start (bad initial data) or had to stop
    (non-physical state, unconverged solve, NaN loss)."""
