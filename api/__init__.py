"""HTTP API (FastAPI) and the web console. Calls ``core``; nothing imports ``api``."""
