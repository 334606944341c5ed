"""The lab's CloudTrail recorder: every API call any client makes to the lab, as CloudTrail records.

Modules, one job each: ``http`` (the captured exchange), ``operations`` (which API operation, from
botocore's models), ``event_names`` (CloudTrail's name where it is not the operation's),
``params`` (request parameters, response elements, errors, redaction) with ``ec2_params`` (EC2's
own CloudTrail shapes) and ``service_shapes`` (other services' departures from the model),
``identity`` (``userIdentity`` from moto's IAM/STS state, and AWS services acting: a call with the
lab's default key from ``<service>.amazonaws.com`` is that service), ``record`` (the record itself), ``trails``
(which trails receive it), ``delivery`` (gzipped log files to trail buckets and disk), ``lookup``
(``LookupEvents``), ``core`` (the :class:`Recorder` tying them together), ``middleware`` (the WSGI
wrapper around moto) and ``helpers`` (the ``/_cloudwarden/`` endpoints).
"""

from cloudwarden.lab.recorder.core import Recorder
from cloudwarden.lab.recorder.delivery import FlushResult
from cloudwarden.lab.recorder.middleware import RecordingMiddleware
from cloudwarden.lab.recorder.params import HIDDEN

__all__ = ["HIDDEN", "FlushResult", "Recorder", "RecordingMiddleware"]
