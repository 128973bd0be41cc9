"""Workstation and kiosk agent: owns the devices, talks to the backend over mutual TLS.

``bootstrap(config)`` (in :mod:`terminal_agent.agent`) is the one place that chooses
real or simulated devices; :mod:`terminal_agent.api` is the local API on 127.0.0.1.
"""

__version__ = "0.1.0"
