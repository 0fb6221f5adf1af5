"""Model runtimes: one seam (`base.ServedModel`), one registry of backends (`registry`)."""
