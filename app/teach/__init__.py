"""Taught classifiers: the user's own classes, learned on the device from a few examples."""
