"""Host side of scripts/bench-serve: Feetech's official SDK against `armhil serve`.
1. Reply latency: single Reads of Present Position (2 bytes) from servo 1, timed from
   just before the request is written to the end of the reply, against the modelled
   wire time (8 request + 8 reply bytes at 1 Mbps = 160 µs, return delay 0).
2. Host loop: one sync write of 6 goals + one sync read of 6 positions per tick, as
   fast as it goes. Prints one JSON line. Usage: bench_serve_host.py DEVICE SECONDS"""
import json
import sys
import time

import scservo_sdk as sdk

dev, seconds = sys.argv[1], float(sys.argv[2])
ids = [1, 2, 3, 4, 5, 6]
port = sdk.PortHandler(dev)
assert port.openPort() and port.setBaudRate(1000000)
ph = sdk.PacketHandler(0)
for i in ids:
    ph.write1ByteTxRx(port, i, 40, 1)

lat = []
end = time.perf_counter() + seconds / 2
while time.perf_counter() < end:
    t0 = time.perf_counter()
    v, res, err = ph.read2ByteTxRx(port, 1, 56)
    t1 = time.perf_counter()
    if res == sdk.COMM_SUCCESS:
        lat.append((t1 - t0) * 1e6)
lat.sort()

sw = sdk.GroupSyncWrite(port, ph, 42, 2)
for i in ids:
    sw.addParam(i, [0x00, 0x08])
sr = sdk.GroupSyncRead(port, ph, 56, 2)
for i in ids:
    sr.addParam(i)
n = fails = 0
t0 = time.perf_counter()
end = t0 + seconds / 2
while time.perf_counter() < end:
    sw.txPacket()
    if sr.txRxPacket() != sdk.COMM_SUCCESS:
        fails += 1
    n += 1
rate = n / (time.perf_counter() - t0)
port.closePort()


def q(p):
    return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1)


print(json.dumps({"reads": len(lat), "read_p50_us": q(0.5), "read_p99_us": q(0.99),
                  "read_max_us": round(lat[-1], 1), "loop_hz": round(rate, 1), "loop_fails": fails}))
