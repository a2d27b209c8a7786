"""Contexts: the working state of a program (parameters, datasets, artifacts with
provenance) and the immutable frozen contexts made when a gate passes."""
