"""Shipped ensemble files (package data)."""
