#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the captured frames
in tests/conformance/frames and fuzz/captures. Run by hand when frames are added; the output is
checked in.
Needs python3, and the zstd and lz4 command-line tools for the decompress seeds."""
import json
import pathlib
import struct
import subprocess
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# fuzz/captures holds captured requests that cannot go into tests/conformance/frames, whose
# every *_request.hex the simulator conformance test replays (see fuzz/captures/README.md).
FRAME_DIRS = (ROOT / "tests/conformance/frames", ROOT / "fuzz/captures")
CORPUS = ROOT / "fuzz/corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def batch_records(body):
    records, pos = [], 0
    while pos + 22 <= len(body):
        body_len = struct.unpack_from(">i", body, pos + 16)[0]
        props_len = struct.unpack_from(">h", body, pos + 20 + body_len)[0]
        start = pos + 22 + body_len
        records.append(body[start:start + props_len])
        pos = start + props_len
    return records


def compressed_seeds(name, plain):
    bound = b"\xff\xff"  # the largest output bound the harness allows (about 1 MiB)
    write("decompress", name + "_zlib", b"\x00" + bound + zlib.compress(plain, 5))
    for index, tool in ((1, "zstd"), (2, "lz4")):
        packed = subprocess.run([tool, "-c", "-q"], input=plain, capture_output=True,
                                check=True).stdout
        write("decompress", f"{name}_{tool}", bytes([index]) + bound + packed)


def main():
    frames = []
    for frame_dir in FRAME_DIRS:
        for hex_path in sorted(frame_dir.rglob("*.hex")):
            ref = json.loads(hex_path.with_suffix(".json").read_text())
            raw = bytes.fromhex(hex_path.read_text().strip())
            name = str(hex_path.relative_to(frame_dir).with_suffix("")).replace("/", "_")
            frames.append((name, raw, ref))

    stored = []
    for name, raw, ref in frames:
        header_len = struct.unpack_from(">I", raw, 4)[0] & 0xFFFFFF
        header, body = raw[8:8 + header_len], raw[8 + header_len:]
        ext = ref["header"].get("extFields") or {}
        code, is_response = ref["header"]["code"], ref["header"]["flag"] & 1
        # frame: [chunk size selector][the frame]; selector 7 feeds it in 8-byte chunks
        write("frame", name, b"\x07" + raw)
        write("json_header" if ref["serialize_type"] == 0 else "binary_header", name, header)
        if is_response and body.startswith(b"{") and b"queueDatas" in body:
            write("route_data", name, body)
        if not is_response and code == 34:
            write("heartbeat", name, body)
        props = ext.get("i") or ext.get("properties")
        if props:
            write("properties", name, b"\x01" + props.encode())
        if not is_response and code == 320:
            write("batch", name, body)
            for i, record_props in enumerate(batch_records(body)[:2]):
                write("properties", f"{name}_record{i}", b"\x00" + record_props)
        # Store-format bodies: the check-back's half message, the messages of a FOUND pull.
        found = is_response and ref["header"].get("remark") == "FOUND"
        if (code == 39 and not is_response) or found:
            write("stored_message", name, body)
            stored.append(body)
        sys_flag = int(ext.get("f") or ext.get("sysFlag") or 0)
        if not is_response and sys_flag & 1:
            plain = zlib.decompress(body)
            write("decompress", name + "_java_zlib", b"\x00\xff\xff" + body)
            compressed_seeds(name, plain[:1024])

    # A stream of several frames: requests and responses of one exchange back to back.
    stream = b"".join(raw for name, raw, _ in frames if name.startswith("json_send_message_v2"))
    write("frame", "json_send_message_v2_stream", b"\x02" + stream)
    # Several stored messages back to back, as a pull of more than one message returns them.
    write("stored_message", "stream", b"".join(stored))
    compressed_seeds("empty", b"")


if __name__ == "__main__":
    main()
