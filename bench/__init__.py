"""`make bench`: what a transition costs on AWS and how fast the pieces are, measured on the real handlers.

Run it with `python -m bench` (see `bench/__main__.py`); it writes `bench/results.json` and prints a table.
"""
