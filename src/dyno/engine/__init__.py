"""Launch, supervise and read the log of a real inference engine (vLLM)."""
