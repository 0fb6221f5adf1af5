"""The wire formats: Open Inference Protocol v2 (JSON and binary) and OpenAI-style. No I/O."""
