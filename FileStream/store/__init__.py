"""MongoDB persistence: one connection (database.py) and one store per collection."""
