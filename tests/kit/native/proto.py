"""The protobuf exposition decoded with the format's definition: ``exposition.proto``
beside this file (the io.prometheus.client messages) compiled at test time by protoc from
``grpcio-tools``, parsed by the ``protobuf`` package. Nothing here shares code with the
encoder under test, so a wrong field number, wire type or zigzag there fails here."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

import grpc_tools  # the dev extra: grpcio-tools (protoc) and protobuf
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_tools import protoc

PROTO = Path(__file__).resolve().parent / "exposition.proto"


@functools.cache
def message_classes() -> dict[str, Any]:
    """The message classes of exposition.proto, by name (``MetricFamily``, ``Histogram``...)."""
    includes = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "metrics.pb")
        status = protoc.main(
            [
                "protoc",
                f"-I{includes}",
                f"-I{PROTO.parent}",
                f"--descriptor_set_out={out}",
                "--include_imports",
                PROTO.name,
            ]
        )
        assert status == 0, f"protoc failed to compile {PROTO.name}"
        files = descriptor_pb2.FileDescriptorSet.FromString(Path(out).read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    package = pool.FindFileByName(PROTO.name)
    return {
        name: message_factory.GetMessageClass(descriptor)
        for name, descriptor in package.message_types_by_name.items()
    }


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def decode(body: bytes) -> list[Any]:
    """The ``MetricFamily`` messages of a length-delimited stream, every byte accounted for."""
    family_class = message_classes()["MetricFamily"]
    families, pos = [], 0
    while pos < len(body):
        size, pos = _varint(body, pos)
        assert pos + size <= len(body), "a message runs past the end of the body"
        family = family_class()
        family.ParseFromString(body[pos : pos + size])
        assert not unknown(family), f"fields the format does not define: {unknown(family)}"
        families.append(family)
        pos += size
    return families


def unknown(message: Any) -> list[str]:
    """Paths of fields in ``message`` (recursively) that its definition does not name."""
    from google.protobuf import descriptor, unknown_fields

    found = [f"{message.DESCRIPTOR.name}#{field.field_number}"
             for field in unknown_fields.UnknownFieldSet(message)]  # fmt: skip
    for field, value in message.ListFields():
        if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
            repeated = field.is_repeated
            for item in value if repeated else [value]:
                found += unknown(item)
    return found


def by_name(body: bytes) -> dict[str, Any]:
    return {f.name: f for f in decode(body)}


def labels(metric: Any) -> dict[str, str]:
    return {pair.name: pair.value for pair in metric.label}
