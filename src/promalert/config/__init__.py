"""Configuration: ``promalert.yml`` and rule files, loaded with every problem located.

- :mod:`promalert.config.models` — pydantic models of ``promalert.yml``
- :mod:`promalert.config.types` — durations, conditions and label maps shared with rule files
- :mod:`promalert.config.loader` — ``load_config``, ``load_rule_files``, ``load_all``
- :mod:`promalert.config.yamlpos` — YAML with node positions; pydantic errors mapped onto them

Nothing is re-exported here: :mod:`promalert.rules.spec` imports ``config.types`` while the
loader imports ``rules.spec``, so importing the loader from this package would be circular.
"""
