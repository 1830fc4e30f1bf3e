"""Time-harmonic acoustics: the heterogeneous Helmholtz operator with a PML,
its FFT preconditioners, and source maps."""

from ._pml import PML as PML
from .helmholtz import (
    DEFAULT_PRECONDITIONER as DEFAULT_PRECONDITIONER,
    DEFAULT_SHIFT as DEFAULT_SHIFT,
    Helmholtz as Helmholtz,
    HelmholtzPreconditioner as HelmholtzPreconditioner,
)
from .sources import (
    band_limited_delta as band_limited_delta,
    line_source as line_source,
    point_source as point_source,
)
