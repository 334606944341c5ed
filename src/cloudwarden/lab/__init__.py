"""The embedded local AWS: moto's server wrapped by our CloudTrail recorder, the seeded demo
organisation, benign traffic and game-day attack scenarios. Importing this package starts nothing."""
