"""Where channel settings come from, without the root settings knowing any channel's name.

Each channel's settings are one table of ``Settings.channels``, validated by the channel's own
model. Operators write them the short way, as if the channel were a root group, or the long
way, under ``channels``; both land in ``Settings.channels[<name>]``::

    PARLEY_EMAIL__ACCOUNTS='[{"name": "support", ...}]'       [email]  /  [[email.accounts]]
    PARLEY_CHANNELS__EMAIL__ACCOUNTS='[...]'                   [channels.email]

A table or ``PARLEY_<NAME>__<KEY>`` variable whose ``<name>`` is not a root field is taken
for a channel's; the composition root refuses names no channel has (``channels.configure``),
so a typo fails at start-up instead of being ignored. Values that look like JSON arrays or
objects are decoded (as pydantic-settings does for complex root fields); everything else stays
a string for the channel's model to convert.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_settings import EnvSettingsSource, TomlConfigSettingsSource

__all__ = ["ChannelTablesEnvSource", "ChannelTablesTomlSource", "describe_setting"]

CHANNELS_FIELD = "channels"
_DELIMITER = "__"


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``over``, tables merged key by key rather than replaced."""
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = _merged(current, value)
        else:
            out[key] = value
    return out


def _decoded(value: str) -> Any:
    # Only arrays and objects: "123" must stay a string, it may be a password.
    if value.strip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class ChannelTablesEnvSource(EnvSettingsSource):
    """The environment source, plus ``PARLEY_<CHANNEL>__...`` variables as channel tables."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        roots = set(self.settings_cls.model_fields)
        prefix = self.env_prefix.lower()
        tables: dict[str, Any] = {}
        for name in sorted(self.env_vars):
            value = self.env_vars[name]
            lowered = name.lower()
            if value is None or not lowered.startswith(prefix):
                continue
            path = lowered[len(prefix) :].split(_DELIMITER)
            if path[0] == CHANNELS_FIELD:
                path = path[1:]
            elif path[0] in roots or len(path) < 2:
                continue
            if not path or not all(path):
                continue
            entry: Any = _decoded(value)
            for key in reversed(path):
                entry = {key: entry}
            tables = _merged(tables, entry)
        if tables:
            data[CHANNELS_FIELD] = _merged(data.get(CHANNELS_FIELD) or {}, tables)
        return data


class ChannelTablesTomlSource(TomlConfigSettingsSource):
    """The ``parley.toml`` source, plus top-level tables that are not root fields as channel tables."""

    def __call__(self) -> dict[str, Any]:
        data = dict(super().__call__())
        roots = set(self.settings_cls.model_fields)
        shorthand = {
            key: data.pop(key) for key in list(data) if key not in roots and isinstance(data[key], Mapping)
        }
        if shorthand:
            # the explicit [channels.<name>] spelling wins where a file uses both
            data[CHANNELS_FIELD] = _merged(shorthand, data.get(CHANNELS_FIELD) or {})
        return data


def describe_setting(loc: Sequence[str | int], message: str) -> str:
    """Name the setting at pydantic location ``loc`` the way operators write it.

    ``("kb", "backend")`` -> ``PARLEY_KB__BACKEND ([kb] backend in parley.toml): <message>``;
    ``("channels", "email", "accounts", 0, "imap_port")`` -> ``PARLEY_EMAIL__ACCOUNTS ([email]
    accounts in parley.toml) at 0.imap_port: <message>`` (an environment variable reaches down
    to the first list; what is inside it is a position in its JSON value).
    """
    parts = list(loc)
    whole_table = len(parts) == 2 and parts[0] == CHANNELS_FIELD  # a table-level error
    if len(parts) > 1 and parts[0] == CHANNELS_FIELD:
        parts = parts[1:]  # documented in the short spelling
    keys: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            break
        keys.append(part)
    if not keys:
        return f"{'.'.join(str(p) for p in loc) or 'settings'}: {message}"
    variable = "PARLEY_" + _DELIMITER.join(keys).upper() + ("__*" if whole_table else "")
    if len(keys) > 1:
        toml = f"[{'.'.join(keys[:-1])}] {keys[-1]}"
    else:
        toml = f"[{keys[0]}]" if whole_table else keys[0]
    inside = ".".join(str(part) for part in parts[len(keys) :])
    where = f" at {inside}" if inside else ""
    return f"{variable} ({toml} in parley.toml){where}: {message}"
