"""The model shapes of tools/common/model_shapes.hpp, the one table, read from the header itself.

Parsing the header keeps one source of truth without a build: the benchmarks run from a source
checkout (the GPU machine's included), where neither the CLI nor a compiled module may exist.
"""
import re
from pathlib import Path
from typing import NamedTuple

HEADER = Path(__file__).resolve().parents[2] / "tools" / "common" / "model_shapes.hpp"

# {"name", heads, kv_heads, head_size, rotary_dim, is_neox[, {t, h, w}, interleaved]},
_ROW = re.compile(
    r'\{"(?P<name>[^"]+)",\s*(?P<heads>\d+),\s*(?P<kv_heads>\d+),\s*(?P<head_size>\d+),\s*'
    r'(?P<rotary_dim>\d+),\s*(?P<is_neox>true|false)'
    r'(?:,\s*\{(?P<section>[\d,\s]+)\},\s*(?P<interleaved>true|false))?\s*\}')


class ModelShape(NamedTuple):
    name: str
    heads: int
    kv_heads: int
    head_size: int
    rotary_dim: int
    is_neox: bool
    mrope_section: tuple = (0, 0, 0)
    mrope_interleaved: bool = False


def model_shapes(header=HEADER):
    """Every row of kModelShapes, in table order."""
    text = Path(header).read_text()
    table = text[text.index("kModelShapes[]"):]
    table = table[:table.index("};")]
    shapes = []
    for m in _ROW.finditer(table):
        section = tuple(int(v) for v in m["section"].split(",")) if m["section"] else (0, 0, 0)
        shapes.append(ModelShape(m["name"], int(m["heads"]), int(m["kv_heads"]),
                                 int(m["head_size"]), int(m["rotary_dim"]), m["is_neox"] == "true",
                                 section, m["interleaved"] == "true"))
    if not shapes:
        raise RuntimeError(f"no shapes found in {header}")
    return shapes


def find_model_shape(name):
    for shape in model_shapes():
        if shape.name == name:
            return shape
    raise KeyError(f"no shape {name!r} in {HEADER}")
