"""Peak ground acceleration for subduction events, site amplification, PGA <-> MMI: pure numpy.

* BC Hydro subduction GMPE - Abrahamson, Gregor & Addo (2016), "BC Hydro ground motion
  prediction equations for subduction earthquakes", Earthquake Spectra 32(1), 23-44,
  doi:10.1193/051712EQS188MR; PGA coefficients of their table 3 (forearc sites, central
  magnitude-scaling branch: dC1 = +0.2 interface, -0.3 intraslab). Interface events use the
  rupture distance, intraslab events the hypocentral distance (as the model was fitted):

    ln PGA[g] = t1 + t4 dC1 + (t2 + t14 Fe + t3 (M - 7.8)) ln(R + c4 exp(t9 (M - 6)))
                + t6 R + t10 Fe + fmag(M) + Fe t11 (min(h, 120) - 60) + fsite
    fmag = t4 (M - C1) + t13 (10 - M)^2 for M <= C1 = 7.8 + dC1, else t5 (M - C1) + t13 (10 - M)^2
    fsite (Vs30 < Vlin) = t12 ln(V/Vlin) - b ln(PGA1000 + c) + b ln(PGA1000 + c (V/Vlin)^n)
    fsite (Vs30 >= Vlin) = t12 ln(V/Vlin) + b n ln(V/Vlin),  V = min(Vs30, 1000)

  t1 4.2203, t2 -1.35, t3 0.1, t4 0.9, t5 0, t6 -0.0012, t9 0.4, t10 3.12, t11 0.0130,
  t12 0.98, t13 -0.0135, t14 -0.40, Vlin 865.1, b -1.186, n 1.18, c 1.88, c4 10; Fe = 1 for
  intraslab events, 0 for interface events. Its site term (Walling et al. 2008 form, with
  non-linear soil response) also serves the crustal estimate's site correction.

* GMICE - Worden, Gerstenberger, Rhoades & Wald (2012), "Probabilistic relationships between
  ground-motion parameters and Modified Mercalli intensity in California", BSSA 102(1),
  204-221, doi:10.1785/0120110156, PGA in cm/s^2 (table 1):
    MMI = 1.78 + 1.55 log10 PGA   for log10 PGA <= 1.57
    MMI = -1.60 + 3.70 log10 PGA  above (MMI > 4.21)
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

G_CM_S2 = 980.665
# BC Hydro PGA coefficients (Abrahamson et al. 2016, table 3).
T1, T2, T3, T4, T5, T6, T9 = 4.2203, -1.35, 0.1, 0.9, 0.0, -0.0012, 0.4
T10, T11, T12, T13, T14 = 3.12, 0.0130, 0.98, -0.0135, -0.40
VLIN, B, N, C, C4 = 865.1, -1.186, 1.18, 1.88, 10.0
DC1 = {"interface": 0.2, "intraslab": -0.3}
# Worden et al. (2012) GMICE for PGA.
W_C1, W_C2, W_C3, W_C4, W_T1 = 1.78, 1.55, -1.60, 3.70, 1.57
W_T2 = W_C1 + W_C2 * W_T1  # MMI at the break, 4.21


def site_term(vs30: ArrayLike, pga1000_g: ArrayLike) -> NDArray[np.float64]:
    """BC Hydro site term (ln units) at Vs30 given the median PGA (g) on Vs30 = 1000 m/s rock."""
    vs = np.minimum(np.asarray(vs30, dtype=np.float64), 1000.0)
    pga = np.asarray(pga1000_g, dtype=np.float64)
    arg = vs / VLIN
    linear = T12 * np.log(arg) + B * N * np.log(arg)
    soil = T12 * np.log(arg) - B * np.log(pga + C) + B * np.log(pga + C * arg**N)
    return np.where(vs >= VLIN, linear, soil)


def bchydro_ln_pga(
    magnitude: float,
    distance_km: ArrayLike,
    depth_km: float | None,
    intraslab: bool,
    vs30: ArrayLike,
) -> NDArray[np.float64]:
    """ln PGA (g): Rrup for interface events, Rhypo for intraslab events."""
    fe = 1.0 if intraslab else 0.0
    dc1 = DC1["intraslab" if intraslab else "interface"]
    c1 = 7.8 + dc1
    r = np.asarray(distance_km, dtype=np.float64)
    fmag = (T4 if magnitude <= c1 else T5) * (magnitude - c1) + T13 * (10.0 - magnitude) ** 2
    fdist = (T2 + T14 * fe + T3 * (magnitude - 7.8)) * np.log(
        r + C4 * math.exp(T9 * (magnitude - 6.0))
    ) + T6 * r
    fdepth = fe * T11 * (min(float(depth_km or 0.0), 120.0) - 60.0)
    rock = T1 + T4 * dc1 + fmag + fdist + T10 * fe + fdepth
    pga1000 = np.exp(rock + (T12 + B * N) * math.log(1000.0 / VLIN))
    return rock + site_term(vs30, pga1000)


def mmi_from_pga(pga_cm_s2: ArrayLike) -> NDArray[np.float64]:
    """Worden et al. (2012) PGA (cm/s^2) -> MMI."""
    lg = np.log10(np.maximum(np.asarray(pga_cm_s2, dtype=np.float64), 1e-6))
    return np.where(lg <= W_T1, W_C1 + W_C2 * lg, W_C3 + W_C4 * lg)


def pga_from_mmi(mmi: ArrayLike) -> NDArray[np.float64]:
    """The inverse of `mmi_from_pga` (cm/s^2)."""
    m = np.asarray(mmi, dtype=np.float64)
    lg = np.where(m <= W_T2, (m - W_C1) / W_C2, (m - W_C3) / W_C4)
    return np.asarray(10.0**lg, dtype=np.float64)


def site_correction_mmi(
    mmi_ref: ArrayLike, vs30: ArrayLike, vs30_ref: float
) -> NDArray[np.float64]:
    """MMI at Vs30 from MMI at Vs30_ref, through PGA and the BC Hydro (Walling 2008) site term."""
    pga_ref_g = pga_from_mmi(mmi_ref) / G_CM_S2
    rock = site_term(1000.0, pga_ref_g)
    pga1000 = pga_ref_g * np.exp(rock - site_term(vs30_ref, pga_ref_g))  # rock motion, 1st order
    delta = site_term(vs30, pga1000) - site_term(vs30_ref, pga1000)
    return mmi_from_pga(pga_ref_g * np.exp(delta) * G_CM_S2)
