#!/usr/bin/env python3
"""A joint service written outside armhil: the reference for the joint-service wire.

armhil runs it for a drive with `isolation: Process, process: (program:
"process_service.py")` as `process_service.py joint-service --fd 3`, and talks to it on
that descriptor (a Unix stream socket). Frames: a little-endian u32 length (of the tag
and body), a u8 tag, the body.

  armhil -> service
    1 hello   JSON {version, name, controller: {"Pid": {kp, ki, kd, velocity_ff,
              gravity_compensation, integral_limit_nm}}, servo: {stall_torque_nm, ...},
              faults: [...], mode}
    2 sample  <Q B 9d: seq, reset, t, dt, setpoint pos/vel/acc, measured pos/vel/torque,
              gravity torque                                            (81 bytes)
    3 manage  JSON {"Gains": {kp, ki, kd}} or {"Fault": {...}}
  service -> armhil
    16 ready    <I I: wire version (1), pid              (answer to the hello)
    17 command  <Q d d: seq, torque N·m, simulated delay s (0)  (one per sample, or:)
    19 silent   <Q: seq (no command for this sample)

The controller is armhil's PID (velocity feed-forward, gravity compensation,
conditional-integration anti-windup), in the same floating-point operations, so a
lockstep run gives the same report as armhil's own thread. Standard library only.
"""
import json
import os
import struct
import sys

SAMPLE = struct.Struct("<QB9d")


def read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def frames(fd):
    while True:
        head = read_exact(fd, 4)
        if head is None:
            return
        (length,) = struct.unpack("<I", head)
        if not 1 <= length <= 1 << 20:
            sys.exit(f"frame of {length} bytes")
        body = read_exact(fd, length)
        if body is None:
            return
        yield body[0], body[1:]


def send(fd, tag, body):
    os.write(fd, struct.pack("<IB", len(body) + 1, tag) + body)


class Pid:
    def __init__(self, cfg, torque_limit):
        self.kp, self.ki, self.kd = cfg["kp"], cfg.get("ki", 0.0), cfg.get("kd", 0.0)
        self.ff = cfg.get("velocity_ff", 0.0)
        self.gravity = cfg.get("gravity_compensation", False)
        self.limit = torque_limit
        self.ilim = cfg.get("integral_limit_nm") or torque_limit
        self.integral = 0.0

    def update(self, t, dt, sp_pos, sp_vel, m_pos, m_vel, gravity_torque):
        e = sp_pos - m_pos
        de = sp_vel - m_vel
        ff = self.ff * sp_vel - (gravity_torque if self.gravity else 0.0)
        pd = self.kp * e + self.kd * de + ff
        candidate = min(max(self.integral + self.ki * e * dt, -self.ilim), self.ilim)
        unsat = pd + candidate
        out = min(max(unsat, -self.limit), self.limit)
        winding = (unsat > self.limit and e > 0.0) or (unsat < -self.limit and e < 0.0)
        if not winding:
            self.integral = candidate
        return out


def main():
    fd = int(sys.argv[sys.argv.index("--fd") + 1])
    pid = None
    for tag, body in frames(fd):
        if tag == 1:
            hello = json.loads(body)
            if hello["version"] != 1:
                sys.exit(f"wire version {hello['version']}: this service speaks 1")
            pid = Pid(hello["controller"]["Pid"], hello["servo"]["stall_torque_nm"])
            send(fd, 16, struct.pack("<II", 1, os.getpid()))
        elif tag == 3:
            msg = json.loads(body)
            if "Gains" in msg:
                g = msg["Gains"]
                pid.kp, pid.ki, pid.kd = g["kp"], g["ki"], g["kd"]
        elif tag == 2:
            seq, reset, t, dt, sp, sv, _sa, mp, mv, _mt, grav = SAMPLE.unpack(body)
            if reset:
                pid.integral = 0.0
            torque = pid.update(t, dt, sp, sv, mp, mv, grav)
            send(fd, 17, struct.pack("<Qdd", seq, torque, 0.0))
        else:
            sys.exit(f"unknown frame tag {tag}")


if __name__ == "__main__":
    main()
