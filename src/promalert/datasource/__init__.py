"""Datasources that rules query: the Prometheus HTTP API and compatible servers."""

from promalert.datasource.prometheus import (
    PrometheusClient,
    QueryResult,
    RangeResult,
    Sample,
    Series,
    build_ssl_context,
)

__all__ = [
    "PrometheusClient",
    "QueryResult",
    "RangeResult",
    "Sample",
    "Series",
    "build_ssl_context",
]
