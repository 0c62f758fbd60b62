"""A host whose served bus is unplugged (`unplug` fault): pings until the port fails,
waits for the link to come back, reopens it and pings again (scservo_sdk).
Usage: served_unplug.py LINK SECONDS"""
import os
import sys
import time

import scservo_sdk as sdk

link, seconds = sys.argv[1], float(sys.argv[2])
ph = sdk.PacketHandler(0)


def open_port():
    p = sdk.PortHandler(link)
    assert p.openPort() and p.setBaudRate(1000000)
    return p


first = os.path.realpath(link)
port = open_port()
ok_before = ok_after = 0
lost = False
start = time.perf_counter()
while time.perf_counter() - start < seconds:
    try:
        model, res, err = ph.ping(port, 1)
        if res == sdk.COMM_SUCCESS:
            if lost:
                ok_after += 1
            else:
                ok_before += 1
        elif not os.path.exists(link):
            raise OSError("link gone")
    except Exception as e:  # the port hung up: pyserial raises on read/write
        if not lost:
            print("port lost:", type(e).__name__)
        lost = True
        try:
            port.closePort()
        except Exception:
            pass
        while not os.path.exists(link) and time.perf_counter() - start < seconds:
            time.sleep(0.01)
        if os.path.exists(link):
            port = open_port()
    time.sleep(0.005)
second = os.path.realpath(link)
print("pings before", ok_before, "after", ok_after, "device", first, "->", second)
assert lost and ok_before > 10 and ok_after > 10
print("PASS")
