"""Hugging Face hub datasets as data specs: ``hf:OWNER/NAME[:CONFIG][@SPLIT]``, loaded with ``datasets``."""

from __future__ import annotations

from dataclasses import dataclass

from tru.core.errors import ConfigError, InputError
from tru.data.tabular import Table, root_reason

HUB_PREFIX = "hf:"
HUB_SYNTAX = "hf:OWNER/NAME[:CONFIG][@SPLIT]"
HUB_EXAMPLE = "hf:locuslab/TOFU:forget01@train"
DEFAULT_SPLIT = "train"


@dataclass(frozen=True)
class HubSpec:
    dataset: str  # owner/name (or a bare name)
    config: str | None
    split: str


def is_hub_spec(spec: str) -> bool:
    return spec.startswith(HUB_PREFIX)


def parse_hub_spec(spec: str) -> HubSpec:
    """``hf:locuslab/TOFU:forget01@train`` -> dataset locuslab/TOFU, config forget01, split train (the default)."""
    body, _, split = spec[len(HUB_PREFIX) :].partition("@")
    dataset, _, config = body.partition(":")
    parts = dataset.split("/")
    if len(parts) > 2 or not all(part.strip() for part in parts) or ":" in config or "@" in split:
        raise ConfigError(f"'{spec}' is not a hub dataset spec; write {HUB_SYNTAX}, e.g. {HUB_EXAMPLE}")
    return HubSpec(dataset=dataset, config=config or None, split=split or DEFAULT_SPLIT)


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    """What datasets raises without a network: ConnectionError (its offline error), or the HTTP client's own."""
    try:
        import httpx

        return ConnectionError, TimeoutError, httpx.TransportError
    except ImportError:
        return ConnectionError, TimeoutError


def load_hub_table(spec: str) -> Table:
    """The rows of one split of a hub dataset; an unreachable hub, an unknown dataset, config or split is an
    InputError naming the spec."""
    import datasets
    from datasets.exceptions import DatasetNotFoundError, DatasetsError

    hub = parse_hub_spec(spec)
    try:
        rows = datasets.load_dataset(hub.dataset, hub.config, split=hub.split)
    except DatasetNotFoundError as exc:
        raise InputError(
            spec,
            f"no dataset '{hub.dataset}' on the Hugging Face hub that this login can read ({root_reason(exc)})",
            hint="check the id; for a gated dataset, log in with `hf auth login`",
        ) from None
    except _unreachable_errors() as exc:
        raise InputError(
            spec,
            f"could not reach the Hugging Face hub for the dataset '{hub.dataset}' ({root_reason(exc)})",
            hint="check the network; offline, only a dataset already in the datasets cache loads",
        ) from None
    except (ValueError, KeyError, DatasetsError) as exc:  # an unknown config or split
        raise InputError(
            spec,
            f"could not load the dataset '{hub.dataset}' ({root_reason(exc)})",
            hint=f"check the config and the split: {HUB_SYNTAX}",
        ) from None
    return Table(source=spec, columns=list(rows.column_names), rows=[dict(row) for row in rows])
