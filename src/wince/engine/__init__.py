"""The engine: expand plans into scenarios, evaluate units, run them on executors."""
