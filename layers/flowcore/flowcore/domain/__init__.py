"""The pure core: flow definitions, records, statuses and their transitions, routing. No AWS, no pydantic."""
