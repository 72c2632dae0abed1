"""Drivers for real systems that produce the same Results as the simulator."""
