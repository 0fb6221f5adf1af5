"""Placement: which site runs a job, when, and why. The names other modules import.

``feasibility`` gives the submit-time refusal (``feasibility.py``), ``place_one`` decides for
one job against the sites as they are (``decide.py``), and ``Scheduler`` holds the queue and
places as many jobs as fit each tick (``scheduler.py``). The values they work on are in
``views.py``. Import them all from here.
"""

from __future__ import annotations

from corridor.compute.sansio.decide import place_one
from corridor.compute.sansio.feasibility import feasibility
from corridor.compute.sansio.scheduler import Scheduler, schedule
from corridor.compute.sansio.views import (
    OBJECTIVES,
    Candidate,
    Decision,
    Objective,
    QueuedJob,
    SiteView,
)

__all__ = [
    "OBJECTIVES",
    "Candidate",
    "Decision",
    "Objective",
    "QueuedJob",
    "Scheduler",
    "SiteView",
    "feasibility",
    "place_one",
    "schedule",
]
