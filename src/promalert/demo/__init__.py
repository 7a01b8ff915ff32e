"""The newcomer's demo: a synthetic workload, a local Prometheus, example rules, an inbox."""
