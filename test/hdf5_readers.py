"""Reads what test_hdf5_readers left in dir (argv[1]) with h5py, as a user
would, without anything relay-specific: rank 0's kept spill file and the
file relay_object_save wrote. Values as hdf5_readers.c made them;
relay's attributes present."""
import glob
import os
import sys

import h5py
import numpy as np

d = sys.argv[1]
expect = dict(line.split() for line in open(os.path.join(d, "expect.txt")))
want_bytes = ((np.arange(300000, dtype=np.uint64) * 7 + 3) % 256).astype(np.uint8)
i, j = np.meshgrid(np.arange(300), np.arange(50), indexing="ij")
want_array = 1000.0 * i + j / 2


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def check(ds, want, dtype_name, saved):
    print(ds.file.filename, ds.name, ds.dtype, ds.shape, dict(ds.attrs))
    assert ds.dtype == want.dtype, ds.dtype
    assert ds.shape == want.shape, ds.shape
    assert np.array_equal(ds[()], want)
    assert text(ds.attrs["relay_dtype"]) == dtype_name
    assert int(ds.attrs["relay_size"]) == want.nbytes
    assert "relay_checksum" in ds.attrs
    if saved:
        assert text(ds.attrs["relay_version"]) == expect["version"]


spill = glob.glob(os.path.join(d, "relay-*-0.h5"))
assert len(spill) == 1, spill
with h5py.File(spill[0], "r") as f:
    assert text(f.attrs["relay_version"]) == expect["version"]
    check(f[expect["bytes"]], want_bytes, "bytes", False)
    check(f[expect["array"]], want_array, "float64", False)
with h5py.File(os.path.join(d, "saved.h5"), "r") as f:
    check(f["raw/bytes"], want_bytes, "bytes", True)
    check(f["fields/x"], want_array, "float64", True)
print("hdf5_readers.py: PASS")
