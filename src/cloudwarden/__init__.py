"""cloudwarden: a local-first AWS security platform (posture, IAM, detection, response)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
