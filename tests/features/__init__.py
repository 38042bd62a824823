"""Tests of features/."""
