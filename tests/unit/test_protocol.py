from __future__ import annotations

import struct

import pytest

from sandbox.protocol import Decoder, ProtocolViolation, encode


def test_round_trip_across_partial_reads() -> None:
    data = encode({"t": "call", "id": 1, "args": [1, "x", {"k": None}]}) + encode({"t": "ping"})
    decoder = Decoder(1024)
    out = []
    for i in range(len(data)):
        out.extend(decoder.feed(data[i : i + 1]))
    assert out == [{"t": "call", "id": 1, "args": [1, "x", {"k": None}]}, {"t": "ping"}]
    assert decoder.pending_bytes == 0


def test_oversized_frame_is_a_violation() -> None:
    with pytest.raises(ProtocolViolation, match="exceeds"):
        Decoder(10).feed(encode({"t": "x", "v": "y" * 100}))


def test_garbage_is_a_violation() -> None:
    with pytest.raises(ProtocolViolation):
        Decoder(100).feed(struct.pack(">I", 3) + b"\xc1\xc1\xc1")


def test_non_message_is_a_violation() -> None:
    with pytest.raises(ProtocolViolation, match="message map"):
        Decoder(100).feed(struct.pack(">I", 1) + b"\x01")


def test_non_plain_data_cannot_be_encoded() -> None:
    with pytest.raises(TypeError):
        encode({"t": "x", "v": object()})
