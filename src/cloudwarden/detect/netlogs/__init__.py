"""Threat detection over VPC flow logs and Route 53 resolver query logs (GuardDuty's EC2 network findings).

Readers (:mod:`~cloudwarden.detect.netlogs.flow`, :mod:`~cloudwarden.detect.netlogs.dns`) load the
``flow_logs`` and ``dns_logs`` tables (:mod:`~cloudwarden.detect.netlogs.tables`) from files, directory
trees and ``s3://`` locations; :mod:`~cloudwarden.detect.netlogs.enrich` derives direction, peers, trust
and the instance each record belongs to; the rules in ``pack/`` (the native rule model) run through
the detection compiler in :mod:`~cloudwarden.detect.netlogs.engine`. Import the engine from its module:
this package imports nothing, so importing it stays cheap.
"""
