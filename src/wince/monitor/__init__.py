"""Monitor: live inputs against a run's reference: drift, magnitudes, predicted degradation."""
