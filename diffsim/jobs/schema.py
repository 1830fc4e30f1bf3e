"""The base of every config schema section: strict numbers (a boolean is
not an integer, `"2"` not a number), bounded magnitudes, unknown keys and
non-finite numbers refused."""

from __future__ import annotations

import pydantic

#: Bounds of every config number that sets none tighter: integers fit
#: int32 (JAX's default integer), floats stay far from overflow.
MAX_INT = 2**31 - 1
MAX_FLOAT = 1e100


def strict_numbers(schema) -> None:
    """Make every int, float and bool in a pydantic core schema strict, in
    place: `true` is not an integer, `1` not a boolean, `"2"` not a number
    (floats still accept integers; lists still fill tuples). Numbers without
    tighter bounds are bounded by `MAX_INT` / `MAX_FLOAT` in magnitude."""
    if isinstance(schema, dict):
        if schema.get("type") in ("int", "float", "bool"):
            schema["strict"] = True
        if schema.get("type") in ("int", "float"):
            limit = MAX_INT if schema["type"] == "int" else MAX_FLOAT
            if "le" not in schema and "lt" not in schema:
                schema["le"] = limit
            if "ge" not in schema and "gt" not in schema:
                schema["ge"] = -limit
        for value in schema.values():
            strict_numbers(value)
    elif isinstance(schema, list):
        for value in schema:
            strict_numbers(value)


class PhysicsConfig(pydantic.BaseModel):
    """Base of a scenario's own config sections (`physics:`, `scheme:`,
    `solver:`): unknown keys and non-finite numbers are rejected, and
    numbers are strict (a boolean is not an integer). Validators name the
    sub-key at fault by raising `diffsim.jobs.KeyedError`. Give each field a
    `Field(description=...)`: `diffsim scenarios NAME` prints it."""

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        schema = handler(source)
        strict_numbers(schema)
        return schema
