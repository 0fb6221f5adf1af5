"""Builders that turn trained (or downloaded) models into registry packages."""
