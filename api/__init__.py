"""FastAPI: routers only, calling into kb, crm and hub."""
