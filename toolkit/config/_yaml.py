"""The one safe YAML loader of the configuration files (registries.d, sigstore parameters).

`load_yaml` parses with `yaml.SafeLoader` semantics, refuses anchors/aliases (billion
laughs), duplicate mapping keys and non-scalar keys, and turns every parse failure
(including nesting too deep for the parser) into `ConfigError` prefixed with `what`.
The caller caps the size (`read_file_limited`). The sync file keeps its own node-level
parser (it reports line numbers) but shares `refuse_anchors`.
"""

from __future__ import annotations

from typing import Any

import yaml

from toolkit.errors import ConfigError, safe_text

__all__ = ["StrictLoader", "load_yaml", "refuse_anchors"]


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses duplicate and non-scalar mapping keys."""


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a scalar", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def refuse_anchors(event: yaml.Event, what: str) -> None:
    """Raise `ConfigError` if a parse `event` is an alias or carries an anchor."""
    if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
        line = f":{event.start_mark.line + 1}" if event.start_mark is not None else ""
        raise ConfigError(f"{what}{line}: YAML anchors and aliases are not allowed")


def load_yaml(data: bytes, what: str, *, multi: bool = False) -> Any:
    """The document in `data` (a list of documents when `multi`). Raises `ConfigError`."""
    try:
        for event in yaml.parse(data, Loader=StrictLoader):
            refuse_anchors(event, what)
        if multi:
            return list(yaml.load_all(data, Loader=StrictLoader))
        return yaml.load(data, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}: invalid YAML: {safe_text(' '.join(str(exc).split()), 300)}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{what}: invalid YAML: nested too deeply") from exc
