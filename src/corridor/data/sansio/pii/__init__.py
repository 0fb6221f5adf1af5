"""Personal data: recognizers (``recognizers``), column scanning (``scan``), masking (``mask``)."""
