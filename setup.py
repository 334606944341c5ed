"""Builds the optional C scanner (:mod:`cloudwarden.detect._ctscan`); the metadata lives in pyproject.toml.

``optional=True``: without a compiler the install still succeeds and the loader uses its Python path.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cloudwarden.detect._ctscan",
            ["src/cloudwarden/detect/_ctscan.c"],
            optional=True,
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
        )
    ]
)
