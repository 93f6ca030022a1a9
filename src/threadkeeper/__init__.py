"""threadkeeper: a Redis-centric conversation cache and persistence daemon."""

__version__ = "0.1.0"
