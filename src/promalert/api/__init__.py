"""The HTTP API: health, reload, metrics, and the native and Alertmanager APIs."""
