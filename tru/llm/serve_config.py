"""`tru serve`'s settings (``ServeConfig``); the server itself is tru/llm/server.py."""

from __future__ import annotations

from dataclasses import dataclass

from tru.core.errors import ConfigError
from tru.core.settings import check_field_values, setting
from tru.modeling.config import ModelFields


@dataclass(kw_only=True)
class ServeConfig(ModelFields):
    """`tru serve`: talk to a local (for example an unlearned) model from any OpenAI client."""

    host: str = setting("127.0.0.1", "address to bind; anything but loopback needs a token")
    port: int = setting(8000, "port to bind (0: any free port; the address is printed)")
    served_name: str = setting("", "model name clients ask for (default: the --model value)")
    token_env: str = setting("TRU_SERVE_TOKEN", "environment variable holding the bearer token clients must send")
    token_file: str = setting("", "file holding the bearer token (instead of the environment variable)")
    default_max_tokens: int = setting(256, "max_tokens when a request gives none (at most --max-tokens-limit)")
    max_tokens_limit: int = setting(2048, "largest max_tokens a request may ask for")
    max_messages: int = setting(64, "most messages in one request")
    max_prompts: int = setting(64, "most prompts in one /v1/completions request")
    max_body_bytes: int = setting(1_000_000, "largest request body in bytes")
    max_pending: int = setting(
        8, "most chat requests waiting for or using the model at once; more get 429 with Retry-After"
    )
    max_connections: int = setting(64, "most connections handled at once (one thread each); more get 429")
    request_timeout: float = setting(
        10.0, "seconds a client has to send its whole request (and the limit on each socket write)"
    )

    def validate(self) -> None:
        check_field_values(self)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be in 0..65535, got {self.port}")
        for name in (
            "default_max_tokens",
            "max_tokens_limit",
            "max_messages",
            "max_prompts",
            "max_body_bytes",
            "max_pending",
            "max_connections",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_connections < self.max_pending:
            raise ConfigError(
                f"--max-connections ({self.max_connections}) must be at least --max-pending ({self.max_pending})"
            )
        if not self.request_timeout > 0:
            raise ConfigError(f"--request-timeout must be positive, got {self.request_timeout}")
