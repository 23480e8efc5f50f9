"""Not a function: a name starting with `_` is a helper the functions import."""
