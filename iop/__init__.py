"""Operator tooling: embedded broker, iop up, demo, roster load."""
