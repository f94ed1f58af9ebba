"""Request fields of ``tru serve``: the OpenAI error answer and the checks each field goes through.

Every check raises ``ApiError`` (400) naming the field at fault, so that a wrongly typed value is a
clear client error, never a 500.
"""

from __future__ import annotations

SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.manual_seed accepts
MOST_STOP_SEQUENCES = 4  # OpenAI's limit


class ApiError(Exception):
    """An error answer in the OpenAI format."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": None}}


def json_type(value) -> str:
    """How a JSON value is named in an error: 'a number', 'a list', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def wrong_type(field: str, wanted: str, value) -> ApiError:
    return ApiError(400, f"'{field}' must be {wanted}, got {json_type(value)}", param=field)


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def bounded_number(body: dict, name: str, low: float, high: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ApiError(400, f"'{name}' must be a number in [{low:g}, {high:g}], got {value!r}", param=name)
    return float(value)


def flag(field: str, value) -> bool:
    if value is not None and not isinstance(value, bool):
        raise wrong_type(field, "a boolean", value)
    return bool(value)


def utf8_text(field: str, value: str) -> str:
    """The string, if UTF-8 can encode it: JSON allows lone surrogates (\\ud800), which a tokenizer cannot take."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, f"'{field}' is not valid Unicode (a lone surrogate)", param=field) from None
    return value


def max_tokens(body: dict, default: int, limit: int, lowest: int = 1) -> int:
    """``max_completion_tokens`` or ``max_tokens``: an integer in [lowest, limit], ``default`` when absent."""
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return min(default, limit)
    if not is_integer(value) or value < lowest:
        wanted = "a positive integer" if lowest == 1 else f"an integer of at least {lowest}"
        raise ApiError(400, f"'max_tokens' must be {wanted}, got {value!r}", param="max_tokens")
    if value > limit:
        raise ApiError(400, f"'max_tokens' {value} exceeds this server's limit of {limit}", param="max_tokens")
    return value


def only_one_choice(body: dict) -> None:
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise ApiError(400, "only n=1 is supported", param="n")


def stop_sequences(stop) -> list[str]:
    if stop is None or stop == "":
        return []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > MOST_STOP_SEQUENCES:
        raise ApiError(400, f"'stop' must be a string or a list of at most {MOST_STOP_SEQUENCES} strings", param="stop")
    return [utf8_text(f"stop[{index}]", s) for index, s in enumerate(stop) if s]


def seed(value) -> int | None:
    low, high = SEED_RANGE
    if value is not None and (not is_integer(value) or not low <= value <= high):
        raise ApiError(400, f"'seed' must be an integer in [-2**63, 2**64 - 1], got {value!r:.40}", param="seed")
    return value
