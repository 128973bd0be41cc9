"""Workstation and kiosk agent: owns the devices, talks to the backend over mutual TLS."""
