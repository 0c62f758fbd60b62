//! The Feetech STS3215's control table: addresses (LeRobot's
//! `STS_SMS_SERIES_CONTROL_TABLE`, cross-checked with the official SDK and
//! ../shared/specs/servo-protocols.md), factory defaults, and its registers' meaning
//! for the firmware. Words are little-endian; positions, speeds and the homing offset
//! are sign-magnitude (bit 15, 15, 11), the load bit 10. Present = Actual − Homing
//! Offset, within one turn (0–4095).

use super::Table;
use crate::hardware::protocol::{sign_magnitude_decode, sign_magnitude_encode};
use crate::servo::firmware::{Drive, Flags, OpMode, Present, Protection};

pub const FIRMWARE_MAJOR: u8 = 0;
pub const FIRMWARE_MINOR: u8 = 1;
pub const MODEL: u8 = 3;
pub const ID: u8 = 5;
pub const BAUD: u8 = 6;
pub const RETURN_DELAY: u8 = 7;
pub const STATUS_LEVEL: u8 = 8;
pub const MIN_ANGLE: u8 = 9;
pub const MAX_ANGLE: u8 = 11;
pub const TEMP_LIMIT: u8 = 13;
pub const MAX_VOLTAGE: u8 = 14;
pub const MIN_VOLTAGE: u8 = 15;
pub const MAX_TORQUE: u8 = 16;
pub const PHASE: u8 = 18;
pub const UNLOADING: u8 = 19;
pub const LED_ALARM: u8 = 20;
pub const P_GAIN: u8 = 21;
pub const D_GAIN: u8 = 22;
pub const I_GAIN: u8 = 23;
pub const CW_DEAD_ZONE: u8 = 26;
pub const CCW_DEAD_ZONE: u8 = 27;
pub const PROTECTION_CURRENT: u8 = 28;
pub const HOMING_OFFSET: u8 = 31;
pub const MODE: u8 = 33;
pub const PROTECTIVE_TORQUE: u8 = 34;
pub const PROTECTION_TIME: u8 = 35;
pub const OVERLOAD_TORQUE: u8 = 36;
pub const TORQUE_ENABLE: u8 = 40;
pub const ACCELERATION: u8 = 41;
pub const GOAL_POSITION: u8 = 42;
pub const GOAL_TIME: u8 = 44;
pub const GOAL_SPEED: u8 = 46;
pub const TORQUE_LIMIT: u8 = 48;
pub const LOCK: u8 = 55;
pub const PRESENT_POSITION: u8 = 56;
pub const PRESENT_SPEED: u8 = 58;
pub const PRESENT_LOAD: u8 = 60;
pub const VOLTAGE: u8 = 62;
pub const TEMPERATURE: u8 = 63;
pub const STATUS: u8 = 65;
pub const MOVING: u8 = 66;
pub const PRESENT_CURRENT: u8 = 69;
/// Addresses below this are EEPROM.
pub const EEPROM_END: u8 = 40;
/// Present current unit, A (6.5 mA).
const CURRENT_UNIT_A: f64 = 0.0065;
/// Ticks per turn.
const TURN: i32 = 4096;

/// Firmware/model bytes and the present-value block are read-only.
pub(super) fn readonly(addr: usize) -> bool {
    addr <= 4 || (PRESENT_POSITION as usize..=72).contains(&addr)
}

/// Factory settings of an STS3215 (12 V) with ID `id`, shaft at `pos` ticks.
pub(super) fn defaults(t: &mut Table, id: u8, pos: f64) {
    t.put(FIRMWARE_MAJOR as usize, &[3, 10]);
    t.put(MODEL as usize, &777u16.to_le_bytes());
    t.put(ID as usize, &[id]);
    t.put(BAUD as usize, &[0]); // 1 Mbps
    t.put(RETURN_DELAY as usize, &[0]);
    t.put(STATUS_LEVEL as usize, &[1]);
    t.put(MIN_ANGLE as usize, &0u16.to_le_bytes());
    t.put(MAX_ANGLE as usize, &4095u16.to_le_bytes());
    t.put(TEMP_LIMIT as usize, &[70]);
    t.put(MAX_VOLTAGE as usize, &[140]);
    t.put(MIN_VOLTAGE as usize, &[40]);
    t.put(MAX_TORQUE as usize, &1000u16.to_le_bytes());
    t.put(PHASE as usize, &[12]);
    t.put(UNLOADING as usize, &[44]);
    t.put(LED_ALARM as usize, &[47]);
    t.put(P_GAIN as usize, &[32, 32, 0]); // P, D, I
    t.put(PROTECTION_CURRENT as usize, &500u16.to_le_bytes());
    t.put(PROTECTIVE_TORQUE as usize, &[20, 200, 80]); // 20 %, 2 s, 80 %
    t.put(LOCK as usize, &[1]);
    t.put(
        GOAL_POSITION as usize,
        &(sign_magnitude_encode(pos.round() as i32, 15) as u16).to_le_bytes(),
    );
    t.put(VOLTAGE as usize, &[120]);
    power_on(t);
}

/// What the firmware does at power-on: the torque limit starts at the EEPROM maximum.
pub(super) fn power_on(t: &mut Table) {
    let max = t.u16_at(MAX_TORQUE as usize);
    t.put(TORQUE_LIMIT as usize, &max.to_le_bytes());
}

fn signed(t: &Table, addr: u8, bit: u32) -> f64 {
    sign_magnitude_decode(t.u16_at(addr as usize) as u32, bit) as f64
}

fn offset(t: &Table) -> f64 {
    signed(t, HOMING_OFFSET, 11)
}

pub(super) fn drive(t: &Table, enables: u32) -> Drive {
    let (lo, hi) = (
        t.u16_at(MIN_ANGLE as usize) as f64,
        t.u16_at(MAX_ANGLE as usize) as f64,
    );
    let goal = signed(t, GOAL_POSITION, 15);
    let goal = if hi > lo { goal.clamp(lo, hi) } else { goal };
    let limit = t
        .u16_at(TORQUE_LIMIT as usize)
        .min(t.u16_at(MAX_TORQUE as usize));
    let mode = t.u8_at(MODE as usize);
    let goal_speed = signed(t, GOAL_SPEED, 15);
    // Position mode with a Goal Time (ms) and no Goal Speed: the move from where the
    // shaft is now takes that long.
    let goal_time_ms = t.u16_at(GOAL_TIME as usize) as f64;
    let speed = if mode == 1 {
        goal_speed
    } else if goal_speed == 0.0 && goal_time_ms > 0.0 {
        let present = signed(t, PRESENT_POSITION, 15);
        (goal - present).abs() / (goal_time_ms / 1000.0)
    } else {
        goal_speed.abs()
    };
    Drive {
        torque_on: t.u8_at(TORQUE_ENABLE as usize) != 0,
        enables,
        mode: match mode {
            1 => OpMode::Velocity,
            2 => OpMode::Pwm,
            _ => OpMode::Position,
        },
        goal: goal + offset(t),
        speed,
        // 100 ticks/s² per unit.
        accel: t.u8_at(ACCELERATION as usize) as f64 * 100.0,
        pwm: signed(t, GOAL_TIME, 10) / 1000.0,
        torque_limit: (limit as f64 / 1000.0).min(1.0),
        dead_zone: (
            t.u8_at(CW_DEAD_ZONE as usize) as f64,
            t.u8_at(CCW_DEAD_ZONE as usize) as f64,
        ),
        p: t.u8_at(P_GAIN as usize) as f64,
        i: t.u8_at(I_GAIN as usize) as f64,
        d: t.u8_at(D_GAIN as usize) as f64,
        protection: Protection {
            overload_fraction: t.u8_at(OVERLOAD_TORQUE as usize) as f64 / 100.0,
            overload_time_s: t.u8_at(PROTECTION_TIME as usize) as f64 * 0.01,
            protective_fraction: t.u8_at(PROTECTIVE_TORQUE as usize) as f64 / 100.0,
            temp_limit_c: t.u8_at(TEMP_LIMIT as usize) as f64,
            cut: Flags(t.u8_at(UNLOADING as usize)),
        },
    }
}

pub(super) fn publish(t: &mut Table, p: &Present, enables: u32) -> u8 {
    let present = (p.pos - offset(t)).round() as i32;
    let pos = sign_magnitude_encode(present.rem_euclid(TURN), 15) as u16;
    t.put(PRESENT_POSITION as usize, &pos.to_le_bytes());
    let spd = sign_magnitude_encode(p.vel.round() as i32, 15) as u16;
    t.put(PRESENT_SPEED as usize, &spd.to_le_bytes());
    let load = sign_magnitude_encode((p.load * 1000.0).round() as i32, 10) as u16;
    t.put(PRESENT_LOAD as usize, &load.to_le_bytes());
    t.put(
        VOLTAGE as usize,
        &[(p.voltage_v * 10.0).round().clamp(0.0, 255.0) as u8],
    );
    t.put(
        TEMPERATURE as usize,
        &[p.temp_c.round().clamp(0.0, 255.0) as u8],
    );
    let err = p.flags.0 & 0x7F;
    t.put(STATUS as usize, &[err]);
    t.put(MOVING as usize, &[p.moving as u8]);
    let cur = sign_magnitude_encode((p.current_a / CURRENT_UNIT_A).round() as i32, 15) as u16;
    t.put(PRESENT_CURRENT as usize, &cur.to_le_bytes());
    // A protection that unloads the motor turns Torque Enable off, as the firmware
    // does (unless the host turned it on again since that report was made).
    if !p.torque_on && p.enables == enables && p.flags.0 & t.u8_at(UNLOADING as usize) != 0 {
        t.put(TORQUE_ENABLE as usize, &[0]);
    }
    err
}

pub(super) fn calibrate(t: &mut Table, homing_offset: i32, min: i32, max: i32) {
    let off = sign_magnitude_encode(homing_offset, 11) as u16;
    t.put(HOMING_OFFSET as usize, &off.to_le_bytes());
    t.put(
        MIN_ANGLE as usize,
        &(min.clamp(0, 4095) as u16).to_le_bytes(),
    );
    t.put(
        MAX_ANGLE as usize,
        &(max.clamp(0, 4095) as u16).to_le_bytes(),
    );
}

pub(super) fn calibration(t: &Table) -> (i32, i32, i32) {
    (
        offset(t) as i32,
        t.u16_at(MIN_ANGLE as usize) as i32,
        t.u16_at(MAX_ANGLE as usize) as i32,
    )
}
