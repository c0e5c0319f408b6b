"""SI constants and unit converters. Everything inside bbw_bay is SI; units live at the edges."""

from __future__ import annotations

SECOND = 1.0
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
#: Mean Julian year [s]; used to convert annual loads (t/yr) to g/s.
YEAR = 365.25 * DAY

#: Mean Earth radius [m] (IUGG mean radius R1) for spherical cell metrics.
EARTH_RADIUS = 6_371_008.8
#: Earth's rotation rate [rad/s] (sidereal).
EARTH_ROTATION = 7.2921159e-5
GRAVITY = 9.81
RHO_WATER = 1025.0
RHO_AIR = 1.22

#: One tonne per year expressed in grams per second.
TONNE_PER_YEAR = 1.0e6 / YEAR
#: One Sverdrup [m³/s].
SVERDRUP = 1.0e6

#: The four seasons, in calendar order from winter (December-February).
SEASONS = ("winter", "spring", "summer", "autumn")
#: The four seasons and the annual mean, as config files and the CLI name them.
SEASONS_AND_ANNUAL = (*SEASONS, "annual")


def per_day_to_per_second(rate_per_day: float) -> float:
    """Convert a first-order rate from 1/day to 1/s."""
    return rate_per_day / DAY


def tonnes_per_year_to_grams_per_second(load_t_per_yr: float) -> float:
    """Convert a load from t/yr to g/s."""
    return load_t_per_yr * TONNE_PER_YEAR


def grams_per_second_to_tonnes_per_year(load_g_per_s: float) -> float:
    """Convert a load from g/s to t/yr."""
    return load_g_per_s / TONNE_PER_YEAR
