//! Control tables of the emulated servos: the Feetech STS3215 ([`sts`]) and the
//! Dynamixel XM430-W350 ([`dxl`]) layouts, with their factory defaults, read-only
//! registers and EEPROM rules, and the mapping between registers and the servo's
//! firmware (`servo::firmware`): what the host's writes ask of it ([`Table::drive`])
//! and what it reports ([`Table::publish`]). One table serves `armhil virtual-servo`
//! and `armhil serve` alike.
//!
//! EEPROM persistence: a table keeps, beside its registers (RAM), the EEPROM bytes a
//! real servo would still have after a power cycle ([`Table::eeprom`]); a serve run
//! saves them to a file and loads them at the next start ([`Table::restore_eeprom`]).
//! Which writes are kept is the family's rule (see [`Table::write`]).

pub mod dxl;
pub mod sts;

use crate::servo::firmware::{Drive, Present};

/// Which servo family a table emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Feetech STS3215.
    Sts,
    /// Dynamixel X series (XM430-W350), Protocol 2.0.
    Dxl,
}

/// Size of the emulated register space, bytes.
pub const SIZE: usize = 256;

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// Read-only register, or (Dynamixel) EEPROM while torque is on.
    Access,
    /// Beyond the table.
    Range,
    /// A value outside its limits (e.g. goal beyond the position limits).
    Limit,
}

/// One servo's registers.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    protocol: Protocol,
    regs: [u8; SIZE],
    /// The EEPROM bytes that survive a power cycle.
    flash: Vec<u8>,
    /// Writes of Torque Enable = 1 so far (a new one clears latched faults).
    enables: u32,
}

impl Table {
    /// Factory defaults for servo `id` whose shaft is at `pos` ticks.
    pub fn new(protocol: Protocol, id: u8, pos: f64) -> Self {
        let mut t = Table {
            protocol,
            regs: [0; SIZE],
            flash: Vec::new(),
            enables: 0,
        };
        match protocol {
            Protocol::Sts => sts::defaults(&mut t, id, pos),
            Protocol::Dxl => dxl::defaults(&mut t, id, pos),
        }
        t.flash = t.regs[..t.eeprom_end()].to_vec();
        t
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    fn eeprom_end(&self) -> usize {
        match self.protocol {
            Protocol::Sts => sts::EEPROM_END as usize,
            Protocol::Dxl => dxl::EEPROM_END as usize,
        }
    }

    /// Sets registers directly (defaults, publishing present values, firmware
    /// actions): no access rules.
    pub(crate) fn put(&mut self, addr: usize, bytes: &[u8]) {
        self.regs[addr..addr + bytes.len()].copy_from_slice(bytes);
    }

    pub(crate) fn u8_at(&self, addr: usize) -> u8 {
        self.regs[addr]
    }

    pub(crate) fn u16_at(&self, addr: usize) -> u16 {
        u16::from_le_bytes([self.regs[addr], self.regs[addr + 1]])
    }

    pub(crate) fn i32_at(&self, addr: usize) -> i32 {
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

    /// Writes `data` at `addr` under the family's rules; the whole write is refused if
    /// any byte of it is not writable.
    ///
    /// - Feetech STS: an EEPROM write (addresses below 40) always takes effect in RAM;
    ///   it is *kept* (survives a power cycle) only while Lock (55) is 0. Feetech's
    ///   SMS/STS memory table documents the Lock flag as "0: write lock off, values
    ///   written to EPROM addresses are saved at power-off; 1: write lock on, values
    ///   written to EPROM are not saved" — it does not refuse the write. LeRobot relies
    ///   on this: it writes Lock = 0 with torque off and Lock = 1 with torque on.
    /// - Dynamixel: EEPROM (addresses below 64) is writable only while Torque Enable is
    ///   0 (an Access error otherwise), and what is written is kept.
    pub fn write(&mut self, addr: usize, data: &[u8]) -> Result<(), WriteError> {
        if addr + data.len() > SIZE {
            return Err(WriteError::Range);
        }
        let span = addr..addr + data.len();
        let refused = match self.protocol {
            Protocol::Sts => span.clone().any(sts::readonly),
            Protocol::Dxl => span.clone().any(|a| {
                dxl::readonly(a)
                    || (a < dxl::EEPROM_END as usize && self.regs[dxl::TORQUE_ENABLE as usize] != 0)
            }),
        };
        if refused {
            return Err(WriteError::Access);
        }
        if self.protocol == Protocol::Dxl {
            dxl::check_goal(self, addr, data)?;
        }
        let torque = match self.protocol {
            Protocol::Sts => sts::TORQUE_ENABLE as usize,
            Protocol::Dxl => dxl::TORQUE_ENABLE as usize,
        };
        if span.contains(&torque) && data[torque - addr] == 1 {
            self.enables = self.enables.wrapping_add(1);
        }
        self.regs[span.clone()].copy_from_slice(data);
        let keep = match self.protocol {
            Protocol::Sts => self.regs[sts::LOCK as usize] == 0,
            Protocol::Dxl => true,
        };
        let end = self.eeprom_end();
        if keep && addr < end {
            let top = span.end.min(end);
            self.flash[addr..top].copy_from_slice(&self.regs[addr..top]);
        }
        Ok(())
    }

    /// The EEPROM bytes that would survive a power cycle now.
    pub fn eeprom(&self) -> &[u8] {
        &self.flash
    }

    /// Powers on with `bytes` in EEPROM (from a previous run): the writable EEPROM
    /// registers take them; model and firmware numbers stay this table's. Returns
    /// false (and changes nothing) when `bytes` is not this family's EEPROM size.
    pub fn restore_eeprom(&mut self, bytes: &[u8]) -> bool {
        let end = self.eeprom_end();
        if bytes.len() != end {
            return false;
        }
        for (a, &b) in bytes.iter().enumerate() {
            let fixed = match self.protocol {
                Protocol::Sts => sts::readonly(a),
                Protocol::Dxl => dxl::readonly(a),
            };
            if !fixed {
                self.regs[a] = b;
            }
        }
        self.flash = self.regs[..end].to_vec();
        if self.protocol == Protocol::Sts {
            sts::power_on(self);
        }
        true
    }

    /// Torque Enable as the registers say now.
    pub fn torque_enabled(&self) -> bool {
        match self.protocol {
            Protocol::Sts => self.regs[sts::TORQUE_ENABLE as usize] != 0,
            Protocol::Dxl => self.regs[dxl::TORQUE_ENABLE as usize] != 0,
        }
    }

    /// What the registers ask of the firmware now.
    pub fn drive(&self) -> Drive {
        match self.protocol {
            Protocol::Sts => sts::drive(self, self.enables),
            Protocol::Dxl => dxl::drive(self, self.enables),
        }
    }

    /// Publishes what the firmware reports into the present-value registers; returns
    /// the status packet's error byte.
    pub fn publish(&mut self, p: &Present) -> u8 {
        match self.protocol {
            Protocol::Sts => sts::publish(self, p, self.enables),
            Protocol::Dxl => dxl::publish(self, p, self.enables),
        }
    }

    /// A firmware reset (power cycle): RAM back to its power-on state with the kept
    /// EEPROM, the goal where the shaft is (`actual` ticks), torque off.
    pub fn power_cycle(&mut self, actual: f64) {
        let flash = self.flash.clone();
        let enables = self.enables;
        *self = Table::new(self.protocol, self.id(), actual);
        self.restore_eeprom(&flash);
        self.hold_goal_at(actual);
        self.enables = enables;
    }

    /// Dynamixel Reboot: clears the hardware error and turns torque off.
    pub fn reboot(&mut self) {
        if self.protocol == Protocol::Dxl {
            self.regs[dxl::HARDWARE_ERROR as usize] = 0;
            self.regs[dxl::TORQUE_ENABLE as usize] = 0;
            self.enables = self.enables.wrapping_add(1);
        }
    }

    /// The firmware numbers a ping reply carries (Dynamixel: model, firmware).
    pub fn ping_params(&self) -> Vec<u8> {
        match self.protocol {
            Protocol::Sts => Vec::new(),
            Protocol::Dxl => vec![
                self.regs[0],
                self.regs[1],
                self.regs[dxl::FIRMWARE as usize],
            ],
        }
    }

    /// Calibrates the servo as shipped (kept in EEPROM): homing offset and position
    /// limits, in the family's present-position units.
    pub fn calibrate(&mut self, homing_offset: i32, min: i32, max: i32) {
        match self.protocol {
            Protocol::Sts => sts::calibrate(self, homing_offset, min, max),
            Protocol::Dxl => dxl::calibrate(self, homing_offset, min, max),
        }
        let end = self.eeprom_end();
        self.flash = self.regs[..end].to_vec();
    }

    /// (homing offset, min position limit, max position limit) as the registers say
    /// now, in the family's units.
    pub fn calibration(&self) -> (i32, i32, i32) {
        match self.protocol {
            Protocol::Sts => sts::calibration(self),
            Protocol::Dxl => dxl::calibration(self),
        }
    }

    /// Where the shaft (actual ticks) must be for the present position to read
    /// `present`, under the homing offset now in the registers.
    pub fn actual_for(&self, present: f64) -> f64 {
        let (offset, _, _) = self.calibration();
        match self.protocol {
            Protocol::Sts => present + offset as f64,
            Protocol::Dxl => present - offset as f64,
        }
    }

    /// Sets the goal position register to where the shaft is (`actual` ticks), as a
    /// servo powering on does.
    pub fn hold_goal_at(&mut self, actual: f64) {
        let (offset, _, _) = self.calibration();
        match self.protocol {
            Protocol::Sts => {
                let present = (actual - offset as f64).round() as i32;
                let raw = crate::hardware::protocol::sign_magnitude_encode(present, 15) as u16;
                self.put(sts::GOAL_POSITION as usize, &raw.to_le_bytes());
            }
            Protocol::Dxl => {
                let present = (actual + offset as f64).round() as i32;
                self.put(dxl::GOAL_POSITION as usize, &present.to_le_bytes());
            }
        }
    }

    /// Sets a register without access rules, for tests and benches (e.g. a return
    /// delay of 0 on every servo of a benchmark bus).
    pub fn force(&mut self, addr: usize, data: &[u8]) {
        if addr + data.len() <= SIZE {
            self.put(addr, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_eeprom_writes_act_in_ram_but_are_kept_only_with_lock_0() {
        let mut t = Table::new(Protocol::Sts, 1, 2048.0);
        assert_eq!(t.u8_at(sts::LOCK as usize), 1, "factory: locked");
        t.write(sts::ID as usize, &[7])
            .expect("write id while locked");
        assert_eq!(t.id(), 7, "takes effect in RAM");
        assert_eq!(t.eeprom()[sts::ID as usize], 1, "but is not kept");
        t.write(sts::LOCK as usize, &[0]).expect("unlock");
        t.write(sts::RETURN_DELAY as usize, &[0]).expect("write");
        t.write(sts::ID as usize, &[9]).expect("write id");
        assert_eq!(t.eeprom()[sts::ID as usize], 9);
        assert_eq!(t.eeprom()[sts::RETURN_DELAY as usize], 0);
        assert_eq!(
            t.write(sts::PRESENT_POSITION as usize, &[0, 0]),
            Err(WriteError::Access)
        );
        assert_eq!(
            t.write(sts::MODEL as usize, &[1, 2]),
            Err(WriteError::Access)
        );
        // A power cycle with the kept EEPROM.
        let kept = t.eeprom().to_vec();
        let mut u = Table::new(Protocol::Sts, 1, 2048.0);
        assert!(u.restore_eeprom(&kept));
        assert_eq!(u.id(), 9);
        assert_eq!(u.return_delay_us(), 0);
        assert!(!u.restore_eeprom(&kept[..10]));
    }

    #[test]
    fn dxl_eeprom_needs_torque_off_and_goal_respects_limits() {
        let mut t = Table::new(Protocol::Dxl, 1, 2048.0);
        t.write(dxl::RETURN_DELAY as usize, &[0])
            .expect("torque off: eeprom writable");
        assert_eq!(t.eeprom()[dxl::RETURN_DELAY as usize], 0, "kept");
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

    #[test]
    fn sts_goal_time_sets_the_profile_speed_from_where_the_shaft_is() {
        let mut t = Table::new(Protocol::Sts, 1, 2048.0);
        t.publish(&Present::at(1000.0));
        t.write(sts::GOAL_POSITION as usize, &3000u16.to_le_bytes())
            .expect("goal");
        t.write(sts::GOAL_TIME as usize, &500u16.to_le_bytes())
            .expect("time");
        // 2000 ticks in 0.5 s.
        assert_eq!(t.drive().speed, 4000.0);
        t.write(sts::GOAL_SPEED as usize, &1500u16.to_le_bytes())
            .expect("speed");
        assert_eq!(t.drive().speed, 1500.0, "a Goal Speed wins");
    }

    #[test]
    fn a_power_cycle_forgets_ram_and_keeps_eeprom() {
        let mut t = Table::new(Protocol::Sts, 3, 2048.0);
        t.write(sts::P_GAIN as usize, &[16])
            .expect("locked: RAM only");
        t.write(sts::TORQUE_ENABLE as usize, &[1])
            .expect("torque on");
        t.write(sts::LOCK as usize, &[0]).expect("unlock");
        t.write(sts::D_GAIN as usize, &[8]).expect("kept");
        t.power_cycle(1500.0);
        assert_eq!(
            t.u8_at(sts::P_GAIN as usize),
            32,
            "the locked write is gone"
        );
        assert_eq!(t.u8_at(sts::D_GAIN as usize), 8, "the kept one stays");
        assert_eq!(t.u8_at(sts::LOCK as usize), 1);
        assert!(!t.drive().torque_on);
        assert_eq!(t.drive().goal, 1500.0, "the goal is where the shaft is");
        assert_eq!(t.id(), 3);
    }

    #[test]
    fn model_and_firmware_read_as_the_real_servos() {
        let s = Table::new(Protocol::Sts, 1, 2048.0);
        assert_eq!(s.u16_at(sts::MODEL as usize), 777);
        assert_eq!(s.u8_at(sts::FIRMWARE_MAJOR as usize), 3);
        let d = Table::new(Protocol::Dxl, 1, 2048.0);
        assert_eq!(d.u16_at(dxl::MODEL as usize), 1020);
        assert_eq!(d.ping_params(), vec![0xFC, 0x03, 52]);
    }
}
