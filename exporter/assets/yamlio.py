"""YAML as the generator writes it: keys in the order given, multi-line strings (PromQL,
descriptions) as literal blocks, so a regenerated file reads well in a diff."""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(data: Any, header: str = "") -> str:
    """``data`` as YAML after ``header`` (comment lines)."""
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return header + str(body)


def load(text: str) -> Any:
    return yaml.safe_load(text)
