"""flowctl: Flow Manager's HTTP API from the command line (`flowctl --help`; README, "Command line: flowctl")."""

__version__ = "1.0.0"
