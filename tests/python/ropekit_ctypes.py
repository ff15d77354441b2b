"""ctypes glue to libropekit's C API for the tests (until the Python package exists).

numpy arrays are passed as DLPack ``DLTensor`` structs that borrow their memory. The library is
found through the ROPEKIT_LIBRARY environment variable (default: build/src/libropekit.so under
the repository root).
"""

import ctypes
import os
import pathlib

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

ROPEKIT_OK = 0
BACKEND_AUTO, BACKEND_REFERENCE, BACKEND_CPU, BACKEND_CUDA = 0, 1, 2, 3

_DL_INT, _DL_FLOAT, _DL_BFLOAT = 0, 2, 4
_DL_CPU = 1


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class RotaryArgs(ctypes.Structure):
    """ropekit_rotary_args, field for field."""

    _fields_ = [
        ("positions", ctypes.POINTER(DLTensor)),
        ("query", ctypes.POINTER(DLTensor)),
        ("key", ctypes.POINTER(DLTensor)),
        ("query_out", ctypes.POINTER(DLTensor)),
        ("key_out", ctypes.POINTER(DLTensor)),
        ("cos_sin_cache", ctypes.POINTER(DLTensor)),
        ("head_size", ctypes.c_int64),
        ("is_neox", ctypes.c_int),
        ("inverse", ctypes.c_int),
        ("backend", ctypes.c_int),
        ("stream", ctypes.c_void_p),
        ("rope_dim_offset", ctypes.c_int64),
    ]


_DTYPES = {
    np.dtype(np.float32): (_DL_FLOAT, 32),
    np.dtype(np.float64): (_DL_FLOAT, 64),
    np.dtype(np.float16): (_DL_FLOAT, 16),
    np.dtype(np.int32): (_DL_INT, 32),
    np.dtype(np.int64): (_DL_INT, 64),
}


class Borrowed:
    """A DLTensor viewing a numpy array; keeps the array and the shape/stride buffers alive."""

    def __init__(self, array: np.ndarray):
        code, bits = _DTYPES[array.dtype]
        self.array = array
        self._shape = (ctypes.c_int64 * array.ndim)(*array.shape)
        self._strides = (ctypes.c_int64 * array.ndim)(*(s // array.itemsize for s in array.strides))
        self.tensor = DLTensor(
            data=array.ctypes.data,
            device=DLDevice(_DL_CPU, 0),
            ndim=array.ndim,
            dtype=DLDataType(code, bits, 1),
            shape=self._shape,
            strides=self._strides,
            byte_offset=0,
        )

    def pointer(self):
        return ctypes.pointer(self.tensor)


class RopekitError(RuntimeError):
    pass


def library_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("ROPEKIT_LIBRARY", REPO_ROOT / "build" / "src" / "libropekit.so"))


def load() -> ctypes.CDLL:
    path = library_path()
    lib = ctypes.CDLL(str(path))
    try:
        lib.ropekit_last_error.restype = ctypes.c_char_p
        lib.ropekit_cos_sin_cache_from_hf_config.argtypes = [
            ctypes.c_char_p, ctypes.c_int64, ctypes.POINTER(DLTensor)]
        lib.ropekit_rope_frequencies_from_hf_config.argtypes = [
            ctypes.c_char_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_double), ctypes.c_int64,
            ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_double)]
        lib.ropekit_rotary_embedding_mrope.argtypes = [
            ctypes.POINTER(RotaryArgs), ctypes.POINTER(ctypes.c_int64), ctypes.c_int]
    except AttributeError as missing:
        raise RopekitError(f"{path} is older than this test ({missing}): rebuild it, or point "
                           "ROPEKIT_LIBRARY at a current build") from None
    return lib


def _check(lib, status: int) -> None:
    if status != ROPEKIT_OK:
        raise RopekitError(lib.ropekit_last_error().decode())


def cos_sin_cache_from_hf_config(lib, config_json: str, max_positions: int, rotary_dim: int,
                                 dtype=np.float64) -> np.ndarray:
    """ropekit_cos_sin_cache_from_hf_config into a new [max_positions, rotary_dim] array."""
    out = np.full((max_positions, rotary_dim), np.nan, dtype=dtype)
    borrowed = Borrowed(out)
    _check(lib, lib.ropekit_cos_sin_cache_from_hf_config(
        config_json.encode(), max_positions, borrowed.pointer()))
    return out


def rope_frequencies_from_hf_config(lib, config_json: str, sequence_length: int = 0):
    """(inv_freq float64 array, attention factor) for a sequence length (0: load time)."""
    count, attention = ctypes.c_int64(), ctypes.c_double()
    text = config_json.encode()
    _check(lib, lib.ropekit_rope_frequencies_from_hf_config(
        text, sequence_length, None, 0, ctypes.byref(count), ctypes.byref(attention)))
    inv_freq = np.full(count.value, np.nan, dtype=np.float64)
    _check(lib, lib.ropekit_rope_frequencies_from_hf_config(
        text, sequence_length, inv_freq.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        count.value, ctypes.byref(count), ctypes.byref(attention)))
    return inv_freq, attention.value


def rotary_embedding_mrope(lib, positions: np.ndarray, query: np.ndarray, key: np.ndarray,
                           cos_sin_cache: np.ndarray, head_size: int, mrope_section,
                           interleaved: bool, backend: int = BACKEND_REFERENCE) -> None:
    """Rotates query and key ([T, heads, head_size]) in place; positions is [3, T]."""
    views = [Borrowed(a) for a in (positions, query, key, cos_sin_cache)]
    args = RotaryArgs(
        positions=views[0].pointer(), query=views[1].pointer(), key=views[2].pointer(),
        query_out=None, key_out=None, cos_sin_cache=views[3].pointer(),
        head_size=head_size, is_neox=1, inverse=0, backend=backend, stream=None)
    section = (ctypes.c_int64 * 3)(*mrope_section)
    _check(lib, lib.ropekit_rotary_embedding_mrope(ctypes.byref(args), section, int(interleaved)))
