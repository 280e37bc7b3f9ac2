#!/usr/bin/env python3
"""Reference values for ulm-localize's radial-symmetry estimator.

PALA's `localizeRadialSymmetry.m` (after Parthasarathy 2012) written out literally in
pure Python (no numpy): gradients along the two diagonals at the pixel midpoints, a
3x3 box smoothing with zero padding (MATLAB `conv2(..., 'same')`), slopes
`m = -(fdv + fdu) / (fdu - fdv)`, intercepts `b = zm - m xm`, weights
`|grad|^2 / distance to the gradient-weighted centroid`, and the closed-form weighted
least-squares centre of the lines `z = m x + b`.

The test patch is the unit test's PSF: `bg + exp(-(x-dx)^2/(2 sx^2) - (z-dz)^2/(2 sz^2))`
with sx = 1.3, sz = 0.8, bg = 0.05, sampled at pixel centres (coordinates relative to
the patch centre, z growing with the row index).

Usage: python3 scripts/radial_symmetry_reference.py
"""
import math


def gauss_patch(n, dx, dz, sx=1.3, sz=0.8, bg=0.05):
    h = n // 2
    return [[bg + math.exp(-((c - h - dx) ** 2) / (2 * sx * sx) - ((r - h - dz) ** 2) / (2 * sz * sz))
             for c in range(n)] for r in range(n)]


def conv_same_box(g):
    m = len(g)
    out = [[0.0] * m for _ in range(m)]
    for r in range(m):
        for c in range(m):
            s = 0.0
            for rr in range(r - 1, r + 2):
                for cc in range(c - 1, c + 2):
                    if 0 <= rr < m and 0 <= cc < m:
                        s += g[rr][cc]
            out[r][c] = s / 9
    return out


def radial_center(I):
    n = len(I)
    m = n - 1
    zm = [[-(n - 1) / 2 + 0.5 + r for c in range(m)] for r in range(m)]
    xm = [[-(n - 1) / 2 + 0.5 + c for c in range(m)] for r in range(m)]
    du = [[I[r][c + 1] - I[r + 1][c] for c in range(m)] for r in range(m)]
    dv = [[I[r][c] - I[r + 1][c + 1] for c in range(m)] for r in range(m)]
    fu, fv = conv_same_box(du), conv_same_box(dv)
    d2 = [[fu[r][c] ** 2 + fv[r][c] ** 2 for c in range(m)] for r in range(m)]
    M = [[-(fv[r][c] + fu[r][c]) / (fu[r][c] - fv[r][c]) for c in range(m)] for r in range(m)]
    b = [[zm[r][c] - M[r][c] * xm[r][c] for c in range(m)] for r in range(m)]
    s = sum(map(sum, d2))
    zc = sum(d2[r][c] * zm[r][c] for r in range(m) for c in range(m)) / s
    xc = sum(d2[r][c] * xm[r][c] for r in range(m) for c in range(m)) / s
    w = [[d2[r][c] / math.sqrt((zm[r][c] - zc) ** 2 + (xm[r][c] - xc) ** 2) for c in range(m)] for r in range(m)]
    sw = smmw = smw = smbw = sbw = 0.0
    for r in range(m):
        for c in range(m):
            wm = w[r][c] / (M[r][c] ** 2 + 1)
            sw += wm
            smmw += M[r][c] ** 2 * wm
            smw += M[r][c] * wm
            smbw += M[r][c] * b[r][c] * wm
            sbw += b[r][c] * wm
    det = smw * smw - smmw * sw
    return (smbw * sw - smw * sbw) / det, (smbw * smw - smmw * sbw) / det


if __name__ == "__main__":
    for n, dx, dz in [(5, 0.3, -0.2), (7, -0.41, 0.17)]:
        x, z = radial_center(gauss_patch(n, dx, dz))
        print(f"n={n} shift=({dx}, {dz}) -> x={x!r} z={z!r}")
