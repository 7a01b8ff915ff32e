"""Compatibility tests against the real Alertmanager 0.25, amtool and Prometheus.

``amcompat`` (next to this file) starts the servers; each test skips itself when the
Debian packages it needs are not installed.
"""
