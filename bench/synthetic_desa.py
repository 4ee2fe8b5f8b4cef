"""Synthetic desa over Indonesia's extent, for national-scale benchmarks.

Rough land shapes for the main islands (polygons and buffered lines, a few tenths of a
degree off the real coasts), desa centres drawn at random inside them with about the real
number of desa per island group (Java densest), and each desa the Voronoi cell of its
centre clipped to its island. Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

# (name, share of the desa, land shape)
# fmt: off
ISLANDS: list[tuple[str, float, BaseGeometry]] = [
    (
        "Sumatera",
        0.27,
        Polygon(
            [(95.2, 5.6), (97.5, 5.2), (100.3, 2.5), (104.0, -1.0), (106.0, -3.0),
             (105.8, -5.9), (104.5, -5.9), (101.0, -3.0), (99.5, -1.0), (98.0, 1.5),
             (95.2, 4.0)]
        ),
    ),
    (
        "Jawa",
        0.30,
        Polygon(
            [(105.2, -6.0), (106.5, -5.9), (108.3, -6.2), (110.4, -6.9), (112.7, -6.9),
             (114.4, -7.8), (114.6, -8.7), (112.5, -8.4), (110.0, -8.1), (108.0, -7.8),
             (106.5, -7.4), (105.3, -6.8)]
        ),
    ),
    (
        "Kalimantan",
        0.09,
        Polygon(
            [(108.8, 1.8), (109.6, 2.0), (111.0, 1.2), (114.0, 1.5), (115.6, 4.2), (117.6, 4.2),
             (118.9, 1.0), (117.5, 0.0), (116.5, -2.0), (116.3, -3.9), (114.6, -4.1),
             (113.0, -3.2), (110.2, -3.0), (109.2, -0.5)]
        ),
    ),
    (
        "Sulawesi",
        0.12,
        shapely.union_all(
            [
                LineString([(119.4, -5.5), (119.8, -3.0), (120.0, 0.5), (121.0, 1.0),
                            (124.8, 1.5)]).buffer(0.45),
                LineString([(120.3, -1.5), (121.5, -1.0), (123.3, -1.0)]).buffer(0.35),
                LineString([(120.5, -2.5), (122.0, -4.0), (122.8, -5.3)]).buffer(0.4),
            ]
        ),
    ),
    (
        "Nusa Tenggara",
        0.08,
        shapely.union_all(
            [
                LineString([(114.6, -8.4), (116.0, -8.6), (119.0, -8.6), (122.0, -8.6),
                            (125.0, -8.4)]).buffer(0.25),
                LineString([(123.5, -10.2), (125.0, -9.2)]).buffer(0.3),
                LineString([(119.3, -9.7), (120.6, -9.9)]).buffer(0.25),
            ]
        ),
    ),
    (
        "Maluku",
        0.05,
        shapely.union_all(
            [
                LineString([(127.6, 1.8), (128.0, 0.5), (128.4, -0.8)]).buffer(0.3),
                LineString([(128.0, -3.2), (130.8, -3.2)]).buffer(0.3),
                LineString([(126.1, -3.3), (127.1, -3.5)]).buffer(0.25),
            ]
        ),
    ),
    (
        "Papua",
        0.09,
        Polygon(
            [(131.0, -1.0), (132.5, -0.4), (135.0, -3.3), (137.8, -1.5), (141.0, -2.6),
             (141.0, -9.1), (139.0, -8.1), (138.0, -8.4), (137.6, -7.0), (135.0, -4.3),
             (133.0, -4.0), (132.0, -2.8)]
        ),
    ),
]
# fmt: on
EXTENT = (95.0, -11.0, 141.0, 6.0)  # west, south, east, north


def _points_in(shape: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    west, south, east, north = shape.bounds
    shapely.prepare(shape)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        xy = rng.uniform((west, south), (east, north), size=(max(n, 1000) * 2, 2))
        inside = xy[shapely.contains_xy(shape, xy[:, 0], xy[:, 1])]
        out.append(inside)
        have += len(inside)
    return np.concatenate(out)[:n]


def desa_cells(total: int = 84_000, seed: int = 7) -> list[tuple[str, MultiPolygon]]:
    """(island name, cell) for `total` desa; cells tile each island's land shape."""
    rng = np.random.default_rng(seed)
    cells: list[tuple[str, MultiPolygon]] = []
    shares = np.array([s for _, s, _ in ISLANDS])
    counts = np.floor(shares / shares.sum() * total).astype(int)
    counts[1] += total - counts.sum()  # the remainder to Java
    for (name, _, shape), n in zip(ISLANDS, counts, strict=True):
        points = _points_in(shape, int(n), rng)
        regions = shapely.voronoi_polygons(
            shapely.multipoints(points), extend_to=shape.envelope.buffer(1.0)
        )
        parts = shapely.intersection(np.asarray(shapely.get_parts(regions)), shape)
        for part in parts:
            polys = [g for g in shapely.get_parts(part) if isinstance(g, Polygon) and g.area > 0]
            if polys:
                cells.append((name, MultiPolygon(polys)))
    return cells
