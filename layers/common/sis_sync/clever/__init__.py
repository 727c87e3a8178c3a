"""Clever Data API v3.0: typed models and an HTTP client that never returns a partial list."""
