"""Journeys: multi-step lifecycle flows declared in YAML (``dbt_project/journeys/*.yml``) and evaluated in the
warehouse on a schedule. ``spec`` validates a declaration, ``engine`` evaluates it (admit, goals, advance, sends)
and ``simulate`` replays it over a virtual clock. See docs/journeys.md."""

from activations.journeys.spec import Journey, JourneyError, load_journey, load_journeys

__all__ = ["Journey", "JourneyError", "load_journey", "load_journeys"]
