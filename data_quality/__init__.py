"""Data quality gate: Great Expectations suites on raw, profile and activation data.

No Dagster here (``orchestration/defs/quality.py`` wires these into asset checks). Great Expectations is
imported lazily, on the first validation.

- ``data_quality.runner.run_checks(con, selection)``: run suites, keep results, write the HTML report;
- ``data_quality.gate.preflight(con, model)``: the sync engine's gate, returns blocking failures;
- ``data_quality.cli.app``: ``outflow check [ASSET]``.
"""
