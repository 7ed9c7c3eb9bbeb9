"""Live checks of an endpoint for the traps in the field notes (`dyno check`)."""
