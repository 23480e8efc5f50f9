"""The composition roots: the only modules that build adapters and hand them to the runner and the API.

One module per function, so that each imports what it uses and nothing more (the stream consumers never
load pydantic): `api` for the HTTP API, `runner` for the task runner, `failures` for the failure queue's
consumer. What they build is kept for the container's life (`per_container`); `shared.reset` forgets it all.
"""
