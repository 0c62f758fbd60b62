//! What a host asked of an emulated bus, one [`Transaction`] per request: the
//! instruction, the servos it named, the registers it touched (with the data written),
//! how many servos answered, how many answers the link faults lost, and when the
//! first answer started. The served bus records these (`/bus/served`) and counts them
//! in the report; expectations judge a host's reactions from them.

use serde::{Deserialize, Serialize};

use crate::hardware::protocol::{dxl as pdxl, sts as psts};

/// One request from the host and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// `ping`, `read`, `write`, `reg_write`, `action`, `sync_read`, `sync_write`,
    /// `fast_sync_read`, `bulk_read`, `bulk_write`, `reboot`, `factory_reset`, or
    /// `other`.
    pub instruction: String,
    /// The ID the packet was sent to (254: broadcast).
    pub id: u8,
    /// Register address and length, where the instruction has them.
    pub addr: u16,
    pub len: u16,
    /// Data written, per servo ID (write, reg_write, sync_write, bulk_write).
    pub writes: Vec<(u8, u16, Vec<u8>)>,
    /// Servos named by a sync/bulk read.
    pub reads: Vec<u8>,
    /// Replies sent, and replies the link faults lost.
    pub replies: u32,
    pub lost: u32,
    /// From the end of the request to the start of the first reply, as the wire is
    /// modelled.
    #[serde(with = "micros")]
    pub latency: Option<std::time::Duration>,
}

impl Transaction {
    fn new(instruction: &str, id: u8) -> Self {
        Self {
            instruction: instruction.into(),
            id,
            addr: 0,
            len: 0,
            writes: Vec::new(),
            reads: Vec::new(),
            replies: 0,
            lost: 0,
            latency: None,
        }
    }

    /// Whether it wrote `value` to the one-byte register `addr` of servo `id`.
    pub fn wrote(&self, id: u8, addr: u16, value: u8) -> bool {
        self.writes.iter().any(|(i, a, d)| {
            (*i == id || *i == 254) && *a <= addr && addr < *a + d.len() as u16
                && d[(addr - *a) as usize] == value
        })
    }

    /// Whether it wrote anything to servo `id`.
    pub fn writes_to(&self, id: u8) -> bool {
        self.writes.iter().any(|(i, _, _)| *i == id || *i == 254)
    }
}

/// The log entry for an STS request.
pub fn sts(f: &psts::Frame) -> Transaction {
    use psts::Instruction as I;
    let Ok(ins) = I::from_frame(f) else {
        return Transaction::new("other", f.id);
    };
    let mut t;
    match ins {
        I::Ping => t = Transaction::new("ping", f.id),
        I::Read { addr, len } => {
            t = Transaction::new("read", f.id);
            (t.addr, t.len) = (addr as u16, len as u16);
        }
        I::Write { addr, data } | I::RegWrite { addr, data } => {
            let reg = f.code == psts::code::REG_WRITE;
            t = Transaction::new(if reg { "reg_write" } else { "write" }, f.id);
            (t.addr, t.len) = (addr as u16, data.len() as u16);
            t.writes.push((f.id, addr as u16, data));
        }
        I::Action => t = Transaction::new("action", f.id),
        I::SyncRead { addr, len, ids } => {
            t = Transaction::new("sync_read", f.id);
            (t.addr, t.len, t.reads) = (addr as u16, len as u16, ids);
        }
        I::SyncWrite { addr, len, data } => {
            t = Transaction::new("sync_write", f.id);
            (t.addr, t.len) = (addr as u16, len as u16);
            t.writes = data.into_iter().map(|(i, d)| (i, addr as u16, d)).collect();
        }
        I::Other { .. } => t = Transaction::new("other", f.id),
    }
    t
}

/// The log entry for a Dynamixel request.
pub fn dxl(f: &pdxl::Frame) -> Transaction {
    use pdxl::Instruction as I;
    let Ok(ins) = I::from_frame(f) else {
        return Transaction::new("other", f.id);
    };
    let mut t;
    match ins {
        I::Ping => t = Transaction::new("ping", f.id),
        I::Read { addr, len } => {
            t = Transaction::new("read", f.id);
            (t.addr, t.len) = (addr, len);
        }
        I::Write { addr, data } | I::RegWrite { addr, data } => {
            let reg = f.instruction == pdxl::code::REG_WRITE;
            t = Transaction::new(if reg { "reg_write" } else { "write" }, f.id);
            (t.addr, t.len) = (addr, data.len() as u16);
            t.writes.push((f.id, addr, data));
        }
        I::Action => t = Transaction::new("action", f.id),
        I::FactoryReset { .. } => t = Transaction::new("factory_reset", f.id),
        I::Reboot => t = Transaction::new("reboot", f.id),
        I::SyncRead { addr, len, ids } | I::FastSyncRead { addr, len, ids } => {
            let fast = f.instruction == pdxl::code::FAST_SYNC_READ;
            t = Transaction::new(if fast { "fast_sync_read" } else { "sync_read" }, f.id);
            (t.addr, t.len, t.reads) = (addr, len, ids);
        }
        I::SyncWrite { addr, len, data } => {
            t = Transaction::new("sync_write", f.id);
            (t.addr, t.len) = (addr, len);
            t.writes = data.into_iter().map(|(i, d)| (i, addr, d)).collect();
        }
        I::BulkRead { reads } => {
            t = Transaction::new("bulk_read", f.id);
            t.reads = reads.iter().map(|r| r.0).collect();
        }
        I::BulkWrite { writes } => {
            t = Transaction::new("bulk_write", f.id);
            t.writes = writes;
        }
        I::Other { .. } => t = Transaction::new("other", f.id),
    }
    t
}

/// A latency as microseconds (JSON-friendly).
mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_secs_f64() * 1e6)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let us: Option<f64> = Option::deserialize(d)?;
        Ok(us
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| Duration::from_secs_f64(v / 1e6)))
    }
}
