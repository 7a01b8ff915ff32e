"""promalert: Prometheus-native alert rules, routing, escalation and notification."""

__version__ = "0.1.0"
