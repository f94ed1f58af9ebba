"""Chat models over a common interface: the OpenAI-compatible client, a local model behind the same
interface, and `tru serve` (server.py with completions.py, fields.py, params.py, reasoning.py, stop.py)."""
