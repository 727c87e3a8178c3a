"""The admin API's domain-facing pieces: identity, errors, request/response models and actions.

The HTTP side (routes, status codes, the resolver) lives in `functions/api/`; nothing here knows
about HTTP beyond the shapes of the bodies.
"""
