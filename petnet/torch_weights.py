"""Read a legacy (non-zip) PyTorch state dict without torch and without running pickled code.

The EfficientNet-Lite0 weights ship as a ``torch.save`` file in the legacy format:
a magic-number pickle, a protocol pickle, a sys-info pickle, the state-dict pickle
(tensors refer to storages through persistent ids), the list of storage keys, and then
each storage's raw bytes preceded by its element count. Loading it with plain ``pickle``
would execute whatever globals the file names, so the unpickler below admits only the
handful a state dict needs and refuses everything else.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafeWeightsError(pickle.UnpicklingError):
    """The file asked for a global that a plain state dict never needs."""


@dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype[Any]:
        return _STORAGE_DTYPES[self.name]


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it; bytes are attached once the storages are read."""

    storage_key: str
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


@dataclass
class _Storage:
    dtype: np.dtype[Any]
    numel: int


def _rebuild_tensor_v2(
    storage: str, storage_offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _TensorRef:
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeWeightsError(f"refusing to load global {module}.{name} from a weights file")

    def persistent_load(self, pid: Any) -> str:
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafeWeightsError(f"unexpected persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise UnsafeWeightsError(f"unexpected storage type {storage_type!r}")
        self.storages.setdefault(key, _Storage(storage_type.dtype, numel))
        return key


def _read_header(file: BinaryIO) -> None:
    header = _SafeScalarUnpickler(file)
    if header.load() != LEGACY_MAGIC:
        raise ValueError("not a legacy PyTorch file (bad magic number)")
    if header.load() != LEGACY_PROTOCOL:
        raise ValueError("unsupported legacy PyTorch protocol version")
    sys_info = _SafeScalarUnpickler(file).load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise ValueError("big-endian weights are not supported")


class _SafeScalarUnpickler(pickle.Unpickler):
    """Header pickles hold only ints, strings and dicts: no global is ever legitimate."""

    def find_class(self, module: str, name: str) -> Any:
        raise UnsafeWeightsError(f"refusing to load global {module}.{name} from a weights header")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeWeightsError("unexpected persistent id in a weights header")


def _check_bounds(name: str, ref: _TensorRef, storage_len: int) -> None:
    """A tensor must lie inside its storage; otherwise as_strided would read foreign memory."""
    if len(ref.size) != len(ref.stride) or ref.offset < 0 or any(s < 0 for s in (*ref.size, *ref.stride)):
        raise UnsafeWeightsError(f"tensor {name!r} has an invalid size/stride/offset")
    if 0 in ref.size:
        return
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
    if last >= storage_len:
        raise UnsafeWeightsError(f"tensor {name!r} reaches past the end of its storage")


def load_state_dict(path: Path, skip_suffixes: tuple[str, ...] = ("num_batches_tracked",)) -> dict[str, np.ndarray]:
    """Return the file's tensors as float32/int numpy arrays keyed like the torch state dict."""
    with open(path, "rb") as file:
        _read_header(file)
        unpickler = _StateDictUnpickler(file)
        refs = unpickler.load()
        if not isinstance(refs, dict):
            raise UnsafeWeightsError("the weights file does not hold a state dict")
        keys = _SafeScalarUnpickler(file).load()
        data: dict[str, np.ndarray] = {}
        for key in keys:
            storage = unpickler.storages[str(key)]
            count = file.read(8)
            if len(count) != 8:
                raise ValueError(f"storage {key} is truncated")
            (numel,) = struct.unpack("<q", count)
            if numel != storage.numel:
                raise ValueError(f"storage {key}: expected {storage.numel} elements, found {numel}")
            raw = file.read(numel * storage.dtype.itemsize)
            if len(raw) != numel * storage.dtype.itemsize:
                raise ValueError(f"storage {key} is truncated")
            data[str(key)] = np.frombuffer(raw, dtype=storage.dtype)

    tensors: dict[str, np.ndarray] = {}
    for name, ref in refs.items():
        if name.endswith(skip_suffixes):
            continue
        if not isinstance(ref, _TensorRef):
            raise UnsafeWeightsError(f"entry {name!r} is not a tensor")
        flat = data[ref.storage_key]
        _check_bounds(name, ref, len(flat))
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[ref.offset :],
            shape=ref.size,
            strides=tuple(s * itemsize for s in ref.stride),
            writeable=False,
        )
        tensors[name] = view.copy()  # copy() keeps 0-d tensors 0-d
    return tensors
