"""A careful host on `armhil serve` (Feetech's scservo_sdk, unmodified): it reads every
servo's position each tick and writes goals to the live ones; a servo reporting an
error bit gets its torque turned off, a servo that stops answering is no longer
written to. Prints per-servo counts. Usage: served_host.py DEVICE SECONDS"""
import sys
import time

import scservo_sdk as sdk

dev, seconds = sys.argv[1], float(sys.argv[2])
ids = [1, 2, 3, 4, 5, 6]
port = sdk.PortHandler(dev)
assert port.openPort() and port.setBaudRate(1000000)
ph = sdk.PacketHandler(0)
fails = {i: 0 for i in ids}
errors = {i: 0 for i in ids}
silent_streak = {i: 0 for i in ids}
dead, off = set(), set()
for i in ids:
    res, err = ph.write1ByteTxRx(port, i, 40, 1)
    assert res == sdk.COMM_SUCCESS, f"torque on {i}"
start = time.perf_counter()
ticks = 0
while time.perf_counter() - start < seconds:
    for i in ids:
        pos, res, err = ph.read2ByteTxRx(port, i, 56)
        if res != sdk.COMM_SUCCESS:
            fails[i] += 1
            silent_streak[i] += 1
            if silent_streak[i] >= 3:
                dead.add(i)
            continue
        silent_streak[i] = 0
        dead.discard(i)
        if err & 0x24:
            errors[i] += 1
            if i not in off:
                ph.write1ByteTxRx(port, i, 40, 0)
                off.add(i)
    for i in ids:
        if i not in dead and i not in off:
            ph.write2ByteTxRx(port, i, 42, 2048)
    ticks += 1
    time.sleep(max(0.0, start + ticks / 100 - time.perf_counter()))
print("fails", fails)
print("errors", errors)
print("torque off", sorted(off))
port.closePort()
print("PASS")
