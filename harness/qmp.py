#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Serve a guest's hot-plug requests over QEMU's QMP socket.

qmp.py SOCKET GUEST_LOG OUT_LOG ID=DEVICE_SPEC...

The guest asks by printing a line to the serial port that QEMU writes to
GUEST_LOG:

    P2PDMA-QMP: device_del ID
    P2PDMA-QMP: device_add ID

device_del unplugs the device with that id (for a pcie-root-port slot this
presses the attention button; pciehp removes the function once the guest
has powered the slot off); device_add plugs it in again from its
DEVICE_SPEC, the -device argument it was started with.  Every request,
reply and event goes to OUT_LOG with the time since start.  The watcher
ends when QEMU closes the socket.
"""
import json
import os
import socket
import sys
import time

REQUEST = "P2PDMA-QMP: "


def main():
    sock_path, guest_log, out_path = sys.argv[1:4]
    specs = dict(a.split("=", 1) for a in sys.argv[4:])
    out = open(out_path, "w", buffering=1)
    t0 = time.monotonic()

    def log(msg):
        out.write(f"{time.monotonic() - t0:9.3f} {msg}\n")

    sock = None
    for _ in range(300):
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(sock_path)
            break
        except OSError:
            sock.close()
            sock = None
            time.sleep(0.1)
    if sock is None:
        log(f"no QMP socket at {sock_path}")
        return 1
    sock.setblocking(False)
    rbuf = b""

    def send(cmd):
        log(f"-> {json.dumps(cmd)}")
        sock.sendall(json.dumps(cmd).encode() + b"\n")

    deleting = set()	# device_del sent, DEVICE_DELETED not yet seen
    waiting = []	# device_add requests held back until then

    def pump():
        """Log what QEMU sent; False once it has closed the socket."""
        nonlocal rbuf
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        rbuf += data
        while b"\n" in rbuf:
            line, rbuf = rbuf.split(b"\n", 1)
            if not line.strip():
                continue
            log(f"<- {line.decode(errors='replace')}")
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("event") == "DEVICE_DELETED":
                deleting.discard(msg.get("data", {}).get("device"))
            elif "error" in msg:
                # A refused device_del deletes nothing: stop waiting.
                deleting.clear()
        return True

    def add(dev):
        # HMP parses the -device syntax with its property types.
        send({"execute": "human-monitor-command",
              "arguments": {"command-line": f"device_add {specs[dev]}"}})

    send({"execute": "qmp_capabilities"})
    seen = 0
    while pump():
        try:
            with open(guest_log, "rb") as f:
                f.seek(seen)
                data = f.read()
        except OSError:
            data = b""
        # Only whole lines, counted in bytes: the rest is read next time.
        end = data.rfind(b"\n") + 1
        seen += end
        for line in data[:end].decode(errors="replace").splitlines():
            pos = line.find(REQUEST)
            if pos < 0:
                continue
            words = line[pos + len(REQUEST):].split()
            if len(words) != 2 or words[0] not in ("device_del", "device_add"):
                log(f"bad request: {line.strip()}")
                continue
            verb, dev = words
            if verb == "device_del":
                deleting.add(dev)
                send({"execute": "device_del", "arguments": {"id": dev}})
            elif dev not in specs:
                log(f"no device spec for {dev}")
            else:
                # The guest sees the function go before QEMU has freed
                # the id (DEVICE_DELETED): until then, hold the request.
                waiting.append(dev)
        for dev in [d for d in waiting if d not in deleting]:
            waiting.remove(dev)
            add(dev)
        time.sleep(0.05)
    log("QEMU closed the socket")
    return 0


if __name__ == "__main__":
    sys.exit(main())
