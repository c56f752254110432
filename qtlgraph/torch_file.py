"""Write ``torch.save`` files of NumPy arrays without importing torch.

``qtlgraph build`` writes ``graph.pt`` (a dict of tensors, lists and ints) and has nothing
else to do with torch, whose import costs about 1.4 s of a 6 s build. The file written
here is the format of ``torch.save`` (``torch.serialization``, zip layout version 3): a
stored (uncompressed) zip with ``archive/data.pkl``, one ``archive/data/<key>`` record of
raw little-endian bytes per array, each aligned to 64 bytes as torch aligns them, and the
``version``, ``byteorder``, ``.format_version`` and ``.storage_alignment`` records. The
pickle names only what ``torch.load(weights_only=True)`` accepts:
``torch._utils._rebuild_tensor_v2``, the typed storage classes (``torch.LongStorage``...)
and ``collections.OrderedDict``; tests load these files with torch itself.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

_STORAGES = {
    np.dtype(np.int64): "LongStorage",
    np.dtype(np.int32): "IntStorage",
    np.dtype(np.int16): "ShortStorage",
    np.dtype(np.int8): "CharStorage",
    np.dtype(np.uint8): "ByteStorage",
    np.dtype(np.bool_): "BoolStorage",
    np.dtype(np.float64): "DoubleStorage",
    np.dtype(np.float32): "FloatStorage",
    np.dtype(np.float16): "HalfStorage",
}
_ALIGN = 64
_PREFIX = "archive"


class _Global:
    """A module-level name written into the pickle as it is, never imported."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle only accepts callables as reduce functions
        raise TypeError("a name written into a pickle; not callable here")


class _Storage:
    """One array's storage, pickled as a persistent id (its bytes live in ``data/<key>``)."""

    def __init__(self, key: str, array: np.ndarray) -> None:
        self.key, self.array = key, array


class _Pickler(pickle._Pickler):
    """The pure-Python pickler, taught to write :class:`_Global` names and storages."""

    dispatch = pickle._Pickler.dispatch.copy()
    _REBUILD = _Global("torch._utils", "_rebuild_tensor_v2")

    def __init__(self, file, storages: list[_Storage]) -> None:
        super().__init__(file, protocol=2)
        self.storages = storages

    def _save_name(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[_Global] = _save_name

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            kind = _Global("torch", _STORAGES[obj.array.dtype.newbyteorder("=")])
            return ("storage", kind, obj.key, "cpu", obj.array.size)
        return None

    def reducer_override(self, obj):
        if not isinstance(obj, np.ndarray):
            return NotImplemented
        dtype = obj.dtype.newbyteorder("=")
        if dtype not in _STORAGES:
            raise TypeError(f"no torch storage for arrays of {obj.dtype}")
        array = np.require(obj, dtype.newbyteorder("<"), "C")
        storage = _Storage(str(len(self.storages)), array)
        self.storages.append(storage)
        stride = tuple(int(np.prod(array.shape[i + 1 :])) for i in range(array.ndim))
        args = (storage, 0, array.shape, stride, False, collections.OrderedDict())
        return self._REBUILD, args


def _padded(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """A stored entry whose data starts on a multiple of 64 bytes (padding in its extra field)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    start = zf.fp.tell() + 30 + len(name.encode()) + 4  # local header + name + extra header
    pad = -start % _ALIGN
    info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    return info


def save(obj: dict, path: str | Path) -> Path:
    """Write ``obj`` as ``torch.save(obj_with_tensors, path)`` would, arrays becoming tensors.

    Args:
        obj: a dict of NumPy arrays (int, uint8, bool, float16/32/64), ints, floats,
            strings and lists of them; arrays are saved as CPU tensors of their dtype.
        path: the file to write.

    Returns:
        The path written.
    """
    storages: list[_Storage] = []
    buf = io.BytesIO()
    _Pickler(buf, storages).dump(obj)
    records = [("data.pkl", buf.getvalue())]
    records += [(f"data/{s.key}", s.array.reshape(-1).view(np.uint8)) for s in storages]
    records += [
        ("version", b"3\n"),
        ("byteorder", b"little"),
        (".format_version", b"1"),
        (".storage_alignment", str(_ALIGN).encode()),
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in records:
            info = _padded(zf, f"{_PREFIX}/{name}")
            with zf.open(info, "w", force_zip64=len(data) >= 1 << 31) as fh:
                fh.write(data)
    return Path(path)
