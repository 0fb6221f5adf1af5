"""Identity, policy, audit, encryption and signing."""
