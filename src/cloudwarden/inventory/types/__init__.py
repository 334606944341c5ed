"""Descriptors of the resource types collected from list/describe APIs, one module per service family."""
