"""Load and PV shapes for the simulated devices: documented, seeded, vectorised.

Time convention: simulated time is milliseconds since the Unix epoch and is
read as *local solar time* (noon = sun highest). That keeps sunrise and
sunset a function of day of year and latitude only, with no time zone or
equation-of-time tables; a scenario that wants clock time can shift its
start.

PV: clear-sky global horizontal irradiance from the Haurwitz model
(GHI = 1098 cos Z exp(-0.057 / cos Z) W/m2, Haurwitz 1945, the simplest of
the clear-sky models compared by Reno et al., Sandia SAND2012-2389), with the
solar zenith from Cooper's declination and the hour angle. PV power =
kWp * GHI / 1000 W/m2 * performance ratio (0.85 by default) * clear-sky index.
The array is taken as horizontal (no transposition model): simple, documented,
and its day shape runs from sunrise to sunset exactly.

Clouds: a seeded AR(1) process x (unit variance, time constant ``tau_s``)
drives a cloud cover c = logistic(4 (x - z)) in (0, 1), with z chosen so that
c = ``cloudiness`` when x = 0; the clear-sky index is 1 - 0.75 c (thick cloud
leaves diffuse light). ``cloudiness`` 0 gives a clear day.

Loads: 24 hourly fractions of the peak, linearly interpolated and periodic,
times (1 + sigma * AR(1) noise), clipped at 0. The household shape follows the
morning and evening peaks of the German BDEW H0 standard residential profile
(rounded by hand, not the official data); the commercial shape is an office
or shop with a business-hours plateau and low weekends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MS_PER_DAY = 86_400_000

#: Fraction of peak load at the start of each hour (00:00 .. 23:00).
HOUSEHOLD_SHAPE = (
    0.24, 0.20, 0.18, 0.17, 0.17, 0.19, 0.28, 0.45, 0.48, 0.40, 0.36, 0.38,
    0.45, 0.42, 0.35, 0.33, 0.38, 0.55, 0.78, 1.00, 0.92, 0.75, 0.52, 0.34,
)  # fmt: skip
COMMERCIAL_WEEKDAY_SHAPE = (
    0.25, 0.25, 0.25, 0.25, 0.25, 0.27, 0.35, 0.60, 0.85, 0.95, 1.00, 1.00,
    0.95, 0.97, 1.00, 0.98, 0.92, 0.75, 0.55, 0.40, 0.32, 0.28, 0.26, 0.25,
)  # fmt: skip
COMMERCIAL_WEEKEND_SHAPE = (
    0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.26, 0.28, 0.30, 0.32, 0.33, 0.33,
    0.33, 0.33, 0.32, 0.31, 0.30, 0.29, 0.28, 0.27, 0.26, 0.25, 0.25, 0.25,
)  # fmt: skip

LOAD_KINDS = ("household", "commercial", "none")
#: Default noise (sigma, tau seconds) per load kind: households are spiky and
#: quick, a commercial building is the sum of many small loads and smoother.
LOAD_NOISE = {"household": (0.15, 120.0), "commercial": (0.05, 600.0), "none": (0.0, 60.0)}


# ---------------------------------------------------------------- calendar


def day_of_year(t_ms: np.ndarray) -> np.ndarray:
    """1..366 for each timestamp (ms since the epoch)."""
    days = np.asarray(t_ms, dtype=np.int64) // MS_PER_DAY
    d = days.astype("datetime64[D]")
    return (d - d.astype("datetime64[Y]")).astype(np.int64) + 1


def weekday(t_ms: np.ndarray) -> np.ndarray:
    """0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday)."""
    return (np.asarray(t_ms, dtype=np.int64) // MS_PER_DAY + 3) % 7


def hour_of_day(t_ms: np.ndarray) -> np.ndarray:
    return (np.asarray(t_ms, dtype=np.int64) % MS_PER_DAY) / 3_600_000.0


# ---------------------------------------------------------------- sun


def declination_rad(doy: np.ndarray | int) -> np.ndarray:
    """Cooper's formula: 23.45 deg * sin(2 pi (284 + n) / 365)."""
    return np.radians(23.45) * np.sin(2 * np.pi * (284 + np.asarray(doy)) / 365.0)


def sun_times(latitude_deg: float, doy: int) -> tuple[float, float]:
    """(sunrise, sunset) in solar hours; (12, 12) in polar night, (0, 24) in polar day."""
    phi = math.radians(latitude_deg)
    x = -math.tan(phi) * math.tan(float(declination_rad(doy)))
    if x >= 1.0:
        return 12.0, 12.0
    if x <= -1.0:
        return 0.0, 24.0
    half_day_h = math.degrees(math.acos(x)) / 15.0
    return 12.0 - half_day_h, 12.0 + half_day_h


def cos_zenith(latitude_deg: float, t_ms: np.ndarray) -> np.ndarray:
    phi = math.radians(latitude_deg)
    delta = declination_rad(day_of_year(t_ms))
    omega = np.radians(15.0 * (hour_of_day(t_ms) - 12.0))
    return np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.cos(omega)


def clear_sky_ghi(latitude_deg: float, t_ms: np.ndarray) -> np.ndarray:
    """Haurwitz clear-sky GHI in W/m2 (0 when the sun is down)."""
    cz = cos_zenith(latitude_deg, t_ms)
    out = np.zeros_like(cz, dtype=float)
    up = cz > 0.0
    out[up] = 1098.0 * cz[up] * np.exp(-0.057 / cz[up])
    return out


def pv_clear_sky_w(
    kwp: float, latitude_deg: float, t_ms: np.ndarray, performance_ratio: float = 0.85
) -> np.ndarray:
    return kwp * clear_sky_ghi(latitude_deg, t_ms) * performance_ratio


# ---------------------------------------------------------------- loads


def _interp_shape(shape: tuple[float, ...], hours: np.ndarray) -> np.ndarray:
    xp = np.arange(25, dtype=float)
    fp = np.array(shape + shape[:1], dtype=float)
    return np.interp(hours, xp, fp)


def load_fraction(kind: str, t_ms: np.ndarray) -> np.ndarray:
    """Fraction of peak load at each timestamp for a load kind (no noise)."""
    t_ms = np.asarray(t_ms, dtype=np.int64)
    hours = hour_of_day(t_ms)
    if kind == "household":
        return _interp_shape(HOUSEHOLD_SHAPE, hours)
    if kind == "commercial":
        week = _interp_shape(COMMERCIAL_WEEKDAY_SHAPE, hours)
        wend = _interp_shape(COMMERCIAL_WEEKEND_SHAPE, hours)
        return np.where(weekday(t_ms) >= 5, wend, week)
    if kind == "none":
        return np.zeros(t_ms.shape, dtype=float)
    raise ValueError(f"unknown load kind {kind!r}; expected one of {', '.join(LOAD_KINDS)}")


# ---------------------------------------------------------------- noise


@dataclass
class Ar1:
    """Unit-variance AR(1) process on a fixed step: x' = a x + sqrt(1 - a^2) e.

    Stateful and drawn forward only, so the values of step k depend on the seed
    and k alone, never on how the caller chunks its requests.
    """

    rng: np.random.Generator
    step_s: float
    tau_s: float
    x: float = 0.0

    def next(self, n: int) -> np.ndarray:
        a = math.exp(-self.step_s / self.tau_s) if self.tau_s > 0 else 0.0
        s = math.sqrt(1.0 - a * a)
        e = self.rng.standard_normal(n)
        out = np.empty(n)
        x = self.x
        for i in range(n):
            x = a * x + s * e[i]
            out[i] = x
        self.x = x
        return out


def cloud_index(x: np.ndarray, cloudiness: float) -> np.ndarray:
    """Clear-sky index (0.25..1] from the AR(1) cloud driver x."""
    if cloudiness <= 0.0:
        return np.ones_like(x)
    if cloudiness >= 1.0:
        return np.full_like(x, 0.25)
    z = math.log(1.0 / cloudiness - 1.0) / 4.0
    cover = 1.0 / (1.0 + np.exp(-4.0 * (x - z)))
    return 1.0 - 0.75 * cover


def day_profile(
    kind: str,
    peak_w: float,
    pv_kwp: float,
    latitude_deg: float,
    day_start_ms: int,
    step_s: int = 900,
    cloudiness: float = 0.0,
    seed: int = 0,
) -> dict[str, list[float]]:
    """One day of load and PV at ``step_s`` resolution, for inspection and the CLI."""
    n = 86_400 // step_s
    t = day_start_ms + np.arange(n, dtype=np.int64) * step_s * 1000
    rng = np.random.default_rng(seed)
    sigma, tau = LOAD_NOISE[kind]
    load = peak_w * load_fraction(kind, t) * np.maximum(
        0.0, 1.0 + sigma * Ar1(rng, step_s, tau).next(n)
    )
    pv = pv_clear_sky_w(pv_kwp, latitude_deg, t) * cloud_index(
        Ar1(rng, step_s, 1200.0).next(n), cloudiness
    )
    return {"hour": list(hour_of_day(t)), "load_w": list(load), "pv_w": list(pv)}
