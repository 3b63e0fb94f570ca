"""Errors the engine raises for bad input, so callers can tell them from bugs."""


class ModelError(ValueError):
    """A model file or description that cannot be run: names the chunk/op and the problem."""


class ProfileError(ModelError):
    """A valid model that does not fit the limits of the active GPU profile."""
