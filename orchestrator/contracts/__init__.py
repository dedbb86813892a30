"""Pure pydantic models that cross Temporal: no SQLAlchemy, no settings, no I/O."""
