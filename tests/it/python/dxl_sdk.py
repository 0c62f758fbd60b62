"""ROBOTIS' official Python SDK (dynamixel-sdk) against
`armhil virtual-servo --protocol dxl`: ping, read present position, sync write goal
positions, sync read them back. Usage: dxl_sdk.py DEVICE N_SERVOS BAUD"""
import sys
import time

from dynamixel_sdk import (COMM_SUCCESS, DXL_HIBYTE, DXL_HIWORD, DXL_LOBYTE, DXL_LOWORD,
                           GroupSyncRead, GroupSyncWrite, PacketHandler, PortHandler)

dev, n, baud = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ids = list(range(1, n + 1))
port = PortHandler(dev)
assert port.openPort(), "openPort"
assert port.setBaudRate(baud), "setBaudRate"
ph = PacketHandler(2.0)

for i in ids:
    model, res, err = ph.ping(port, i)
    assert res == COMM_SUCCESS, f"ping {i}: {ph.getTxRxResult(res)}"
    assert err == 0, ph.getRxPacketError(err)
    assert model == 1020, f"model {model}"
print("ping ok", ids)

pos, res, err = ph.read4ByteTxRx(port, 1, 132)
assert res == COMM_SUCCESS, ph.getTxRxResult(res)
assert 2040 <= pos <= 2056, f"present position {pos}"
print("present position", pos)

for i in ids:
    res, err = ph.write1ByteTxRx(port, i, 64, 1)
    assert res == COMM_SUCCESS and err == 0, f"torque on {i}: {ph.getTxRxResult(res)} {err}"

# EEPROM is locked while torque is on: the servo answers with an access error (7).
res, err = ph.write1ByteTxRx(port, 1, 9, 0)
assert res == COMM_SUCCESS and (err & 0x7F) == 7, f"EEPROM write with torque on: {res} {err}"

goal = {i: 2048 + 150 * i for i in ids}
sw = GroupSyncWrite(port, ph, 116, 4)
for i in ids:
    g = goal[i]
    assert sw.addParam(i, [DXL_LOBYTE(DXL_LOWORD(g)), DXL_HIBYTE(DXL_LOWORD(g)),
                           DXL_LOBYTE(DXL_HIWORD(g)), DXL_HIBYTE(DXL_HIWORD(g))])
assert sw.txPacket() == COMM_SUCCESS, "sync write"
time.sleep(1.0)

sr = GroupSyncRead(port, ph, 132, 4)
for i in ids:
    assert sr.addParam(i)
res = sr.txRxPacket()
assert res == COMM_SUCCESS, f"sync read: {ph.getTxRxResult(res)}"
for i in ids:
    assert sr.isAvailable(i, 132, 4), f"sync read {i} unavailable"
    v = sr.getData(i, 132, 4)
    assert abs(v - goal[i]) <= 10, f"servo {i}: at {v}, goal {goal[i]}"
print("sync read ok", [sr.getData(i, 132, 4) for i in ids])
port.closePort()
print("PASS")
