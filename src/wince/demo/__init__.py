"""The offline demo: real data that scikit-learn ships, models trained on the fly."""
