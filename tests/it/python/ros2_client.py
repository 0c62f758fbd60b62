#!/usr/bin/env python3
"""The ROS 2 side of an armhil run, as zenoh-bridge-ros2dds would carry it: Zenoh
(PyPI eclipse-zenoh) with ROS 2 Jazzy's message definitions and CDR codec (PyPI
rosbags' type store), no ROS install.

Subscribes to `joint_states` and `clock`; from --from seconds of simulated time on
(read from /clock, as a node with use_sim_time would) commands --joint to --position
on `joint_commands` every 20 ms wall, as the topic-based ros2_control hardware
interface does (the other joints' entries NaN: not commanded); once sends a payload
that is not CDR, one with an unknown joint, and one whose arrays do not match its
names. Prints a JSON summary when the run stops publishing.
"""
import argparse
import json
import math
import threading
import time

import numpy as np
import zenoh
from rosbags.typesys import Stores, get_typestore

TS = get_typestore(Stores.ROS2_JAZZY)
JOINT_STATE = "sensor_msgs/msg/JointState"
CLOCK = "rosgraph_msgs/msg/Clock"
JointState = TS.types[JOINT_STATE]
Header = TS.types["std_msgs/msg/Header"]
Time = TS.types["builtin_interfaces/msg/Time"]


def command(names, position, effort=None):
    f = lambda v: np.array(v, dtype=np.float64)
    m = JointState(
        header=Header(stamp=Time(sec=0, nanosec=0), frame_id=""),
        name=list(names),
        position=f(position),
        velocity=f([]),
        effort=f(effort if effort is not None else []),
    )
    return bytes(TS.serialize_cdr(m, JOINT_STATE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", required=True)
    ap.add_argument("--joint", required=True)
    ap.add_argument("--position", type=float, required=True)
    ap.add_argument("--from", dest="start", type=float, default=1.0)
    ap.add_argument("--quiet-s", type=float, default=1.5, help="silence that means the run ended")
    a = ap.parse_args()

    conf = zenoh.Config()
    conf.insert_json5("mode", '"client"')
    conf.insert_json5("connect/endpoints", json.dumps([a.connect]))
    conf.insert_json5("scouting/multicast/enabled", "false")
    session = zenoh.open(conf)

    lock = threading.Lock()
    states, clocks, last = [], [], [time.monotonic()]
    names = []

    def on_state(s):
        m = TS.deserialize_cdr(bytes(s.payload.to_bytes()), JOINT_STATE)
        with lock:
            if not names:
                names.extend(m.name)
            states.append((m.header.stamp.sec, m.header.stamp.nanosec, list(m.position), list(m.effort)))
            last[0] = time.monotonic()

    def on_clock(s):
        m = TS.deserialize_cdr(bytes(s.payload.to_bytes()), CLOCK)
        with lock:
            clocks.append((m.clock.sec, m.clock.nanosec))

    # The clock first: a run started by --ros2-wait (once joint_states has a
    # subscriber) then has both from simulated time 0.
    subs = [session.declare_subscriber("clock", on_clock),
            session.declare_subscriber("joint_states", on_state)]
    pub = session.declare_publisher("joint_commands")
    sent, nonsense_sent = 0, False
    while True:
        time.sleep(0.02)
        with lock:
            quiet = time.monotonic() - last[0]
            now = clocks[-1][0] + clocks[-1][1] * 1e-9 if clocks else 0.0
            known = list(names)
        if states and quiet > a.quiet_s:
            break
        if not known or now < a.start:
            continue
        pos = [a.position if n == a.joint else math.nan for n in known]
        pub.put(command(known, pos))
        sent += 1
        if not nonsense_sent:
            pub.put(b"\x00\x01\x00\x00 not a joint state")
            pub.put(command(["nope"], [0.0]))
            pub.put(command([a.joint], [0.1, 0.2]))
            nonsense_sent = True
    for s in subs:
        s.undeclare()
    session.close()
    k = names.index(a.joint) if a.joint in names else -1
    stamps = [sec + ns * 1e-9 for sec, ns, _, _ in states]
    print(json.dumps({
        "names": names,
        "states": len(states),
        "clocks": len(clocks),
        "stamps_ms": [round(t * 1000, 6) for t in stamps],
        "clock_ms": [round((s + n * 1e-9) * 1000, 6) for s, n in clocks],
        "final": states[-1][2] if states else [],
        "effort_len": len(states[-1][3]) if states else 0,
        "joint_final": states[-1][2][k] if states and k >= 0 else None,
        "commands_sent": sent,
    }))


if __name__ == "__main__":
    main()
