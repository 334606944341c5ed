"""Posture controls: CIS AWS Foundations (v5.0.0, v3.0.0) and AWS FSBP, decided from an inventory snapshot.

A control is metadata plus one small pure function over the snapshot's resource documents
(:mod:`cloudwarden.posture.model`), registered in :mod:`cloudwarden.posture.registry`; framework
mappings are data (``frameworks/*.yaml``). :func:`cloudwarden.posture.evaluate.evaluate` turns verdicts
into findings; :mod:`~cloudwarden.posture.suppress` applies a mutelist, :mod:`~cloudwarden.posture.drift`
compares two snapshots, and :mod:`~cloudwarden.posture.stage` is the pipeline stage. Nothing here calls AWS.
"""
