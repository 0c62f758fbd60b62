#!/usr/bin/env python3
"""A joint controller outside armhil, over Zenoh: the reference external service.

A drive with `controller: External(key: "armhil/arm6/elbow_pitch")` is served by any
program that, under that key prefix,
  - holds the liveliness token  {key}/alive   while it runs,
  - subscribes to               {key}/sample  (82 bytes, little-endian <B Q B 9d>:
      version 1, seq, reset, t, dt, setpoint pos/vel/acc, measured pos/vel/torque,
      gravity torque),
  - answers each sample on      {key}/command (18 bytes, <B Q B d>: version 1, the
      sample's seq, mode 0 = torque N·m / 1 = position rad, value),
  - and may listen to           {key}/manage  (JSON, e.g. {"Gains": {"kp":..}}).

This one is armhil's PID (velocity feed-forward, gravity compensation, anti-windup by
conditional integration) in the same floating-point operations, so with the scene's
gains a lockstep run gives armhil's own numbers. PyPI: eclipse-zenoh.

    python3 examples/zenoh_pid.py --key armhil/arm6/elbow_pitch \\
        --connect tcp/127.0.0.1:7447 --kp 150 --ki 100 --kd 8 --ff 0.3 --gravity
"""
import argparse
import json
import struct
import threading
import time

import zenoh

SAMPLE = struct.Struct("<BQB9d")
COMMAND = struct.Struct("<BQBd")


class Pid:
    def __init__(self, kp, ki, kd, ff, gravity, limit):
        self.kp, self.ki, self.kd, self.ff = kp, ki, kd, ff
        self.gravity, self.limit, self.integral = gravity, limit, 0.0

    def update(self, dt, sp, sv, mp, mv, grav):
        e = sp - mp
        de = sv - mv
        ff = self.ff * sv - (grav if self.gravity else 0.0)
        pd = self.kp * e + self.kd * de + ff
        candidate = min(max(self.integral + self.ki * e * dt, -self.limit), self.limit)
        unsat = pd + candidate
        out = min(max(unsat, -self.limit), self.limit)
        if not ((unsat > self.limit and e > 0.0) or (unsat < -self.limit and e < 0.0)):
            self.integral = candidate
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key", required=True)
    ap.add_argument("--connect", action="append", default=[], help="tcp/HOST:PORT (repeatable)")
    ap.add_argument("--mode", choices=["peer", "client"], default="peer",
                    help="client: talk only through the router given with --connect")
    ap.add_argument("--kp", type=float, required=True)
    ap.add_argument("--ki", type=float, default=0.0)
    ap.add_argument("--kd", type=float, default=0.0)
    ap.add_argument("--ff", type=float, default=0.0, help="velocity feed-forward")
    ap.add_argument("--gravity", action="store_true", help="compensate the gravity torque")
    ap.add_argument("--limit", type=float, default=10.6, help="torque limit, N·m (the servo's stall torque)")
    ap.add_argument("--exit-after", type=int, default=0, help="leave after this many samples (tests)")
    ap.add_argument("--back-after", type=float, default=0.0,
                    help="tests: with --exit-after, drop the liveliness token only for this "
                    "many seconds, then come back and serve on")
    ap.add_argument("--garble", type=int, default=0,
                    help="tests: precede the answers to the first N samples with a malformed "
                    "command and one for another sample (armhil counts and ignores them)")
    a = ap.parse_args()

    conf = zenoh.Config()
    conf.insert_json5("mode", json.dumps(a.mode))
    conf.insert_json5("scouting/multicast/enabled", "false")
    if a.mode == "peer":
        conf.insert_json5("listen/endpoints", '["tcp/127.0.0.1:0"]')
    conf.insert_json5("connect/endpoints", json.dumps(a.connect))
    session = zenoh.open(conf)
    pid = Pid(a.kp, a.ki, a.kd, a.ff, a.gravity, a.limit)
    commands = session.declare_publisher(f"{a.key}/command")
    done = threading.Event()
    count = [0]

    def on_sample(sample):
        if done.is_set():
            return  # away: answer nothing
        body = sample.payload.to_bytes()
        if len(body) != SAMPLE.size or body[0] != 1:
            return  # not a version-1 sample: nothing to answer
        _, seq, reset, _t, dt, sp, sv, _sa, mp, mv, _mt, grav = SAMPLE.unpack(body)
        if reset:
            pid.integral = 0.0
        if count[0] < a.garble:
            commands.put(b"\x01garbage")
            commands.put(COMMAND.pack(1, seq + 1000, 0, 0.0))
        commands.put(COMMAND.pack(1, seq, 0, pid.update(dt, sp, sv, mp, mv, grav)))
        count[0] += 1
        if a.exit_after and count[0] == a.exit_after:
            done.set()

    def on_manage(sample):
        msg = json.loads(sample.payload.to_bytes())
        if "Gains" in msg:
            g = msg["Gains"]
            pid.kp, pid.ki, pid.kd = g["kp"], g["ki"], g["kd"]

    subs = [
        session.declare_subscriber(f"{a.key}/sample", on_sample),
        session.declare_subscriber(f"{a.key}/manage", on_manage),
    ]
    token = session.liveliness().declare_token(f"{a.key}/alive")
    print("serving", a.key, flush=True)
    try:
        done.wait()
        if a.back_after > 0:
            token.undeclare()
            time.sleep(a.back_after)
            done.clear()
            token = session.liveliness().declare_token(f"{a.key}/alive")
            print("back", a.key, flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    token.undeclare()
    for s in subs:
        s.undeclare()
    session.close()


if __name__ == "__main__":
    main()
