"""The `scheme:` keys of a finite-volume method, shared by every scenario
that runs on finite volumes: Euler's own section (`scenarios/_euler.py`)
extends this one, and `discretization: finite_volume` on any other scenario
reads it (`BuildContext.discretize`)."""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from .errors import KeyedError
from .schema import PhysicsConfig


class FiniteVolumeScheme(PhysicsConfig):
    """`scheme:` — the finite-volume method (keys map onto the constructors):
    the face reconstruction and the approximate Riemann solver."""

    reconstruction: Literal["first_order", "muscl", "weno5js", "weno5z", "teno5"] = (
        pydantic.Field(
            "weno5z",
            description="face reconstruction: first_order, muscl, weno5js, weno5z "
            "or teno5",
        )
    )
    limiter: Literal["minmod", "van_leer", "mc"] | None = pydantic.Field(
        None,
        description="MUSCL slope limiter: minmod (default with muscl), van_leer or "
        "mc; null for other reconstructions",
    )
    # WENO only: the weights' epsilon (default: the reconstruction's, 1e-6)
    weno_eps: float | None = pydantic.Field(
        None,
        gt=0.0,
        description="WENO weights' epsilon (null: the reconstruction's own, 1e-6)",
    )
    riemann: Literal["rusanov", "hll"] = pydantic.Field(
        "rusanov",
        description="approximate Riemann solver at faces, for any flux (wave "
        "speeds from the physics): rusanov or hll",
    )

    @pydantic.model_validator(mode="after")
    def _limiter_only_for_muscl(self):
        if self.reconstruction == "muscl" and self.limiter is None:
            self.limiter = "minmod"
        if self.reconstruction != "muscl" and self.limiter is not None:
            raise KeyedError(
                "limiter",
                f"applies to reconstruction=muscl only, not {self.reconstruction} "
                "(set scheme.limiter to null)",
            )
        if self.weno_eps is not None and not self.reconstruction.startswith("weno"):
            raise KeyedError(
                "weno_eps",
                f"applies to WENO reconstructions only, not {self.reconstruction} "
                "(set scheme.weno_eps to null)",
            )
        return self

    def build_reconstruction(self):
        """The `AbstractReconstruction` that `reconstruction` (with `limiter`,
        `weno_eps`) names."""
        from diffsim.operators.finite_volume import (
            MUSCL,
            TENO5,
            WENO5JS,
            WENO5Z,
            FirstOrder,
        )

        weno: dict[str, Any] = {} if self.weno_eps is None else {"eps": self.weno_eps}
        return {
            "first_order": FirstOrder,
            "muscl": lambda: MUSCL(limiter=self.limiter or "minmod"),
            "weno5js": lambda: WENO5JS(**weno),
            "weno5z": lambda: WENO5Z(**weno),
            "teno5": TENO5,
        }[self.reconstruction]()

    def build_riemann(self, **options):
        """The `AbstractRiemannSolver` that `riemann` names (also `hllc`,
        `hllc_lm` and `roe` for schemes that allow them, Euler's); `options`
        (Euler's `wave_speeds`, and `ma_limit` for `hllc_lm`) go to HLL, HLLC
        and HLLCLM."""
        from diffsim.operators.finite_volume import HLL, HLLC, HLLCLM, Roe, Rusanov

        return {
            "rusanov": Rusanov,
            "hll": lambda: HLL(**options),
            "hllc": lambda: HLLC(**options),
            "hllc_lm": lambda: HLLCLM(**options),
            "roe": Roe,
        }[self.riemann]()
