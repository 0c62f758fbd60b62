//! Served joints on the plant (`armhil serve`): a joint whose servo a host drives over
//! the served bus. The plant runs that servo's firmware (`servo::firmware`) each
//! physics step against the simulated joint: the registers' drive (latest value from
//! the bus thread) gives its goal, gains, torque limit and protections; its output
//! goes through the servo's torque-speed envelope and the faults acting on it; and
//! what the servo reads (encoder, as the sensor faults make it, speed, load,
//! temperature, error bits, power) goes back to the bus as the latest value.

use super::*;
use crate::hardware::served::ServedJoint;
use crate::servo::firmware::{Firmware, Flags};

/// The plant's side of a served joint.
#[derive(Debug, Clone)]
pub(super) struct Served {
    link: ServedJoint,
    firmware: Firmware,
    /// Version of the drive cell last taken.
    seen: u64,
    /// What was last reported: error bits, power, link faults (events and the
    /// link-fault cell change only when these do).
    flags: u8,
    powered: bool,
    link_faults: Vec<FaultKind>,
    /// The firmware's last output (a hung firmware keeps driving it).
    last_duty: f64,
    /// This step's encoder reading, ticks and ticks/s (taken once, for the firmware
    /// and for what the servo reports).
    reading: (f64, f64),
    /// Firmware resets so far, the faults that caused them, and until when the
    /// servo is silent while it boots.
    boots: u32,
    reset_by: Vec<usize>,
    booting_until: f64,
}

/// How long a served servo is silent while its firmware resets, s.
const BOOT_S: f64 = 0.05;

impl Served {
    pub(super) fn label(&self) -> &str {
        &self.link.label
    }
}

impl Plant {
    /// Joint `link.joint` is served from now on: its servo's firmware drives it.
    pub fn serve(&mut self, link: ServedJoint) {
        let i = link.joint;
        let Some(j) = self.joints.get_mut(i) else {
            return;
        };
        let pos = self.world.joint_state(i).pos;
        let actual = link.zero_actual + pos * link.ticks_per_unit;
        if link.proxy.is_some() {
            // A real servo answers for it: the twin follows what it reports.
            let mut h = FollowedJoint::new(&crate::scene::BackendSpec::Sim, pos);
            h.label = link.label.clone();
            h.goal = Some(pos);
            j.hw = Some(h);
            j.mode = DriveMode::Follow;
            j.controller_kind = "proxy";
        } else {
            j.mode = DriveMode::Served;
            j.controller_kind = "served";
        }
        j.served = Some(Served {
            link,
            firmware: Firmware::new(actual),
            seen: 0,
            flags: 0,
            powered: true,
            link_faults: Vec::new(),
            last_duty: 0.0,
            reading: (actual, 0.0),
            boots: 0,
            reset_by: Vec::new(),
            booting_until: 0.0,
        });
    }

    /// Proxied joints take their real servo's latest reading (before the step's
    /// torques: the twin follows it).
    pub(super) fn follow_proxies(&mut self) {
        let t = self.t;
        for j in self.joints.iter_mut() {
            let (Some(s), Some(h)) = (j.served.as_mut(), j.hw.as_mut()) else {
                continue;
            };
            let Some(cell) = &s.link.proxy else { continue };
            if let Some(Some(r)) = cell.try_changed(&mut s.seen) {
                let k = s.link.ticks_per_unit;
                h.pos = (r.pos - crate::hardware::served::CENTRE) / k;
                h.vel = r.vel / k;
                h.load = r.load;
                h.last_ok_t = t;
            }
        }
    }

    /// Whether served joint `i`'s servo has power (answers); `None` if not served.
    pub fn served_powered(&self, i: usize) -> Option<bool> {
        self.joints.get(i)?.served.as_ref().map(|s| s.powered)
    }

    /// The goal of served joint `i` in joint units, if it is served.
    pub fn served_goal(&self, i: usize) -> Option<f64> {
        let s = self.joints[i].served.as_ref()?;
        Some((s.firmware.drive().goal - s.link.zero_actual) / s.link.ticks_per_unit)
    }

    /// What served joint `i`'s firmware asks of the motor this step, N·m.
    pub(super) fn served_command(&mut self, i: usize) -> f64 {
        let st = self.world.joint_state(i);
        let (pos, vel) = self.sensed(i, st.pos, st.vel);
        let dt = self.dt;
        let motor_vel = st.motor_vel;
        let j = &mut self.joints[i];
        let m = j.servo.measure(pos, vel, 0.0, &mut j.rng);
        let stall = j.servo.spec.stall_torque_nm;
        let no_load = j.servo.spec.no_load_speed_rad_s;
        let Some(s) = j.served.as_mut() else {
            return 0.0;
        };
        let k = s.link.ticks_per_unit;
        let (ticks, ticks_s) = (s.link.zero_actual + m.pos * k, m.vel * k);
        s.reading = (ticks, ticks_s);
        // Controller faults act on the servo's own firmware: a panic resets it (torque
        // off, registers from EEPROM, silent while it boots), a hang freezes its
        // output (and silences it, see `served_report`).
        let t = self.t;
        let mut hung = false;
        for (n, f) in self.faults.iter().enumerate().filter(|(_, f)| f.acting(i)) {
            match f.spec.kind {
                FaultKind::Hang => hung = true,
                FaultKind::Panic | FaultKind::Abort | FaultKind::Crash
                    if !s.reset_by.contains(&n) =>
                {
                    s.reset_by.push(n);
                    s.boots += 1;
                    s.firmware = Firmware::new(ticks);
                    s.booting_until = t + BOOT_S;
                }
                _ => {}
            }
        }
        if !hung {
            if let Some(d) = s.link.link.drive.try_changed(&mut s.seen) {
                s.firmware.set(d, ticks);
            }
            s.last_duty = s.firmware.output(dt, ticks, ticks_s);
        }
        // The output is a PWM duty, i.e. a voltage: the motor's torque is what that
        // voltage drives against the back-EMF of its own speed (a DC motor), which
        // also damps the motor side within the gears' backlash.
        let duty = s.last_duty;
        if duty == 0.0 && !s.firmware.torque_on() {
            return 0.0;
        }
        (stall * (duty - motor_vel / no_load)).clamp(-stall, stall)
    }

    /// After delivery: served joint `i`'s protections see the real torque, and the bus
    /// is told what the servo reads now.
    pub(super) fn served_report(&mut self, i: usize) {
        let dt = self.dt;
        let mut silent: Option<&str> = None;
        let mut bits = 0u8;
        let mut link = Vec::new();
        for f in self.faults.iter().filter(|f| f.acting(i)) {
            match f.spec.kind {
                FaultKind::PowerLoss => silent = Some("no power"),
                FaultKind::Hang => silent = silent.or(Some("firmware hung")),
                FaultKind::ServoError { bit } => bits |= bit.mask(),
                // A slow firmware answers late.
                FaultKind::Slow { ms } => link.push(FaultKind::LinkLatency { ms, jitter_ms: 0.0 }),
                k if k.class() == crate::faults::FaultClass::Link => link.push(k),
                _ => {}
            }
        }
        let t = self.t;
        let j = &mut self.joints[i];
        let load = j.delivered / j.servo.spec.stall_torque_nm;
        let temp = j.thermal.temp_c;
        let Some(s) = j.served.as_mut() else {
            return;
        };
        if t < s.booting_until {
            silent = silent.or(Some("firmware reset"));
        }
        let powered = silent.is_none();
        s.firmware.protect(dt, load, temp);
        let (ticks, ticks_s) = s.reading;
        let mut p = s.firmware.present(ticks, ticks_s, load, temp);
        p.flags = Flags(p.flags.0 | bits);
        p.powered = powered;
        p.boots = s.boots;
        // Physics never waits on the bus thread: if it is reading this instant, the
        // bus answers from the previous step's reading (1 ms old), and a change of
        // link faults is offered again next step.
        s.link.link.present.offer(p);
        if link != s.link_faults && s.link.link.faults.offer(link.clone()) {
            s.link_faults = link;
        }
        let (was_flags, was_powered) = (s.flags, s.powered);
        (s.flags, s.powered) = (p.flags.0, powered);
        // What the host can see change: error bits, and a servo going silent.
        if p.flags.0 != was_flags {
            let detail = if p.flags.0 == 0 {
                "servo status clear".to_string()
            } else {
                format!(
                    "servo status error bits {:#04x} ({}){}",
                    p.flags.0,
                    describe(p.flags),
                    if p.torque_on { "" } else { ", torque off" }
                )
            };
            self.event(i, "servo_status", detail);
        }
        if powered != was_powered {
            let detail = match silent {
                None => "servo answers again".to_string(),
                Some(why) => format!("servo silent ({why})"),
            };
            self.event(i, "servo_power", detail);
        }
    }
}

/// The condition bits by name.
fn describe(f: Flags) -> String {
    let names = [
        (Flags::VOLTAGE, "voltage"),
        (Flags::ENCODER, "encoder"),
        (Flags::OVERHEAT, "overheat"),
        (Flags::OVERCURRENT, "overcurrent"),
        (Flags::OVERLOAD, "overload"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| f.has(*b))
        .map(|(_, n)| *n)
        .collect();
    v.join(", ")
}
