"""The serving control plane's routes (a stub until they land)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
