"""Minimal reader and writer for the safetensors file format (float32 only).

Layout: an 8-byte little-endian unsigned header length N, then N bytes of
JSON describing every tensor (dtype, shape, byte offsets into the data area)
plus an optional "__metadata__" map of strings, padded with spaces to a
multiple of 8 bytes, then the raw little-endian tensor data.

Tensors are stored in sorted-name order, back to back, so the same inputs
always produce byte-identical files.
"""

import json
import struct

import numpy as np

_DTYPE = "F32"
_NP_DTYPE = np.dtype("<f4")


def write(path, tensors, metadata=None):
    """Write a dict name -> array (converted to float32) to `path`."""
    header = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(value, str):
                raise TypeError(f"metadata value for {key!r} must be a string")
        header["__metadata__"] = dict(sorted(metadata.items()))

    blobs = []
    offset = 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        array = np.ascontiguousarray(tensors[name], dtype=_NP_DTYPE)
        data = array.tobytes()
        header[name] = {
            "dtype": _DTYPE,
            "shape": [int(d) for d in array.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)

    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for data in blobs:
            f.write(data)


def read(path):
    """Return (tensors, metadata) from a safetensors file written as above."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = raw[8 + n:]

    tensors = {}
    expected = 0
    # Check that the data area is fully and contiguously covered.
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if info["dtype"] != _DTYPE:
            raise ValueError(f"{name}: unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if begin != expected or end - begin != count * 4:
            raise ValueError(f"{name}: bad data offsets {begin}..{end}")
        tensors[name] = np.frombuffer(data[begin:end], dtype=_NP_DTYPE).reshape(info["shape"]).copy()
        expected = end
    if expected != len(data):
        raise ValueError("trailing bytes after the last tensor")
    return tensors, metadata
