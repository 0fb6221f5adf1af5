"""The I/O-free core of the data slice: plain values and Polars frames in, the same out.

Nothing here opens a file, a socket or a database session, and nothing imports what does
(``corridor.store``, ``corridor.runtime``, SQLAlchemy, httpx, FastAPI): an import contract in
``pyproject.toml`` keeps it so, and the modules are tested without a server. The declarative
specs are pydantic models, so that they can be read from YAML or JSON and stored beside a version.

- ``refs``: ``[project/]name[@version]`` references;
- ``formats``, ``csv_dialect``, ``dtypes``: input formats and compression from the first bytes,
  CSV dialect sniffing, and the names of column types;
- ``sensitivity``: who may consume a version (sensitivity classes, regions, gates, masking);
- ``spec_text``: specs read from YAML or JSON text;
- ``expr``: the safe expression language of filters, derived columns and custom checks;
- ``expectations`` (spec), ``validate`` (engine) and ``validation_report``: one-pass validation;
- ``recipe`` (spec), ``clean_steps`` and ``clean`` (engine): lazy cleaning with quarantine;
- ``profile`` and ``drift``: statistics of a frame, and how two frames or profiles differ;
- ``pii``: recognizers, column scanning, masking plans and masking of report bodies (the list of
  first names it recognises is a file shipped in the package, read once).
"""
