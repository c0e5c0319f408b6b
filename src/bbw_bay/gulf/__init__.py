"""The embedded Beibu Gulf: coastline and bathymetry, the seasonal circulation recipe, tides, the
load inventory and boundary values (every number sourced in the shipped ``forcing/`` files), and
the builder that turns a config into a model."""
