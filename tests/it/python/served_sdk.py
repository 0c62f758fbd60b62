"""An official servo SDK (Feetech's scservo_sdk or ROBOTIS' dynamixel_sdk, unmodified)
drives `armhil serve scenes/so101.ron`: ping and model, firmware, read, write, sync
write and sync read, a pose reached, a joint that falls when its torque is turned off,
then the host loop rate (one sync write + one sync read per tick).
Usage: served_sdk.py sts|dxl DEVICE BAUD"""
import sys
import time

proto, dev, baud = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = [1, 2, 3, 4, 5, 6]
if proto == "sts":
    import scservo_sdk as sdk

    ph = sdk.PacketHandler(0)
    MODEL, TORQUE, GOAL, PRESENT, SIZE, LOAD = 777, 40, 42, 56, 2, 60

    def le(v):
        return [sdk.SCS_LOBYTE(v), sdk.SCS_HIBYTE(v)]
else:
    import dynamixel_sdk as sdk

    ph = sdk.PacketHandler(2.0)
    MODEL, TORQUE, GOAL, PRESENT, SIZE, LOAD = 1020, 64, 116, 132, 4, 126

    def le(v):
        return [sdk.DXL_LOBYTE(sdk.DXL_LOWORD(v)), sdk.DXL_HIBYTE(sdk.DXL_LOWORD(v)),
                sdk.DXL_LOBYTE(sdk.DXL_HIWORD(v)), sdk.DXL_HIBYTE(sdk.DXL_HIWORD(v))]

port = sdk.PortHandler(dev)
assert port.openPort(), "openPort"
assert port.setBaudRate(baud), "setBaudRate"


def ok(res, err, what):
    assert res == sdk.COMM_SUCCESS, f"{what}: {ph.getTxRxResult(res)}"


for i in ids:
    model, res, err = ph.ping(port, i)
    ok(res, err, f"ping {i}")
    if proto == "sts":
        # An STS ping carries no model: read it (address 3).
        model, res, err = ph.read2ByteTxRx(port, i, 3)
        ok(res, err, f"model {i}")
    assert model == MODEL, f"servo {i}: model {model}"
print("ping ok", ids, "model", MODEL)
if proto == "sts":
    major, res, err = ph.read1ByteTxRx(port, 1, 0)
    ok(res, err, "firmware")
    assert major == 3, f"firmware major {major}"


def read_pos(i):
    if SIZE == 2:
        v, res, err = ph.read2ByteTxRx(port, i, PRESENT)
    else:
        v, res, err = ph.read4ByteTxRx(port, i, PRESENT)
    ok(res, err, f"read {i}")
    return v


start = {i: read_pos(i) for i in ids}
print("present", start)
for i in ids:
    res, err = ph.write1ByteTxRx(port, i, TORQUE, 1)
    ok(res, err, f"torque on {i}")
    assert err == 0, f"servo {i} error {err}"

# A pose near mid-range (joint position 0 reads 2048).
goal = {1: 2248, 2: 1948, 3: 2148, 4: 2048, 5: 1848, 6: 2300}
sw = sdk.GroupSyncWrite(port, ph, GOAL, SIZE)
for i in ids:
    assert sw.addParam(i, le(goal[i]))
assert sw.txPacket() == sdk.COMM_SUCCESS, "sync write"
sr = sdk.GroupSyncRead(port, ph, PRESENT, SIZE)
for i in ids:
    assert sr.addParam(i)
deadline = time.time() + 3.0
while True:
    res = sr.txRxPacket()
    assert res == sdk.COMM_SUCCESS, f"sync read: {ph.getTxRxResult(res)}"
    pos = {i: sr.getData(i, PRESENT, SIZE) for i in ids}
    worst = max(abs(pos[i] - goal[i]) for i in ids)
    if worst <= 25 or time.time() > deadline:
        break
    time.sleep(0.02)
print("reached", pos, "worst", worst)
assert worst <= 25, f"pose not reached: {pos} vs {goal}"

# Torque off on shoulder_lift (ID 2): gravity takes it.
res, err = ph.write1ByteTxRx(port, 2, TORQUE, 0)
ok(res, err, "torque off 2")
before = read_pos(2)
time.sleep(1.0)
after = read_pos(2)
print("shoulder_lift limp", before, "->", after)
assert abs(after - before) > 150, f"shoulder_lift did not fall: {before} -> {after}"
held = read_pos(1)
assert abs(held - goal[1]) <= 25, f"shoulder_pan moved: {held}"

# The host loop: one sync write + one sync read per tick, as fast as it goes.
n, fails, t0 = 0, 0, time.perf_counter()
while time.perf_counter() - t0 < 2.0:
    assert sw.txPacket() == sdk.COMM_SUCCESS
    res = sr.txRxPacket()
    if res != sdk.COMM_SUCCESS:
        fails += 1
        print("sync read failed:", ph.getTxRxResult(res))
    n += 1
print(f"host loop {n / (time.perf_counter() - t0):.0f} Hz, {fails} failed of {n}")
assert fails == 0
port.closePort()
print("PASS")
