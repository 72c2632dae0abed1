"""Plots read from Results only: the house style, the charts, the topology."""
