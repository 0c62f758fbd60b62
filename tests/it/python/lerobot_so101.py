"""LeRobot (PyPI `lerobot`, unmodified) drives `armhil serve scenes/so101.ron` as its
SO-101 follower: connects with the calibration file armhil wrote (any prompt fails the
test), reads observations, reaches a commanded pose, disconnects, and reconnects.
Usage: lerobot_so101.py DEVICE CALIBRATION_DIR ROBOT_ID"""
import builtins
import sys
import time
from pathlib import Path

dev, calib_dir, robot_id = sys.argv[1], Path(sys.argv[2]), sys.argv[3]


def no_prompt(*args, **kwargs):
    raise AssertionError(f"LeRobot prompted: {args}")


builtins.input = no_prompt

from lerobot.robots.so_follower import SO101Follower, SOFollowerRobotConfig  # noqa: E402

cfg = SOFollowerRobotConfig(port=dev, id=robot_id, calibration_dir=calib_dir, use_degrees=True)
robot = SO101Follower(cfg)
robot.connect()
assert robot.is_connected and robot.is_calibrated
obs = robot.get_observation()
print("observation", {k: round(v, 1) for k, v in obs.items()})
assert set(obs) == {f"{m}.pos" for m in robot.bus.motors}, obs

target = {
    "shoulder_pan.pos": 20.0,
    "shoulder_lift.pos": -15.0,
    "elbow_flex.pos": 25.0,
    "wrist_flex.pos": 10.0,
    "wrist_roll.pos": -30.0,
    "gripper.pos": 40.0,
}
# LeRobot's teleoperation loop: one sync write (and here one sync read) per tick at 60 Hz.
start = time.perf_counter()
ticks = 0
while time.perf_counter() - start < 2.5:
    robot.send_action(target)
    obs = robot.get_observation()
    ticks += 1
    time.sleep(max(0.0, start + ticks / 60 - time.perf_counter()))
errors = {k: round(obs[k] - v, 2) for k, v in target.items()}
print("reached", {k: round(v, 1) for k, v in obs.items()}, "errors", errors)
for k, e in errors.items():
    # Degrees (gripper: % of its range); the P 16 loop sags a little under gravity.
    assert abs(e) <= 4.0, f"{k}: off by {e}"
robot.disconnect()
assert not robot.is_connected

again = SO101Follower(cfg)
again.connect()
obs2 = again.get_observation()
print("reconnected", {k: round(v, 1) for k, v in obs2.items()})
again.disconnect()
print("PASS")
