//! The Dynamixel XM430-W350's control table (Protocol 2.0): addresses from the
//! ROBOTIS e-manual (../shared/specs/servo-protocols.md), factory defaults, and its
//! registers' meaning for the firmware. Values are little-endian two's complement.
//! Present Position = Actual + Homing Offset (the Dynamixel sign convention, the
//! opposite of Feetech's). A shutdown condition (register 63) turns torque off and
//! stays in Hardware Error Status until a Reboot.

use super::{Table, WriteError};
use crate::servo::firmware::{Drive, Flags, OpMode, Present, Protection};

pub const MODEL: u16 = 0;
pub const FIRMWARE: u16 = 6;
pub const ID: u16 = 7;
pub const BAUD: u16 = 8;
pub const RETURN_DELAY: u16 = 9;
pub const OPERATING_MODE: u16 = 11;
pub const HOMING_OFFSET: u16 = 20;
pub const TEMP_LIMIT: u16 = 31;
pub const MAX_POSITION: u16 = 48;
pub const MIN_POSITION: u16 = 52;
pub const SHUTDOWN: u16 = 63;
pub const TORQUE_ENABLE: u16 = 64;
pub const STATUS_LEVEL: u16 = 68;
pub const HARDWARE_ERROR: u16 = 70;
pub const POSITION_D: u16 = 80;
pub const POSITION_I: u16 = 82;
pub const POSITION_P: u16 = 84;
pub const GOAL_PWM: u16 = 100;
pub const GOAL_VELOCITY: u16 = 104;
pub const PROFILE_ACCELERATION: u16 = 108;
pub const PROFILE_VELOCITY: u16 = 112;
pub const GOAL_POSITION: u16 = 116;
pub const MOVING: u16 = 122;
pub const PRESENT_CURRENT: u16 = 126;
pub const PRESENT_VELOCITY: u16 = 128;
pub const PRESENT_POSITION: u16 = 132;
pub const VOLTAGE: u16 = 144;
pub const TEMPERATURE: u16 = 146;
/// Addresses below this are EEPROM (writable only while torque is off).
pub const EEPROM_END: u16 = 64;
/// Hardware error status bits.
pub const HW_VOLTAGE: u8 = 1 << 0;
pub const HW_OVERHEAT: u8 = 1 << 2;
pub const HW_ENCODER: u8 = 1 << 3;
pub const HW_SHOCK: u8 = 1 << 4;
pub const HW_OVERLOAD: u8 = 1 << 5;
/// Velocity unit, rev/min (0.229 rpm).
const RPM_UNIT: f64 = 0.229;
/// Profile acceleration unit, rev/min² (214.577).
const RPM2_UNIT: f64 = 214.577;
/// Present current unit, A (2.69 mA).
const CURRENT_UNIT_A: f64 = 0.00269;
/// XM430-W350's stall current at 12 V, A (full torque).
const STALL_A: f64 = 2.3;
/// Position PID scale: the XM430's factory P gain 800 is as stiff as an STS P 32.
const GAIN_SCALE: f64 = 32.0 / 800.0;

/// Model, firmware and the present-value block are read-only.
pub(super) fn readonly(addr: usize) -> bool {
    addr <= 6 || addr == HARDWARE_ERROR as usize || (120..=147).contains(&addr)
}

/// Factory settings of an XM430-W350 with ID `id`, shaft at `pos` ticks.
pub(super) fn defaults(t: &mut Table, id: u8, pos: f64) {
    t.put(MODEL as usize, &1020u16.to_le_bytes());
    t.put(FIRMWARE as usize, &[52, id, 1, 250]); // firmware, ID, 57600, 500 µs
    t.put(OPERATING_MODE as usize, &[3]);
    t.put(TEMP_LIMIT as usize, &[80]);
    t.put(MAX_POSITION as usize, &4095i32.to_le_bytes());
    t.put(MIN_POSITION as usize, &0i32.to_le_bytes());
    t.put(SHUTDOWN as usize, &[0x34]);
    t.put(STATUS_LEVEL as usize, &[2]);
    t.put(POSITION_D as usize, &0u16.to_le_bytes());
    t.put(POSITION_I as usize, &0u16.to_le_bytes());
    t.put(POSITION_P as usize, &800u16.to_le_bytes());
    t.put(GOAL_POSITION as usize, &(pos.round() as i32).to_le_bytes());
    t.put(VOLTAGE as usize, &120u16.to_le_bytes());
}

/// A goal position outside the position limits is refused (Data Limit Error).
pub(super) fn check_goal(t: &Table, addr: usize, data: &[u8]) -> Result<(), WriteError> {
    let goal = GOAL_POSITION as usize;
    if addr <= goal && addr + data.len() >= goal + 4 {
        let o = goal - addr;
        let v = i32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
        let (lo, hi) = (
            t.i32_at(MIN_POSITION as usize),
            t.i32_at(MAX_POSITION as usize),
        );
        if t.u8_at(OPERATING_MODE as usize) == 3 && (v < lo || v > hi) {
            return Err(WriteError::Limit);
        }
    }
    Ok(())
}

fn ticks_per_s(units: f64) -> f64 {
    units * RPM_UNIT / 60.0 * 4096.0
}

/// Hardware Error Status / Shutdown bits and the firmware's condition bits.
const BITS: [(u8, u8); 5] = [
    (HW_VOLTAGE, Flags::VOLTAGE),
    (HW_OVERHEAT, Flags::OVERHEAT),
    (HW_ENCODER, Flags::ENCODER),
    (HW_SHOCK, Flags::OVERCURRENT),
    (HW_OVERLOAD, Flags::OVERLOAD),
];

/// Shutdown bits → the firmware's condition bits.
fn to_flags(hw: u8) -> Flags {
    Flags(
        BITS.iter()
            .filter(|(h, _)| hw & h != 0)
            .fold(0, |f, (_, fl)| f | fl),
    )
}

/// The firmware's condition bits → Hardware Error Status bits.
fn to_hw(f: Flags) -> u8 {
    BITS.iter()
        .filter(|(_, fl)| f.has(*fl))
        .fold(0, |h, (hw, _)| h | hw)
}

pub(super) fn drive(t: &Table, enables: u32) -> Drive {
    let offset = t.i32_at(HOMING_OFFSET as usize) as f64;
    let mode = match t.u8_at(OPERATING_MODE as usize) {
        1 => OpMode::Velocity,
        16 => OpMode::Pwm,
        _ => OpMode::Position,
    };
    let pv = t.i32_at(PROFILE_VELOCITY as usize).max(0) as f64;
    let pa = t.i32_at(PROFILE_ACCELERATION as usize).max(0) as f64;
    Drive {
        torque_on: t.u8_at(TORQUE_ENABLE as usize) != 0,
        enables,
        mode,
        goal: t.i32_at(GOAL_POSITION as usize) as f64 - offset,
        speed: if mode == OpMode::Velocity {
            ticks_per_s(t.i32_at(GOAL_VELOCITY as usize) as f64)
        } else {
            ticks_per_s(pv)
        },
        accel: pa * RPM2_UNIT / 3600.0 * 4096.0,
        pwm: i16::from_le_bytes([t.u8_at(GOAL_PWM as usize), t.u8_at(GOAL_PWM as usize + 1)])
            as f64
            / 885.0,
        torque_limit: 1.0,
        dead_zone: (0.0, 0.0),
        p: t.u16_at(POSITION_P as usize) as f64 * GAIN_SCALE,
        i: t.u16_at(POSITION_I as usize) as f64 * GAIN_SCALE,
        d: t.u16_at(POSITION_D as usize) as f64 * GAIN_SCALE,
        protection: Protection {
            temp_limit_c: t.u8_at(TEMP_LIMIT as usize) as f64,
            cut: to_flags(t.u8_at(SHUTDOWN as usize)),
            ..Protection::default()
        },
    }
}

pub(super) fn publish(t: &mut Table, p: &Present, enables: u32) -> u8 {
    let offset = t.i32_at(HOMING_OFFSET as usize) as f64;
    t.put(
        PRESENT_POSITION as usize,
        &((p.pos + offset).round() as i32).to_le_bytes(),
    );
    let vel = p.vel / 4096.0 * 60.0 / RPM_UNIT;
    t.put(
        PRESENT_VELOCITY as usize,
        &(vel.round() as i32).to_le_bytes(),
    );
    let cur = (p.load * STALL_A / CURRENT_UNIT_A).round() as i16;
    t.put(PRESENT_CURRENT as usize, &cur.to_le_bytes());
    t.put(
        VOLTAGE as usize,
        &((p.voltage_v * 10.0).round().clamp(0.0, 65535.0) as u16).to_le_bytes(),
    );
    t.put(
        TEMPERATURE as usize,
        &[p.temp_c.round().clamp(0.0, 255.0) as u8],
    );
    t.put(MOVING as usize, &[p.moving as u8]);
    // Shutdown conditions stay in Hardware Error Status until a reboot.
    let shutdown = t.u8_at(SHUTDOWN as usize);
    let hw = t.u8_at(HARDWARE_ERROR as usize) | (to_hw(p.flags) & shutdown);
    t.put(HARDWARE_ERROR as usize, &[hw]);
    if !p.torque_on && p.enables == enables && hw != 0 {
        t.put(TORQUE_ENABLE as usize, &[0]);
    }
    if hw != 0 {
        crate::hardware::protocol::dxl::err::ALERT
    } else {
        0
    }
}

pub(super) fn calibrate(t: &mut Table, homing_offset: i32, min: i32, max: i32) {
    t.put(HOMING_OFFSET as usize, &homing_offset.to_le_bytes());
    t.put(MIN_POSITION as usize, &min.to_le_bytes());
    t.put(MAX_POSITION as usize, &max.to_le_bytes());
}

pub(super) fn calibration(t: &Table) -> (i32, i32, i32) {
    (
        t.i32_at(HOMING_OFFSET as usize),
        t.i32_at(MIN_POSITION as usize),
        t.i32_at(MAX_POSITION as usize),
    )
}
