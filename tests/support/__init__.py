"""Reusable test helpers: a settable exporter, a real Prometheus and a scripted fake API.

- :func:`support.exporter.serve_exporter` serves gauges you set from the test.
- :func:`support.prometheus.running_prometheus` runs the real Prometheus binary against them.
- :func:`support.fake_prometheus.fake_api` answers ``/api/v1/query`` however a test scripts it.
"""
