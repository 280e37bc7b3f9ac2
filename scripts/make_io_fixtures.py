#!/usr/bin/env python3
"""Writes the small reference files that ulm-io's reader tests compare against.

Every array holds the same known stack, so the Rust tests recompute each value from
the formula instead of trusting any stored answer:

    frames t = 0..5, depth rows z = 0..4, lateral cols x = 0..3
    re(t, z, x) = 100 t + 10 z + x + 0.5
    im(t, z, x) = -(t + z / 4 + x / 8)

Files (crates/ulm-io/tests/fixtures/):
  c64_fortran.npy   complex64 [t, z, x], Fortran order (numpy.asfortranarray)
  f64_zxt.npy       float64 [z, x, t] (real part), C order
  i16_tzx.npy       int16 [t, z, x] (real part truncated towards zero)
  v5.mat            scipy.io.savemat, compressed: IQ complex64 [z, x, t], Bd float64
                    [z, x, t], Bi int16 [z, x, t], note (char), k (scalar)
  v5_plain.mat      savemat uncompressed: IQ complex128 [z, x, t], B single [z, x] (frame 0)
  v73.mat           MATLAB v7.3 layout written with h5py exactly as MATLAB does: 512-byte
                    user block with the MAT header text, HDF5 1.8 file format (superblock
                    v0, v1 object headers, symbol-table groups, v1 B-tree chunk index),
                    column-major data (so HDF5 sees [t, x, z]), IQ in deflate-compressed
                    chunks of [2, 3, 3] (partial chunks at the edges, so blocks of frames
                    cross chunk borders), complex as compound {real, imag}, MATLAB_class
                    attributes: IQ single complex, IQ16 int16 complex, B double,
                    F double [z, x] (frame 0 alone: a 2-D variable is one frame)
  plain.h5          h5py: frames float32 [t, z, x]; group/iq complex64 [t, z, x] (h5py's
                    compound {r, i})
  latest.h5         h5py with libver="latest" (superblock v3, v2 object headers, link
                    messages, version-4 layouts), every chunk index HDF5 1.10+ writes,
                    each dataset holding the same stack [t, z, x]:
                      fixed      float32, chunks [2, 3, 2], shuffle + deflate (fixed array)
                      single     float32, one chunk, shuffle + deflate (single chunk)
                      ext        complex64 {r, i}, maxshape [None, 4, 3], chunks [2, 4, 3],
                                 shuffle + deflate (extensible array)
                      bt2        int16, maxshape [None, None, 3], chunks [3, 2, 3],
                                 deflate (version-2 B-tree)
                      be         float64 big-endian, contiguous
                      compact    float32, compact layout (data inside the object header)
                      u8         uint8 (real part modulo 256), contiguous
                      dense/iq   complex128 {r, i} in a group of 12 links (dense link
                                 storage: fractal heap + v2 B-tree name index)
                      matlab     MATLAB-style double [z, x, t] stored as HDF5 [t, x, z],
                                 MATLAB_class attribute (so it is read column-major)
  meta.json         geometry sidecar for all of them

Run: python3 -m venv /work/venvs/io && /work/venvs/io/bin/pip install numpy scipy h5py
     /work/venvs/io/bin/python scripts/make_io_fixtures.py
"""

import json
import os

import h5py
import numpy as np
import scipy.io

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "ulm-io", "tests", "fixtures")
T, Z, X = 5, 4, 3


def stack():
    t, z, x = np.meshgrid(np.arange(T), np.arange(Z), np.arange(X), indexing="ij")
    re = 100.0 * t + 10.0 * z + x + 0.5
    im = -(t + z / 4.0 + x / 8.0)
    return re, im


def matlab_header(path):
    """Puts MATLAB's v7.3 header text into the first 128 bytes of the user block."""
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 2026 HDF5 schema 1.00 ."
    head = text.ljust(116, b" ") + b"\x00" * 8 + (0x0200).to_bytes(2, "little") + b"IM"
    with open(path, "r+b") as f:
        f.write(head)


def matlab_dataset(f, name, arr, cls):
    """Writes `arr` (a MATLAB-shaped array) the way MATLAB does: column-major, so HDF5
    sees the reversed shape; complex as compound {real, imag}."""
    data = np.ascontiguousarray(arr.T)  # MATLAB [z, x, t] -> HDF5 [t, x, z]
    if np.iscomplexobj(arr) or cls.endswith("complex"):
        base = {"single": "<f4", "double": "<f8", "int16": "<i2"}[cls.split()[0]]
        dt = np.dtype([("real", base), ("imag", base)])
        comp = np.empty(data.shape, dtype=dt)
        comp["real"] = data.real
        comp["imag"] = data.imag
        data = comp
        cls = cls.split()[0]
    # MATLAB v7.3 stores variables chunked and deflate-compressed; done for IQ only, to
    # cover the filter path while keeping the file small.
    if name == "IQ":
        ds = f.create_dataset(name, data=data, chunks=(2, 3, 3), compression="gzip", compression_opts=3)
    else:
        ds = f.create_dataset(name, data=data)
    ds.attrs["MATLAB_class"] = np.bytes_(cls)


def main():
    os.makedirs(OUT, exist_ok=True)
    re, im = stack()
    iq = (re + 1j * im).astype(np.complex64)  # [t, z, x]
    zxt = np.transpose(iq, (1, 2, 0))  # [z, x, t]

    np.save(os.path.join(OUT, "c64_fortran.npy"), np.asfortranarray(iq))
    np.save(os.path.join(OUT, "f64_zxt.npy"), np.ascontiguousarray(zxt.real.astype(np.float64)))
    np.save(os.path.join(OUT, "i16_tzx.npy"), re.astype(np.int16))

    scipy.io.savemat(
        os.path.join(OUT, "v5.mat"),
        {
            "IQ": zxt,
            "Bd": zxt.real.astype(np.float64),
            "Bi": zxt.real.astype(np.int16),
            "note": "ulm fixture",
            "k": 3.0,
        },
        do_compression=True,
    )
    scipy.io.savemat(
        os.path.join(OUT, "v5_plain.mat"),
        {"IQ": zxt.astype(np.complex128), "B": zxt.real[:, :, 0].astype(np.float32)},
        do_compression=False,
    )

    p = os.path.join(OUT, "v73.mat")
    with h5py.File(p, "w", userblock_size=512, libver="earliest") as f:
        matlab_dataset(f, "IQ", zxt, "single complex")
        matlab_dataset(f, "IQ16", zxt.real.astype(np.int16) + 1j * zxt.imag.astype(np.int16), "int16 complex")
        matlab_dataset(f, "B", zxt.real.astype(np.float64), "double")
        matlab_dataset(f, "F", zxt.real[:, :, 0].astype(np.float64), "double")
    matlab_header(p)

    with h5py.File(os.path.join(OUT, "plain.h5"), "w", libver="earliest") as f:
        f.create_dataset("frames", data=re.astype(np.float32))
        f.create_group("group").create_dataset("iq", data=iq)

    p = os.path.join(OUT, "latest.h5")
    with h5py.File(p, "w", libver="latest") as f:
        f32 = re.astype(np.float32)
        gz = dict(compression="gzip", compression_opts=4, shuffle=True)
        f.create_dataset("fixed", data=f32, chunks=(2, 3, 2), **gz)
        f.create_dataset("single", data=f32, chunks=f32.shape, **gz)
        f.create_dataset("ext", data=iq, maxshape=(None, Z, X), chunks=(2, Z, X), **gz)
        f.create_dataset(
            "bt2", data=re.astype(np.int16), maxshape=(None, None, X), chunks=(3, 2, X), compression="gzip"
        )
        f.create_dataset("be", data=re.astype(">f8"))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple(f32.shape)
        h5py.h5d.create(f.id, b"compact", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl).write(
            h5py.h5s.ALL, h5py.h5s.ALL, f32
        )
        f.create_dataset("u8", data=(np.floor(re).astype(np.int64) % 256).astype(np.uint8))
        g = f.create_group("dense")
        for k in range(11):
            g.create_dataset(f"pad{k:02}", data=np.arange(k + 1, dtype=np.float32))
        g.create_dataset("iq", data=(re + 1j * im).astype(np.complex128))
        ds = f.create_dataset("matlab", data=np.ascontiguousarray(zxt.real.astype(np.float64).T))
        ds.attrs["MATLAB_class"] = np.bytes_("double")

    meta = {
        "frame_rate_hz": 1000.0,
        "pixel_size_x_mm": 0.1,
        "pixel_size_z_mm": 0.05,
        "x0_mm": -0.1,
        "z0_mm": 2.0,
        "center_frequency_hz": 15.625e6,
        "speed_of_sound_m_s": 1540.0,
        "source": "scripts/make_io_fixtures.py",
    }
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
