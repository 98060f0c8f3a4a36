"""Regenerate profiles.csv: the 24 hourly PV, wind, hydro and load factors of the PJM-5 study.

The papers publish no profiles; these are synthetic shapes written down here so
that anyone can see (and change) exactly what the study uses. Run:
    .venv/bin/python hub/data/pjm5/make_profiles.py > hub/data/pjm5/profiles.csv
"""

import math

import numpy as np


def pv(h: float) -> float:
    # Clear-sky bell between 06:00 and 19:00 (a summer day), hour-centred.
    x = math.sin(math.pi * (h + 0.5 - 6) / 13)
    return max(x, 0.0) ** 1.3 if 6 <= h + 0.5 <= 19 else 0.0


def wind(seed: int, peak_hour: float, base: float, amp: float) -> list[float]:
    # Diurnal cycle (strongest at night) plus AR(1) noise from a fixed seed.
    rng = np.random.default_rng(seed)
    noise, out = 0.0, []
    for h in range(24):
        noise = 0.7 * noise + rng.normal(0, 0.06)
        v = base + amp * math.cos(2 * math.pi * (h - peak_hour) / 24) + noise
        out.append(min(max(v, 0.05), 0.95))
    return out


def load(h: float) -> float:
    # Morning shoulder and evening peak over a night trough, scaled to a peak of 1.
    x = 0.60 + 0.22 * math.exp(-(((h - 9) / 3) ** 2)) + 0.42 * math.exp(-(((h - 18) / 3.5) ** 2))
    return x


def main() -> None:
    peak = max(load(h) for h in range(24))
    wa, wd, we = wind(1, 3, 0.45, 0.20), wind(2, 1, 0.40, 0.15), wind(3, 4, 0.50, 0.25)
    print("hour,pv,wind_a,wind_d,wind_e,hydro,load")
    for h in range(24):
        print(f"{h},{pv(h):.3f},{wa[h]:.3f},{wd[h]:.3f},{we[h]:.3f},1.000,{load(h) / peak:.3f}")


if __name__ == "__main__":
    main()
