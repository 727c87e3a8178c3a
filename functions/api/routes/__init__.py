"""The API's routers, one per resource; `functions/api/app.py` includes them all."""
