#!/usr/bin/env python3
"""A Zenoh router on loopback for the benchmarks (PyPI eclipse-zenoh): routes between
armhil and external services that run in client mode. Usage: zenoh_router.py PORT"""
import sys
import threading

import zenoh

conf = zenoh.Config()
conf.insert_json5("mode", '"router"')
conf.insert_json5("scouting/multicast/enabled", "false")
conf.insert_json5("listen/endpoints", f'["tcp/127.0.0.1:{sys.argv[1]}"]')
session = zenoh.open(conf)
print("routing on", sys.argv[1], flush=True)
threading.Event().wait()
