"""Feetech's official Python SDK (feetech-servo-sdk, module scservo_sdk) against
`armhil virtual-servo --protocol sts`: ping, read present position, sync write goal
positions, sync read them back. Usage: sts_sdk.py DEVICE N_SERVOS"""
import sys
import time

from scservo_sdk import (COMM_SUCCESS, GroupSyncRead, GroupSyncWrite, PacketHandler,
                         PortHandler, SCS_HIBYTE, SCS_LOBYTE)

dev, n = sys.argv[1], int(sys.argv[2])
ids = list(range(1, n + 1))
port = PortHandler(dev)
assert port.openPort(), "openPort"
assert port.setBaudRate(1000000), "setBaudRate"
ph = PacketHandler(0)  # 0: STS little-endian words

for i in ids:
    model, res, err = ph.ping(port, i)
    assert res == COMM_SUCCESS, f"ping {i}: {ph.getTxRxResult(res)}"
    assert model == 777, f"model {model}"
print("ping ok", ids)

pos, res, err = ph.read2ByteTxRx(port, 1, 56)
assert res == COMM_SUCCESS, ph.getTxRxResult(res)
assert 2040 <= pos <= 2056, f"present position {pos}"
print("present position", pos)

for i in ids:
    res, err = ph.write1ByteTxRx(port, i, 40, 1)
    assert res == COMM_SUCCESS, f"torque on {i}: {ph.getTxRxResult(res)}"

goal = {i: 2048 + 150 * i for i in ids}
sw = GroupSyncWrite(port, ph, 42, 2)
for i in ids:
    assert sw.addParam(i, [SCS_LOBYTE(goal[i]), SCS_HIBYTE(goal[i])])
assert sw.txPacket() == COMM_SUCCESS, "sync write"
time.sleep(1.0)

sr = GroupSyncRead(port, ph, 56, 2)
for i in ids:
    assert sr.addParam(i)
res = sr.txRxPacket()
assert res == COMM_SUCCESS, f"sync read: {ph.getTxRxResult(res)}"
for i in ids:
    assert sr.isAvailable(i, 56, 2), f"sync read {i} unavailable"
    v = sr.getData(i, 56, 2)
    assert abs(v - goal[i]) <= 10, f"servo {i}: at {v}, goal {goal[i]}"
print("sync read ok", [sr.getData(i, 56, 2) for i in ids])
port.closePort()
print("PASS")
