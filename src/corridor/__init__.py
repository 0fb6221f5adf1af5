"""Corridor: self-hosted AI infrastructure in one package."""
