"""Framing: small rotation, translation, zoom / crop, perspective tilt."""
