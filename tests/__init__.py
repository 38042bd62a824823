"""Spend test suite; mirrors the source tree."""
