"""Grid: cell-centre coordinates, spacing and input validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.operators import Grid


def test_defaults_1d():
    grid = Grid(4)
    assert grid.cells == (4,)
    assert grid.lower == (0.0,)
    assert grid.upper == (1.0,)
    assert grid.ndim == 1
    assert grid.num_cells == 4
    assert grid.spacing == (0.25,)
    assert grid.axis_names == ("x",)
    np.testing.assert_allclose(
        grid.coordinates[0], [0.125, 0.375, 0.625, 0.875], rtol=0, atol=1e-15
    )


def test_coordinates_are_cell_centres_on_non_square_domain():
    grid = Grid((4, 6), lower=(-1.0, 2.0), upper=(1.0, 5.0))
    assert grid.ndim == 2
    assert grid.num_cells == 24
    assert grid.lengths == (2.0, 3.0)
    assert grid.spacing == (0.5, 0.5)
    assert grid.cell_volume == 0.25
    assert grid.axis_names == ("x", "y")
    x, y = grid.coordinates
    np.testing.assert_allclose(x, [-0.75, -0.25, 0.25, 0.75], rtol=0, atol=1e-15)
    np.testing.assert_allclose(y, 2.25 + 0.5 * np.arange(6), rtol=0, atol=1e-15)
    # half a cell from each end of the periodic interval
    for coords, lo, up, h in zip(
        grid.coordinates, grid.lower, grid.upper, grid.spacing
    ):
        assert coords[0] - lo == pytest.approx(h / 2, abs=1e-15)
        assert up - coords[-1] == pytest.approx(h / 2, abs=1e-15)


def test_mesh_uses_ij_indexing_and_dtype():
    grid = Grid((3, 5, 2), lower=(0.0, -1.0, 10.0), upper=(3.0, 4.0, 11.0))
    assert grid.axis_names == ("x", "y", "z")
    assert grid.spacing == (1.0, 1.0, 0.5)
    assert grid.cell_volume == 0.5
    X, Y, Z = grid.mesh()
    for m in (X, Y, Z):
        assert m.shape == (3, 5, 2)
        assert m.dtype == jnp.float64
    np.testing.assert_array_equal(X[:, 0, 0], grid.coordinates[0])
    np.testing.assert_array_equal(Y[0, :, 0], grid.coordinates[1])
    np.testing.assert_array_equal(Z[0, 0, :], grid.coordinates[2])
    # constant along the other axes
    np.testing.assert_array_equal(
        X, np.broadcast_to(grid.coordinates[0][:, None, None], X.shape)
    )
    assert grid.mesh(dtype=jnp.float32)[0].dtype == jnp.float32


def test_scalar_bounds_are_broadcast():
    grid = Grid((8, 4), lower=-np.pi, upper=np.pi)
    assert grid.lower == (-np.pi, -np.pi)
    assert grid.upper == (np.pi, np.pi)
    np.testing.assert_allclose(grid.spacing, (2 * np.pi / 8, 2 * np.pi / 4), rtol=1e-15)


def test_grid_is_static():
    """A grid has no array leaves: it is configuration, hashable, jit-static."""
    grid = Grid((4, 6), lower=(-1.0, 2.0), upper=(1.0, 5.0))
    assert jax.tree_util.tree_leaves(grid) == []
    assert grid == Grid((4, 6), lower=(-1, 2), upper=(1, 5))
    assert hash(grid) == hash(Grid((4, 6), lower=(-1, 2), upper=(1, 5)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(cells=()), "1 to 3 entries"),
        (dict(cells=(2, 2, 2, 2)), "1 to 3 entries"),
        (dict(cells=0), ">= 1"),
        (dict(cells=(4, -1)), ">= 1"),
        (dict(cells=(4, 4), lower=(0.0, 0.0, 0.0)), "same length"),
        (dict(cells=(4, 4), upper=(1.0,)), "same length"),
        (dict(cells=4, lower=1.0, upper=1.0), "upper > lower"),
        (dict(cells=(4, 4), lower=(0.0, 2.0), upper=(1.0, 1.0)), "upper > lower"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Grid(**kwargs)
