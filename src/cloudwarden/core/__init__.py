"""The shared vocabulary: findings, resources, severities, ARNs, errors. No I/O, imports nothing of ours."""
