"""Placeholder: filled in by the text library work (#4)."""
