"""Datasets: validation, cleaning, profiling, drift and personal-data handling.

The modules here are I/O-free: they take and return Polars frames and plain values, with
pydantic models for the declarative specs (expectation suites, cleaning recipes, masking plans)
so that specs can be read from YAML or JSON and stored beside a dataset version.

- ``expectations`` (spec) and ``validate`` (engine): one-pass data validation;
- ``recipe`` (spec), ``clean_steps`` and ``clean`` (engine): lazy cleaning with quarantine;
- ``profile`` and ``drift``: statistics of a frame, and how two frames or profiles differ;
- ``expr``: the safe expression language used by filters, derived columns and custom checks;
- ``pii``: recognizers, column scanning and masking of personal data.
"""
