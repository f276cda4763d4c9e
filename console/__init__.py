"""console: FastAPI app, REST API, map pages and the zhizhi CLI."""
