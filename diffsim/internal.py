"""Library helpers shared by the job layer (`diffsim.jobs`), tests and
benchmarks: an internal namespace, as `lineax.internal` and
`equinox.internal`. These names are public so that no module imports another
module's private name; they are not the user-facing API (that is `diffsim`),
and they may change without notice.
"""

# The module itself, so that tests can inject faults at `files.write_fd`.
from . import _files as files  # noqa: F401
from ._adjoint import (
    format_bytes as format_bytes,
    leaf_steps as leaf_steps,
    near_divisor as near_divisor,
    plan_checkpoints as plan_checkpoints,
    step_bytes as step_bytes,
)
from ._backward_probe import (
    locate_nonfinite_gradient as locate_nonfinite_gradient,
    probing as probing,
)
from ._distributed import (
    barrier as barrier,
    broadcast as broadcast,
    initialize as initialize,
    is_main as is_main,
    launched_by_slurm as launched_by_slurm,
    place_like as place_like,
    to_host as to_host,
    tree_to_host as tree_to_host,
    wanted as wanted,
)
from ._ensemble import NotBatchable as NotBatchable
from ._files import (
    FolderInUse as FolderInUse,
    FolderLock as FolderLock,
    append_line as append_line,
    describe_os_error as describe_os_error,
    remove_stale_temporaries as remove_stale_temporaries,
)
from ._gradients import (
    FD_STEPS as FD_STEPS,
    NOISE_MARGIN as NOISE_MARGIN,
    PASSED as PASSED,
    TOO_NOISY as TOO_NOISY,
    WRONG as WRONG,
    central_differences as central_differences,
    directional_derivatives as directional_derivatives,
    judge as judge,
    num_parameters as num_parameters,
    overall_verdict as overall_verdict,
    pick_step as pick_step,
    random_directions as random_directions,
    resolve_mode as resolve_mode,
)
from ._horizon import (
    HorizonPoint as HorizonPoint,
    explosion as explosion,
    gradient_horizons as gradient_horizons,
    growth_rate as growth_rate,
)
from ._optimize import runtime_error_message as runtime_error_message
from ._parallel import (
    MESH_AXES as MESH_AXES,
    MeshError as MeshError,
    ShardedCFLConstrainedOperator as ShardedCFLConstrainedOperator,
    ShardedCFLOperator as ShardedCFLOperator,
    ShardedConstrainedOperator as ShardedConstrainedOperator,
    ShardedOperator as ShardedOperator,
    block_spec as block_spec,
    check_divisible as check_divisible,
    halo_width as halo_width,
    local_discretization as local_discretization,
    localize as localize,
    make_mesh as make_mesh,
    shard_operator as shard_operator,
    sharded_class as sharded_class,
)
