"""The task runner: dispatch, attempt, commit, chain and recovery, each in a module of its own.

It reaches AWS only through `flowcore.ports`; `flowcore.wiring` gives it the adapters.
"""
