//! Control tables of the emulated servos: the STS3215 and the Dynamixel XM430-W350
//! layouts (addresses from ../shared/specs/servo-protocols.md), defaults, EEPROM lock
//! rules, read-only registers, and the mapping between registers and the motor.

use super::motor::Motor;
use crate::hardware::protocol::{sign_magnitude_decode, sign_magnitude_encode};

/// Which servo family a table emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Feetech STS3215.
    Sts,
    /// Dynamixel X series (XM430-W350), Protocol 2.0.
    Dxl,
}

/// STS3215 addresses.
pub mod sts {
    pub const MODEL: u8 = 3;
    pub const ID: u8 = 5;
    pub const BAUD: u8 = 6;
    pub const RETURN_DELAY: u8 = 7;
    pub const STATUS_LEVEL: u8 = 8;
    pub const MIN_ANGLE: u8 = 9;
    pub const MAX_ANGLE: u8 = 11;
    pub const TEMP_LIMIT: u8 = 13;
    pub const TORQUE_ENABLE: u8 = 40;
    pub const GOAL_POSITION: u8 = 42;
    pub const GOAL_SPEED: u8 = 46;
    pub const TORQUE_LIMIT: u8 = 48;
    pub const LOCK: u8 = 55;
    pub const PRESENT_POSITION: u8 = 56;
    pub const PRESENT_SPEED: u8 = 58;
    pub const PRESENT_LOAD: u8 = 60;
    pub const VOLTAGE: u8 = 62;
    pub const TEMPERATURE: u8 = 63;
    pub const MOVING: u8 = 66;
    pub const PRESENT_CURRENT: u8 = 69;
    /// Addresses below this are EEPROM (writable only while Lock = 0).
    pub const EEPROM_END: u8 = 40;
}

/// XM430-W350 addresses.
pub mod dxl {
    pub const MODEL: u16 = 0;
    pub const FIRMWARE: u16 = 6;
    pub const ID: u16 = 7;
    pub const BAUD: u16 = 8;
    pub const RETURN_DELAY: u16 = 9;
    pub const OPERATING_MODE: u16 = 11;
    pub const TEMP_LIMIT: u16 = 31;
    pub const MAX_POSITION: u16 = 48;
    pub const MIN_POSITION: u16 = 52;
    pub const SHUTDOWN: u16 = 63;
    pub const TORQUE_ENABLE: u16 = 64;
    pub const STATUS_LEVEL: u16 = 68;
    pub const HARDWARE_ERROR: u16 = 70;
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
    pub const HW_OVERLOAD: u8 = 1 << 5;
}

/// Size of the emulated register space, bytes.
pub const SIZE: usize = 256;

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// Read-only register, or EEPROM while locked / torque on.
    Access,
    /// Beyond the table.
    Range,
    /// A value outside its limits (e.g. goal beyond the position limits).
    Limit,
}

/// One servo's registers.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub protocol: Protocol,
    pub regs: [u8; SIZE],
}

impl Table {
    /// Factory defaults for servo `id` whose shaft is at `pos` ticks.
    pub fn new(protocol: Protocol, id: u8, pos: f64) -> Self {
        let mut t = Table {
            protocol,
            regs: [0; SIZE],
        };
        match protocol {
            Protocol::Sts => {
                t.put(sts::MODEL as usize, &777u16.to_le_bytes());
                t.regs[sts::ID as usize] = id;
                t.regs[sts::BAUD as usize] = 0; // 1 Mbps
                t.regs[sts::RETURN_DELAY as usize] = 0;
                t.regs[sts::STATUS_LEVEL as usize] = 1;
                t.put(sts::MIN_ANGLE as usize, &0u16.to_le_bytes());
                t.put(sts::MAX_ANGLE as usize, &4095u16.to_le_bytes());
                t.regs[sts::TEMP_LIMIT as usize] = 70;
                t.put(sts::TORQUE_LIMIT as usize, &1000u16.to_le_bytes());
                t.regs[sts::LOCK as usize] = 1;
                t.put(
                    sts::GOAL_POSITION as usize,
                    &(pos.round() as u16).to_le_bytes(),
                );
                t.regs[sts::VOLTAGE as usize] = 120;
            }
            Protocol::Dxl => {
                t.put(dxl::MODEL as usize, &1020u16.to_le_bytes());
                t.regs[dxl::FIRMWARE as usize] = 52;
                t.regs[dxl::ID as usize] = id;
                t.regs[dxl::BAUD as usize] = 1; // 57600
                t.regs[dxl::RETURN_DELAY as usize] = 250; // 500 µs
                t.regs[dxl::OPERATING_MODE as usize] = 3;
                t.regs[dxl::TEMP_LIMIT as usize] = 80;
                t.put(dxl::MAX_POSITION as usize, &4095i32.to_le_bytes());
                t.put(dxl::MIN_POSITION as usize, &0i32.to_le_bytes());
                t.regs[dxl::SHUTDOWN as usize] = 0x34;
                t.regs[dxl::STATUS_LEVEL as usize] = 2;
                t.put(
                    dxl::GOAL_POSITION as usize,
                    &(pos.round() as i32).to_le_bytes(),
                );
                t.put(dxl::VOLTAGE as usize, &120u16.to_le_bytes());
            }
        }
        t
    }

    fn put(&mut self, addr: usize, bytes: &[u8]) {
        self.regs[addr..addr + bytes.len()].copy_from_slice(bytes);
    }

    fn u16_at(&self, addr: usize) -> u16 {
        u16::from_le_bytes([self.regs[addr], self.regs[addr + 1]])
    }

    fn i32_at(&self, addr: usize) -> i32 {
        i32::from_le_bytes([
            self.regs[addr],
            self.regs[addr + 1],
            self.regs[addr + 2],
            self.regs[addr + 3],
        ])
    }

    pub fn id(&self) -> u8 {
        match self.protocol {
            Protocol::Sts => self.regs[sts::ID as usize],
            Protocol::Dxl => self.regs[dxl::ID as usize],
        }
    }

    /// Return delay, µs (2 µs per unit on both families).
    pub fn return_delay_us(&self) -> u64 {
        let raw = match self.protocol {
            Protocol::Sts => self.regs[sts::RETURN_DELAY as usize],
            Protocol::Dxl => self.regs[dxl::RETURN_DELAY as usize],
        };
        raw as u64 * 2
    }

    /// Status return level: STS 0 = reply to Read/Ping only, 1 = all; DXL 0 = Ping
    /// only, 1 = Ping + Read, 2 = all.
    pub fn status_level(&self) -> u8 {
        match self.protocol {
            Protocol::Sts => self.regs[sts::STATUS_LEVEL as usize],
            Protocol::Dxl => self.regs[dxl::STATUS_LEVEL as usize],
        }
    }

    /// Reads `len` bytes at `addr`.
    pub fn read(&self, addr: usize, len: usize) -> Result<Vec<u8>, WriteError> {
        if addr + len > SIZE {
            return Err(WriteError::Range);
        }
        Ok(self.regs[addr..addr + len].to_vec())
    }

    fn readonly(&self, addr: usize) -> bool {
        match self.protocol {
            Protocol::Sts => addr <= 4 || (sts::PRESENT_POSITION as usize..=70).contains(&addr),
            Protocol::Dxl => {
                addr <= 6 || addr == dxl::HARDWARE_ERROR as usize || (120..=147).contains(&addr)
            }
        }
    }

    fn eeprom_locked(&self, addr: usize) -> bool {
        match self.protocol {
            Protocol::Sts => addr < sts::EEPROM_END as usize && self.regs[sts::LOCK as usize] != 0,
            Protocol::Dxl => {
                addr < dxl::EEPROM_END as usize && self.regs[dxl::TORQUE_ENABLE as usize] != 0
            }
        }
    }

    /// Writes `data` at `addr` under the family's rules. The whole write is refused if
    /// any byte of it is not writable.
    pub fn write(&mut self, addr: usize, data: &[u8]) -> Result<(), WriteError> {
        if addr + data.len() > SIZE {
            return Err(WriteError::Range);
        }
        if (addr..addr + data.len()).any(|a| self.readonly(a) || self.eeprom_locked(a)) {
            return Err(WriteError::Access);
        }
        if self.protocol == Protocol::Dxl {
            let goal = dxl::GOAL_POSITION as usize;
            if addr <= goal && addr + data.len() >= goal + 4 {
                let v = i32::from_le_bytes([
                    data[goal - addr],
                    data[goal - addr + 1],
                    data[goal - addr + 2],
                    data[goal - addr + 3],
                ]);
                let (lo, hi) = (
                    self.i32_at(dxl::MIN_POSITION as usize),
                    self.i32_at(dxl::MAX_POSITION as usize),
                );
                if v < lo || v > hi {
                    return Err(WriteError::Limit);
                }
            }
        }
        self.regs[addr..addr + data.len()].copy_from_slice(data);
        Ok(())
    }

    /// Pushes register settings into the motor (goal, torque, speed cap).
    pub fn drive(&self, m: &mut Motor) {
        match self.protocol {
            Protocol::Sts => {
                m.torque_on = self.regs[sts::TORQUE_ENABLE as usize] != 0;
                let raw = self.u16_at(sts::GOAL_POSITION as usize) as u32;
                let lo = self.u16_at(sts::MIN_ANGLE as usize) as f64;
                let hi = self.u16_at(sts::MAX_ANGLE as usize) as f64;
                let goal = sign_magnitude_decode(raw, 15) as f64;
                m.goal = if hi > lo { goal.clamp(lo, hi) } else { goal };
                m.speed_cap =
                    sign_magnitude_decode(self.u16_at(sts::GOAL_SPEED as usize) as u32, 15)
                        .unsigned_abs() as f64;
            }
            Protocol::Dxl => {
                m.torque_on = self.regs[dxl::TORQUE_ENABLE as usize] != 0;
                m.goal = self.i32_at(dxl::GOAL_POSITION as usize) as f64;
                // Profile velocity: 0.229 rpm per unit (0 = unlimited).
                let pv = self.i32_at(dxl::PROFILE_VELOCITY as usize).max(0) as f64;
                m.speed_cap = pv * 0.229 / 60.0 * m.params.ticks_per_rev;
            }
        }
    }

    /// Publishes the motor's state into the present-value registers; returns the
    /// status error byte the servo reports.
    pub fn publish(&mut self, m: &Motor) -> u8 {
        let temp = m.temperature_c.round().clamp(0.0, 255.0) as u8;
        match self.protocol {
            Protocol::Sts => {
                let pos = sign_magnitude_encode(m.pos.round() as i32, 15) as u16;
                self.put(sts::PRESENT_POSITION as usize, &pos.to_le_bytes());
                let spd = sign_magnitude_encode(m.vel.round() as i32, 15) as u16;
                self.put(sts::PRESENT_SPEED as usize, &spd.to_le_bytes());
                let load = sign_magnitude_encode((m.load * 1000.0).round() as i32, 10) as u16;
                self.put(sts::PRESENT_LOAD as usize, &load.to_le_bytes());
                self.regs[sts::TEMPERATURE as usize] = temp;
                self.regs[sts::MOVING as usize] = m.moving() as u8;
                let current = ((m.load.abs() * 300.0).round() as u16).to_le_bytes();
                self.put(sts::PRESENT_CURRENT as usize, &current);
                let mut err = 0;
                if temp >= self.regs[sts::TEMP_LIMIT as usize] {
                    err |= crate::hardware::protocol::sts::err::OVERHEAT;
                }
                if m.overloaded() {
                    err |= crate::hardware::protocol::sts::err::OVERLOAD;
                }
                err
            }
            Protocol::Dxl => {
                self.put(
                    dxl::PRESENT_POSITION as usize,
                    &(m.pos.round() as i32).to_le_bytes(),
                );
                let vel_units = m.vel / m.params.ticks_per_rev * 60.0 / 0.229;
                self.put(
                    dxl::PRESENT_VELOCITY as usize,
                    &(vel_units.round() as i32).to_le_bytes(),
                );
                // Present current, 2.69 mA per unit; stall ≈ 2.3 A on the XM430.
                self.put(
                    dxl::PRESENT_CURRENT as usize,
                    &((m.load * 855.0).round() as i16).to_le_bytes(),
                );
                self.regs[dxl::TEMPERATURE as usize] = temp;
                self.regs[dxl::MOVING as usize] = m.moving() as u8;
                if temp >= self.regs[dxl::TEMP_LIMIT as usize] {
                    self.regs[dxl::HARDWARE_ERROR as usize] |= dxl::HW_OVERHEAT;
                }
                if m.overloaded() {
                    self.regs[dxl::HARDWARE_ERROR as usize] |= dxl::HW_OVERLOAD;
                }
                if self.regs[dxl::HARDWARE_ERROR as usize] != 0 {
                    crate::hardware::protocol::dxl::err::ALERT
                } else {
                    0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_eeprom_is_locked_until_lock_is_cleared() {
        let mut t = Table::new(Protocol::Sts, 1, 2048.0);
        assert_eq!(t.write(sts::ID as usize, &[7]), Err(WriteError::Access));
        t.write(sts::LOCK as usize, &[0]).expect("unlock");
        t.write(sts::ID as usize, &[7]).expect("write id");
        assert_eq!(t.id(), 7);
        assert_eq!(
            t.write(sts::PRESENT_POSITION as usize, &[0, 0]),
            Err(WriteError::Access)
        );
    }

    #[test]
    fn dxl_eeprom_needs_torque_off_and_goal_respects_limits() {
        let mut t = Table::new(Protocol::Dxl, 1, 2048.0);
        t.write(dxl::RETURN_DELAY as usize, &[0])
            .expect("torque off: eeprom writable");
        t.write(dxl::TORQUE_ENABLE as usize, &[1])
            .expect("torque on");
        assert_eq!(
            t.write(dxl::RETURN_DELAY as usize, &[10]),
            Err(WriteError::Access)
        );
        assert_eq!(
            t.write(dxl::GOAL_POSITION as usize, &5000i32.to_le_bytes()),
            Err(WriteError::Limit)
        );
        t.write(dxl::GOAL_POSITION as usize, &1000i32.to_le_bytes())
            .expect("in limits");
    }
}
