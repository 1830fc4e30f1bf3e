from ._base import AbstractSpectralOperator as AbstractSpectralOperator
from .burgers import Burgers as Burgers
from .kdv import KortewegDeVries as KortewegDeVries
from .kuramoto_sivashinsky import (
    KuramotoSivashinsky as KuramotoSivashinsky,
    KuramotoSivashinskyCombustion as KuramotoSivashinskyCombustion,
)
from .navier_stokes import NavierStokesVorticity as NavierStokesVorticity
