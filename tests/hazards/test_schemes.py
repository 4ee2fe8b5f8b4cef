"""Classification schemes: pure functions on labels and arrays."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from service.hazards.schemes import (
    FLOOD_DEPTH,
    FLOOD_PRONE,
    MMI,
    SCHEMES,
    TSUNAMI_CATEGORY,
    VOLCANO_KRB,
    categorise,
    class_index,
    default_scheme,
    get_scheme,
    scheme_from_dict,
    severity,
)


def test_volcano_krb_accepts_pvmbg_spellings() -> None:
    values = ["Kawasan Rawan Bencana III", "KRB II", "krb-1", "I", 3, "Zona Merah"]
    result = categorise(VOLCANO_KRB, values)
    assert result.classes == ["KRB III", "KRB II", "KRB I", "KRB I", "KRB III", None]
    assert result.unknown == ["Zona Merah"]
    mapped = categorise(VOLCANO_KRB, values, {"zona merah": "KRB III"})
    assert mapped.classes[-1] == "KRB III" and mapped.unknown == []


def test_tsunami_and_flood_prone_labels() -> None:
    assert categorise(TSUNAMI_CATEGORY, ["Low", "very high", "Sedang"]).classes == [
        "Low",
        "Very High",
        "Medium",
    ]
    flood = categorise(FLOOD_PRONE, ["YES", "Yes", "tidak", None])
    assert flood.classes == ["yes", "yes", "no", None] and flood.unknown == ["<empty>"]


def test_flood_depth_thresholds_on_arrays() -> None:
    depth = np.array([0.0, 0.05, 0.1, 0.69, 0.7, 1.49, 1.5, 4.0, np.nan])
    assert class_index(FLOOD_DEPTH, depth).tolist() == [-1, -1, 0, 0, 1, 1, 2, 2, -1]
    assert severity(FLOOD_DEPTH, depth).tolist() == [0, 0, 0.33, 0.33, 0.67, 0.67, 1, 1, 0]
    assert FLOOD_DEPTH.to_dict()["wet_threshold"] == 0.1


def test_mmi_thresholds() -> None:
    mmi = np.array([[5.9, 6.0], [7.5, 9.2]])
    assert class_index(MMI, mmi).tolist() == [[-1, 0], [1, 2]]
    assert [c.name for c in MMI.classes] == ["VI", "VII", "VIII+"]


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_every_scheme_round_trips_and_is_ordered(name: str) -> None:
    scheme = get_scheme(name)
    again = scheme_from_dict(scheme.to_dict())
    assert again.class_names == scheme.class_names
    assert [c.severity for c in again.classes] == [c.severity for c in scheme.classes]
    weights = [c.severity for c in scheme.classes]
    assert weights == sorted(weights) and all(0 <= w <= 1 for w in weights)
    if scheme.type == "thresholds":
        bounds = [(c.lower, c.upper) for c in scheme.classes]
        assert all(b[1] == n[0] for b, n in itertools.pairwise(bounds))


def test_defaults_and_unknown_scheme() -> None:
    assert default_scheme("volcano", "zones") is VOLCANO_KRB
    assert default_scheme("flood", "raster") is FLOOD_DEPTH
    assert default_scheme("landslide", "zones").name == "low_medium_high"
    with pytest.raises(KeyError, match="use one of"):
        get_scheme("nope")
