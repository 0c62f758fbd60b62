"""The same pose commanded to the SO-101 on armhil (through `armhil serve` and Feetech's
official SDK, P 16 / D 32 as LeRobot configures it) and on the MuJoCo SO-101 model's
position actuators (../shared/models/so101/scene.xml: kp 17.8 N·m/rad, ±3.35 N·m):
joint angles after 0.5, 1 and 2.5 s, and the time each joint first comes within 2° of
its target. Usage: compare_mujoco.py LINK MJCF"""
import json
import sys
import time

import mujoco
import scservo_sdk as sdk

link, mjcf = sys.argv[1], sys.argv[2]
names = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
TICKS = 4096 / (2 * 3.141592653589793)
target = [0.35, -0.3, 0.45, 0.3, -0.5, 0.6]  # rad
marks = [0.5, 1.0, 2.5]


def reach_time(series, goal, tol):
    for t, q in series:
        if abs(q - goal) <= tol:
            return round(t, 3)
    return None


# MuJoCo: the model as shipped, from rest at 0 (its keyframe-free default pose).
m = mujoco.MjModel.from_xml_path(mjcf)
d = mujoco.MjData(m)
jid = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in names]
aid = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in names]
for a, q in zip(aid, target):
    d.ctrl[a] = q
mj = {n: [] for n in names}
while d.time < 2.5 - 1e-9:
    mujoco.mj_step(m, d)
    for n, j in zip(names, jid):
        mj[n].append((d.time, d.qpos[m.jnt_qposadr[j]]))

# armhil: hold the pose at 0 first (torque on, goal 2048), then command the target.
port = sdk.PortHandler(link)
assert port.openPort() and port.setBaudRate(1000000)
ph = sdk.PacketHandler(0)
for i in range(1, 7):
    ph.write1ByteTxRx(port, i, 21, 16)  # P (takes effect in RAM with Lock 1)
    ph.write1ByteTxRx(port, i, 22, 32)  # D
    ph.write2ByteTxRx(port, i, 42, 2048)
    ph.write1ByteTxRx(port, i, 40, 1)
time.sleep(1.5)
sw = sdk.GroupSyncWrite(port, ph, 42, 2)
for i, q in enumerate(target, start=1):
    g = int(round(2048 + q * TICKS))
    sw.addParam(i, [sdk.SCS_LOBYTE(g), sdk.SCS_HIBYTE(g)])
sr = sdk.GroupSyncRead(port, ph, 56, 2)
for i in range(1, 7):
    sr.addParam(i)
arm = {n: [] for n in names}
t0 = time.perf_counter()
assert sw.txPacket() == sdk.COMM_SUCCESS
while (t := time.perf_counter() - t0) < 2.5:
    if sr.txRxPacket() == sdk.COMM_SUCCESS:
        for i, n in enumerate(names, start=1):
            arm[n].append((t, (sr.getData(i, 56, 2) - 2048) / TICKS))
    time.sleep(0.002)
port.closePort()


def at(series, t):
    return min(series, key=lambda p: abs(p[0] - t))[1]


rows = []
for n, q in zip(names, target):
    rows.append({
        "joint": n, "target": q,
        "armhil": [round(at(arm[n], t), 3) for t in marks],
        "mujoco": [round(at(mj[n], t), 3) for t in marks],
        "reach_2deg_s": [reach_time(arm[n], q, 0.035), reach_time(mj[n], q, 0.035)],
    })
print(json.dumps(rows))
