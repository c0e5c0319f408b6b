"""The ``bbw-bay`` command line: the only place that prints."""
