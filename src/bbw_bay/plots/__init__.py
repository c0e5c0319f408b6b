"""Figures: maps, time series and charts (matplotlib is imported inside the functions)."""
