"""Every invalid configuration is refused up front: exit 2, one line on
stderr naming the key, and `--out` never created (nothing compiled, nothing
written). Each case is one a user found; they run in-process through the
command line's `main`."""

from pathlib import Path

import pytest

from diffsim.jobs.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def _refused(capsys, tmp_path, command, config, overrides, key):
    out = tmp_path / "out"
    code, lines = _run(capsys, [command, str(config), *overrides, "--out", str(out)])
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("diffsim: config error: "), lines
    assert key in lines[0], lines
    assert "Traceback" not in lines[0]
    assert not out.exists(), f"{out} was created"
    return lines[0]


CASES = [
    # memory: the bytes a grid or a batch needs against the memory available
    ("run", "sod", ["grid.cells=[1000000000]"], "grid.cells: the run needs about"),
    (
        "run",
        "riemann_2d",
        ["grid.cells=[100000,100000]"],
        "grid.cells: the run needs about",
    ),
    (
        "run",
        "burgers_ensemble",
        ["batch.size=1000000000"],
        "batch.size: the run needs about",
    ),
    # overflows and absurd step counts
    (
        "run",
        "sod",
        ["time.t_end=1e300", "time.dt=1e-300", "time.cfl=null"],
        "time.t_end: Input should be less than or equal to 1e+100",
    ),
    (
        "run",
        "sod",
        ["time.t_end=1e90", "time.dt=1e-30", "time.cfl=null"],
        "time.dt: t_end / dt = 1e+120 steps",
    ),
    ("run", "ks_chaos", ["time.dt=1e-300"], "time.dt: t_end / dt = "),
    (
        "run",
        "sod",
        ["seed=123456789012345678901234567890"],
        "seed: Input should be less than or equal to 9223372036854775807",
    ),
    (
        "run",
        "sod",
        ["time.snapshots=1000000000"],
        "time.snapshots: Input should be less than or equal to 10000",
    ),
    (
        "run",
        "sod",
        ["time.max_steps=1000000000000"],
        "time.max_steps: Input should be less than or equal to 100000000",
    ),
    (
        "run",
        "sod",
        ["time.t_end=1e308"],
        "time.t_end: Input should be less than or equal to 1e+100",
    ),
    ("run", "sod", ["time.t_end=1e90"], "time.t_end: about 4.73e+92 steps"),
    ("run", "sod", ["time.cfl=1e-12"], "time.cfl: about"),
    (
        "run",
        "decaying_turbulence",
        ["physics.peak_wavenumber=1e-300"],
        "physics.peak_wavenumber: Input should be greater than or equal to 0.5",
    ),  # found by the fuzz: NaN initial data
    (
        "run",
        "sod",
        ["time.cfl=null", "time.dt=0.1"],
        "time.dt: the step 0.01 exceeds the stable step",
    ),
    (
        "run",
        "ks_chaos",
        ["time.dt=null", "time.cfl=0.5"],
        "time.cfl: scenario ks_chaos has no CFL condition",
    ),
    (
        "run",
        "sod",
        ["optimize.iterations=100000000000"],
        "optimize.iterations: Input should be less than or equal to 2147483647",
    ),
    # bools are not integers, numbers not strings
    (
        "run",
        "sod",
        ["grid.cells=[true]"],
        "grid.cells.0: Input should be a valid integer (got True)",
    ),
    ("run", "sod", ["time.snapshots=true"], "time.snapshots"),
    ("run", "acoustic_lens", ["physics.pml.width=true"], "physics.pml.width"),
    ("run", "sod", ["time.t_end='1'"], "time.t_end"),
    # validators name the sub-key, not the section
    (
        "optimize",
        "acoustic_lens",
        ["physics.c_min=2000"],
        "physics.c_min: expected c_min < c0 < c_max",
    ),
    (
        "run",
        "sod",
        ["scheme.limiter=minmod"],
        "scheme.limiter: applies to reconstruction=muscl only",
    ),
    (
        "optimize",
        "helmholtz_inclusion_inverse",
        ["physics.inclusions.0.sound_speed=3000"],
        "physics.inclusions.0.sound_speed",
    ),
    # checks that used to come after compiling and after config.yaml was written
    ("run", "helmholtz_point_source", ["physics.pml.width=200"], "physics.pml.width"),
    (
        "run",
        "sod",
        ["physics.interface=2.0"],
        "physics.interface: must lie inside the domain",
    ),
    (
        "optimize",
        "burgers_inverse",
        ["physics.sensors=1000"],
        "physics.sensors: at most grid.cells[0]",
    ),
    (
        "optimize",
        "shock_tube_inverse",
        ["physics.sensors=[0.5,2.0]"],
        "physics.sensors.1: sensor at 2.0 lies outside",
    ),
    (
        "optimize",
        "steady_fit",
        ["physics.modes=30"],
        "physics.modes: at most grid.cells[0] / 3",
    ),
    (
        "run",
        "riemann_2d",
        ["parallel.mesh=[64,1]"],
        "parallel.mesh: [64, 1] needs 64 devices",
    ),
    (
        "run",
        "ks_chaos",
        ["parallel.mesh=[1]"],
        "parallel.mesh: 1D Fourier-spectral problems cannot be split",
    ),
    (
        "run",
        "taylor_green",
        ["grid.cells=[6,8]", "parallel.mesh=[2,2]"],
        "grid.cells[0] = 6 must be divisible by 4",
    ),
    (
        "run",
        "riemann_2d",
        ["grid.cells=[8,8]", "parallel.mesh=[4,1]"],
        "parallel.mesh: blocks of 2 cells along axis 0",
    ),
    (
        "run",
        "helmholtz_point_source",
        ["parallel.mesh=[1,1]"],
        "parallel.mesh: scenario helmholtz_point_source is not time-dependent",
    ),
    (
        "run",
        "helmholtz_scattering",
        ["physics.inclusion.centre=[0,0,0]"],
        "physics.inclusion.centre: expected 2 coordinates",
    ),
    (
        "run",
        "helmholtz_point_source",
        ["physics.source_position=[0,0,0]"],
        "physics.source_position: expected 2 coordinates",
    ),
    (
        "run",
        "helmholtz_point_source",
        ["precision=float32", "solver.rtol=1e-9"],
        "solver.rtol: 1e-09 is below what float32 can reach",
    ),
    (
        "run",
        "acoustic_lens",
        ["solver.rtol=1e-300"],
        "solver.rtol: 1e-300 is below what float64 can reach",
    ),
    (
        "optimize",
        "burgers_inverse",
        ["adjoint=implicit"],
        "adjoint: implicit differentiation applies to steady states",
    ),
    (
        "optimize",
        "burgers_inverse",
        ["physics.observation_every=7"],
        "physics.observation_every: must divide",
    ),
    (
        "optimize",
        "helmholtz_inclusion_inverse",
        ["adjoint=checkpoint"],
        "adjoint: the Helmholtz solves are differentiated implicitly",
    ),
    (
        "optimize",
        "shock_tube_inverse",
        ["time.dt=0.05"],
        "time.dt: 0.006 gives CFL 1.82 > 0.8",
    ),
    (
        "optimize",
        "euler_flux_closure",
        ["time.cfl=null", "time.dt=0.001"],
        "time.cfl: the closure scenario takes a CFL number",
    ),
    (
        "run",
        "taylor_green",
        ["grid.upper=[1,1]"],
        "grid.upper: the exact solution needs the domain",
    ),
    # list indices and unknown keys
    (
        "run",
        "sod",
        ["physics.left.5=0.5"],
        "physics.left.5: physics.left is a list of 3 entries",
    ),
    (
        "run",
        "sod",
        ["grid.cells.x=3"],
        "grid.cells.x: grid.cells is a list of 1 entries",
    ),
    (
        "run",
        "ks_chaos",
        ["physics.nu=1"],
        "physics.nu: unknown key (did you mean nu4?); valid keys: nu4, initial",
    ),
    ("run", "sod", ["time.tend=1"], "time.tend: unknown key (did you mean t_end?)"),
    (
        "run",
        "sod",
        ["scenario=sodd"],
        "scenario: unknown scenario 'sodd' (did you mean sod?)",
    ),
    ("run", "sod", ["physics={gamma: 1.4, gamma: 1.5}"], "physics.gamma: in value"),
    ("run", "sod", ["grid.cells=[1"], "grid.cells: cannot parse value"),
    (
        "run",
        "sod",
        ["physics={left: [1]}"],
        "physics.left.1: missing: the list is too short",
    ),
    (
        "run",
        "sod",
        ["physics.left=[1, 0, 1, 5]"],
        "physics.left: Tuple should have at most 3 items",
    ),
    ("run", "sod", ["scenario.x=1"], "scenario: is a value, not a section"),
    (
        "run",
        "sod",
        ["physics.gamma"],
        "physics.gamma: overrides must look like key=value",
    ),
    # what does not apply
    ("run", "sod", ["stepper=etdrk4"], "stepper: etdrk4 does not apply to sod"),
    (
        "optimize",
        "learned_flux",
        ["stepper=etdrk2"],
        "stepper: etdrk2 does not apply to learned_flux",
    ),
    (
        "run",
        "learned_flux",
        [],
        "scenario: learned_flux is an optimization problem with nothing to run forward",
    ),
]


@pytest.mark.parametrize(
    "command, name, overrides, message", CASES, ids=[" ".join(c[2]) for c in CASES]
)
def test_refused_up_front(capsys, tmp_path, command, name, overrides, message):
    _refused(
        capsys, tmp_path, command, ROOT / "configs" / f"{name}.yaml", overrides, message
    )


def _write(tmp_path, name, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


FILES = [
    (
        "not_utf8.yaml",
        b"scenario: sod\n# caf\xe9\n",
        ":2:6: not UTF-8 text (byte 0xe9)",
    ),
    (
        "duplicate.yaml",
        b"scenario: sod\ngrid: {cells: [64]}\ngrid: {cells: [32]}\n",
        "grid: {path}:3:1: duplicate key (first given on line 2)",
    ),
    (
        "nested_duplicate.yaml",
        b"scenario: sod\ntime:\n  t_end: 0.1\n  t_end: 0.2\n",
        "time.t_end: {path}:4:3: duplicate key (first given on line 3)",
    ),
    (
        "syntax.yaml",
        b"scenario: sod\ngrid:\n  cells: [64\n  lower: [0]\n",
        "{path}:4:8: not valid YAML: expected ',' or ']', but got ':'",
    ),
    (
        "tabs.yaml",
        b"scenario: sod\n\tgrid: 1\n",
        "{path}:2:1: not valid YAML: found character '\\t' that cannot start any token",
    ),
    ("empty.yaml", b"", "scenario: required key is missing"),
    (
        "list.yaml",
        b"- scenario: sod\n",
        "the config must be a mapping of keys to values, got list",
    ),
    (
        "nan.yaml",
        b"scenario: sod\ntime: {t_end: .nan, cfl: 0.5}\n",
        "time.t_end: Input should be a finite number",
    ),
    (
        "null_section.yaml",
        b"scenario: sod\ngrid: null\n",
        "grid: Input should be a valid dictionary",
    ),
    ("number_key.yaml", b"scenario: sod\n1: 2\n", "1: keys must be names"),
    (
        "empty_key.yaml",
        b'scenario: sod\n"": 1\n',
        '"": unknown key; valid keys: scenario, precision',
    ),
    (
        "python_tag.yaml",
        b"scenario: sod\ngrid: !!python/object:os.system {}\n",
        "{path}:2:7: not valid YAML: could not determine a constructor",
    ),
    (
        "two_documents.yaml",
        b"scenario: sod\n---\nscenario: lax\n",
        "{path}:2:1: not valid YAML: but found another document",
    ),
    (
        "deep.yaml",
        b"scenario: sod\nphysics: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "{path}: not valid YAML: nested too deeply",
    ),
    (
        "overflow.yaml",
        b"scenario: sod\ntime: {t_end: 1e400, cfl: 0.5}\n",
        "time.t_end: Input should be a finite number (got inf)",
    ),
    (
        "bad_member.yaml",
        b"scenario: sod\nbatch: {members: [{physics.left.9: 1}]}\n",
        "batch.members.0.physics.left.9: physics.left is a list of 3 entries",
    ),
]


@pytest.mark.parametrize("name, data, message", FILES, ids=[f[0] for f in FILES])
def test_bad_files(capsys, tmp_path, name, data, message):
    path = _write(tmp_path, name, data)
    _refused(capsys, tmp_path, "run", path, [], message.format(path=path))


def test_directory_and_missing_file(capsys, tmp_path):
    _refused(capsys, tmp_path, "run", tmp_path, [], "is a directory, not a YAML file")
    _refused(capsys, tmp_path, "run", tmp_path / "nope.yaml", [], "does not exist")


def test_in_range_list_index_override(capsys):
    """`physics.left.2=0.5` sets one entry of the default list, as in batch members."""
    import diffsim.jobs

    config, physics, _ = diffsim.jobs.load_config(
        ROOT / "configs/sod.yaml", ["physics.left.2=0.5"]
    )
    assert list(physics.model_dump()["left"]) == [1.0, 0.0, 0.5]
    config, physics, _ = diffsim.jobs.load_config(
        {"scenario": "lax"}, ["physics.right.0=0.25"]
    )
    assert list(physics.model_dump()["right"]) == [
        0.25,
        0.0,
        0.571,
    ]  # lax's own default list, one entry replaced
    config, _, _ = diffsim.jobs.load_config(
        ROOT / "configs/sod.yaml", ["grid.cells.0=64", "time={t_end: 0.1}"]
    )
    assert config.time is not None
    assert (
        config.grid.cells == [64]
        and config.time.t_end == 0.1
        and config.time.cfl == 0.5
    )  # sections merge


def test_scientific_notation_is_a_number():
    import diffsim.jobs

    config, _, _ = diffsim.jobs.load_config(
        ROOT / "configs/ks_chaos.yaml", ["time.dt=1e-1"]
    )
    assert config.time is not None and config.time.dt == 0.1


def test_scenarios_name_prints_keys_defaults_and_meanings(capsys):
    assert main(["scenarios", "acoustic_lens"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "acoustic_lens (2D, steady, optimization): design the sound speed"
    )
    assert (
        "  physics.c_min = 1350.0" in out
        and "lower bound of the lens sound speed (m/s)" in out
    )
    assert "  physics.pml.width = 16" in out
    assert "  solver.rtol = 1.0e-06" in out
    assert "  grid.cells = [128, 128]" in out and "cells per axis" in out
    assert "  optimize.iterations = 60" in out
    assert main(["scenarios", "sod"]) == 0
    out = capsys.readouterr().out
    assert (
        "  scheme.reconstruction = weno5z" in out
        and "  time.cfl = 0.5" in out
        and "optimize." not in out
    )
    assert main(["scenarios"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert any(line.startswith("sod ") and " 1D  " in line for line in listing)
    code, lines = _run(capsys, ["scenarios", "sodd"])
    assert (
        code == 2
        and lines == [lines[0]]
        and "unknown scenario 'sodd' (did you mean sod?)" in lines[0]
    )


def test_every_scenario_field_has_a_meaning():
    """`diffsim scenarios NAME` has a meaning to print for every key."""
    from diffsim.jobs.config import models_in
    from diffsim.jobs.scenario import registry

    missing = []
    for name, scenario in registry().items():
        stack = [scenario.Physics, scenario.Scheme, scenario.Solver]
        while stack:
            schema = stack.pop()
            for key, field in schema.model_fields.items():
                if not field.description:
                    missing.append(f"{name}: {schema.__name__}.{key}")
                stack += models_in(field.annotation)
    assert not missing, missing


def test_memory_estimate():
    """cells x fields x (snapshots + 1 + working copies) x bytes x members."""
    import diffsim.jobs
    from diffsim.jobs.config import WORKING_SET, available_memory, memory_estimate

    config, _, scenario = diffsim.jobs.load_config(ROOT / "configs/sod.yaml")
    need, how = memory_estimate(config, scenario)
    assert need == 200 * 3 * (20 + 1 + WORKING_SET) * 8
    assert (
        how == "200 cells x 3 field(s) x "
        f"(21 snapshots + {WORKING_SET} working copies) x 8 bytes"
    )
    config, _, scenario = diffsim.jobs.load_config(
        ROOT / "configs/burgers_ensemble.yaml", ["precision=float32"]
    )
    need, how = memory_estimate(config, scenario)
    assert need == 512 * 1 * (20 + 1 + WORKING_SET) * 4 * 16 and how.endswith(
        "x 4 bytes x 16 members"
    )
    assert (available_memory() or 0) > 2**20


def _leaves(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


@pytest.mark.parametrize("name", ["sod", "helmholtz_inclusion_inverse"])
def test_mutations_exit_0_or_2_with_one_line(capsys, name):
    """A small fuzz: every key of a config set to garbage is accepted or
    refused in one line (exit 2), never a traceback."""
    import diffsim.jobs
    from diffsim.jobs.config import resolved_dict

    path = str(ROOT / "configs" / f"{name}.yaml")
    keys = list(_leaves(resolved_dict(diffsim.jobs.load_config(path)[0]))) + [
        "physics.zzz",
        "grid.cells.3",
    ]
    bad = [
        "true",
        "-1",
        "0",
        ".nan",
        "-.inf",
        "1e308",
        "abc",
        "[]",
        "{a: 1}",
        "[1, 2, 3, 4]",
        "100000000000000000000",
    ]
    for key in keys:
        for value in bad:
            code, lines = _run(capsys, ["config", path, f"{key}={value}"])
            assert code in (0, 2), (key, value, code)
            if code == 2:
                assert len(lines) == 1 and lines[0].startswith(
                    "diffsim: config error: "
                ), (key, value, lines)
