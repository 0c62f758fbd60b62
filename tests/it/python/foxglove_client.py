"""A client of Foxglove's WebSocket protocol (foxglove.sdk.v1), written from the
protocol's documentation with PyPI `websockets` and `protobuf`: what Foxglove's app
does when it opens a live connection, scripted.

    foxglove_client.py steer PORT   subscribe, decode, publish commands, set a parameter
    foxglove_client.py watch PORT   subscribe to /joint_states and read to the end
    foxglove_client.py stall PORT   subscribe to every channel, then stop itself
                                    (SIGSTOP: reads nothing until continued)
    foxglove_client.py all PORT     subscribe to every channel and read to the end:
                                    messages per topic, and when each /joint_states
                                    message arrived (for latency figures)
    foxglove_client.py assets PORT URI...  fetch each URI (fetchAsset): its status,
                                    error message, size and SHA-256
    foxglove_client.py panels PORT  the same with what a 3D panel and a plot of the
                                    joint states subscribe to: /joint_states, /tf,
                                    /arm/shapes, /events

Prints one JSON object (what it saw) on its last line, then PASS.
"""

import base64
import json
import os
import signal
import struct
import sys
import time

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from websockets.sync.client import connect

SUBPROTOCOL = "foxglove.sdk.v1"


def open_server(port):
    """Connects (the server may still be starting) and reads serverInfo."""
    began = time.time()
    while True:
        try:
            ws = connect(
                f"ws://127.0.0.1:{port}",
                subprotocols=[SUBPROTOCOL],
                max_size=None,
                open_timeout=2,
            )
            break
        except OSError:
            if time.time() - began > 30:
                raise
            time.sleep(0.1)
    info = json.loads(ws.recv(timeout=5))
    assert info["op"] == "serverInfo", info
    return ws, info


def decoder(channel):
    """A protobuf message class from an advertised channel's FileDescriptorSet."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(channel["schema"]))
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(channel["schemaName"]))


class Client:
    def __init__(self, port):
        self.ws, self.info = open_server(port)
        self.channels = {}
        self.subs = {}
        self.statuses = []
        self.parameters = []
        self.services = {}
        self.answers = {}

    def pump(self, seconds, until=None):
        """Reads messages for up to `seconds`; binary message data goes to on_data."""
        end = time.time() + seconds
        while time.time() < end:
            try:
                m = self.ws.recv(timeout=max(0.01, end - time.time()))
            except TimeoutError:
                break
            if isinstance(m, bytes):
                op = m[0]
                if op == 1:
                    sub, t = struct.unpack_from("<IQ", m, 1)
                    self.on_data(self.subs[sub], t, m[13:])
                elif op == 3:
                    _, call, n = struct.unpack_from("<III", m, 1)
                    self.answers[call] = json.loads(m[13 + n:])
            else:
                j = json.loads(m)
                if j["op"] == "advertise":
                    for c in j["channels"]:
                        self.channels[c["topic"]] = c
                elif j["op"] == "status":
                    self.statuses.append(j)
                elif j["op"] == "parameterValues":
                    self.parameters.append(j)
                elif j["op"] == "advertiseServices":
                    for sv in j["services"]:
                        self.services[sv["name"]] = sv
                elif j["op"] == "serviceCallFailure":
                    self.answers[j["callId"]] = {"failed": j["message"]}
            if until is not None and until():
                return True
        return until is None

    def subscribe(self, topics):
        subs = []
        for topic in topics:
            c = self.channels[topic]
            sid = len(self.subs) + 1
            self.subs[sid] = topic
            subs.append({"id": sid, "channelId": c["id"]})
        self.ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))

    def on_data(self, topic, t, payload):
        pass


class Steer(Client):
    def __init__(self, port):
        super().__init__(port)
        self.got = {}
        self.decoders = {}

    def on_data(self, topic, t, payload):
        c = self.channels[topic]
        if topic not in self.decoders and c["encoding"] == "protobuf":
            self.decoders[topic] = decoder(c)
        msg = self.decoders[topic].FromString(payload) if topic in self.decoders else payload
        self.got.setdefault(topic, []).append((t, msg))

    def run(self):
        caps = self.info["capabilities"]
        assert "clientPublish" in caps and "parameters" in caps, caps
        self.pump(3, until=lambda: "/joint_states" in self.channels and "/arm/shapes" in self.channels)
        joints = sorted(t for t in self.channels if t.startswith("/joints/"))
        topics = ["/joint_states", "/tf", "/events", "/arm/shapes", joints[0]]
        self.subscribe(topics)
        self.pump(
            10,
            until=lambda: all(len(self.got.get(t, [])) >= 5 for t in ["/joint_states", "/tf", joints[0]])
            and "/arm/shapes" in self.got,
        )
        js = [m for _, m in self.got["/joint_states"]]
        tf = [m for _, m in self.got["/tf"]]
        times = [t for t, _ in self.got["/joint_states"]]
        stamps = [m.timestamp.seconds * 1_000_000_000 + m.timestamp.nanos for m in js]
        shapes = self.got["/arm/shapes"][0][1]
        sample = self.got[joints[0]][-1][1]

        # Parameters: all of them, then one set.
        self.ws.send(json.dumps({"op": "getParameters", "parameterNames": [], "id": "all"}))
        self.pump(5, until=lambda: any(p.get("id") == "all" for p in self.parameters))
        params = next(p for p in self.parameters if p.get("id") == "all")["parameters"]
        joint = sys.argv[3]
        self.ws.send(json.dumps({"op": "setParameters", "id": "set",
                                 "parameters": [{"name": f"{joint}.kp", "value": 55.5, "type": "float64"}]}))
        self.pump(5, until=lambda: any(p.get("id") == "set" for p in self.parameters))
        after = next(p for p in self.parameters if p.get("id") == "set")["parameters"]
        # A parameter that does not exist: refused with a reason.
        self.ws.send(json.dumps({"op": "setParameters", "id": "bad",
                                 "parameters": [{"name": "warp.factor", "value": 9.0}]}))

        # Commands: advertise a channel, publish a good one and bad ones.
        self.ws.send(json.dumps({"op": "advertise", "channels": [
            {"id": 7, "topic": "/armhil/command", "encoding": "json", "schemaName": "armhil.Command"}]}))
        def publish(payload):
            self.ws.send(struct.pack("<BI", 1, 7) + payload)
        publish(json.dumps({"command": "fault %s:encoder_offset(0.1)@0" % joint}).encode())
        publish(json.dumps("estop").encode())
        publish(b"{not json")
        publish(json.dumps({"command": "launch rockets"}).encode())
        self.pump(3, until=lambda: len([s for s in self.statuses if s["level"] == 2]) >= 3)

        # Services: a command through /armhil/command, and one it refuses.
        def call(name, call_id, request):
            sid = self.services[name]["id"]
            enc = b"json"
            self.ws.send(struct.pack("<BIII", 2, sid, call_id, len(enc)) + enc + json.dumps(request).encode())
        call("/armhil/command", 1, {"command": "fault wrist_roll:encoder_offset(0.05)@0"})
        call("/armhil/command", 2, {"command": "warp 9"})
        self.pump(5, until=lambda: len(self.answers) >= 2)
        self.pump(1.0)
        logs = [m for _, m in self.got.get("/events", [])]
        print(json.dumps({
            "server": self.info["name"],
            "joint_states_names": list(js[-1].joints[i].name for i in range(len(js[-1].joints))),
            "log_times_ns": times,
            "stamps_ns": stamps,
            "tf_frames": [t.child_frame_id for t in tf[-1].transforms],
            "tf_parent": tf[-1].transforms[0].parent_frame_id,
            "shape_frames": [e.frame_id for e in shapes.entities],
            "shape_primitives": sum(len(e.cubes) + len(e.cylinders) + len(e.spheres) + len(e.models) for e in shapes.entities),
            "sample_t": sample.t,
            "parameters": {p["name"]: p["value"] for p in params},
            "after_set": {p["name"]: p["value"] for p in after},
            "errors": [s["message"] for s in self.statuses if s["level"] == 2],
            "log_messages": [m.message for m in logs],
            "services": sorted(self.services),
            "answers": {str(k): v for k, v in self.answers.items()},
        }))
        print("PASS")


class Watch(Client):
    """Subscribes to /joint_states and reads until the server closes: the simulated
    time of the last message it got."""

    def __init__(self, port):
        super().__init__(port)
        self.last = None
        self.count = 0

    def on_data(self, topic, t, payload):
        self.last = t
        self.count += 1

    def run(self):
        self.pump(3, until=lambda: "/joint_states" in self.channels)
        self.subscribe(["/joint_states"])
        self.run_rest()

    def run_rest(self):
        try:
            while True:
                self.pump(1)
        except Exception:
            pass  # the server closed the connection: the run has ended
        print(json.dumps({"last_ns": self.last, "count": self.count}))
        print("PASS")


class All(Watch):
    def __init__(self, port):
        super().__init__(port)
        self.topics = {}
        self.arrivals = []

    def on_data(self, topic, t, payload):
        self.topics[topic] = self.topics.get(topic, 0) + 1
        if topic == "/joint_states":
            self.arrivals.append((time.time_ns(), t))

    def run(self):
        self.pump(3, until=lambda: "/joint_states" in self.channels)
        if sys.argv[1] == "panels":
            topics = ["/tf", "/arm/shapes", "/events"]
        else:
            topics = sorted(self.channels)
            topics.remove("/joint_states")
        self.subscribe(["/joint_states"] + topics)
        try:
            while True:
                self.pump(1)
        except Exception:
            pass
        print(json.dumps({"topics": self.topics, "arrivals": self.arrivals}))
        print("PASS")


class Assets(Client):
    def run(self):
        assert "assets" in self.info["capabilities"], self.info["capabilities"]
        import hashlib
        out = {}
        for k, uri in enumerate(sys.argv[3:], start=1):
            self.ws.send(json.dumps({"op": "fetchAsset", "uri": uri, "requestId": k}))
            while True:
                m = self.ws.recv(timeout=10)
                if isinstance(m, bytes) and m[0] == 4:
                    rid, status, n = struct.unpack_from("<IBI", m, 1)
                    if rid != k:
                        continue
                    error = m[10:10 + n].decode()
                    data = m[10 + n:]
                    out[uri] = {"status": status, "error": error, "size": len(data),
                                "sha256": hashlib.sha256(data).hexdigest()}
                    break
        print(json.dumps(out))
        print("PASS")


class Stall(Watch):
    """Subscribes to everything, says so, and stops itself: a client that reads
    nothing until someone sends it SIGCONT; then reads to the end."""

    def run(self):
        self.pump(3, until=lambda: "/joint_states" in self.channels)
        self.subscribe(sorted(self.channels))
        print("subscribed", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
        super().run_rest()


if __name__ == "__main__":
    {"steer": Steer, "watch": Watch, "stall": Stall, "all": All, "panels": All,
     "assets": Assets}[sys.argv[1]](int(sys.argv[2])).run()
