"""Scenario presets and sweep specs, installed as the package replab.data."""
