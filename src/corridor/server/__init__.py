"""The HTTP server: app factory, middleware, error mapping and the uvicorn runner."""
