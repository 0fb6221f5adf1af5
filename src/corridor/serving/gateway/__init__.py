"""The gateway: the lean ASGI hot path for the OIP v2 and OpenAI-style routes."""
