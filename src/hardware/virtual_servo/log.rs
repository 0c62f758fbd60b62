//! What a host asked of an emulated bus: one [`Transaction`] (the recording's type)
//! per request, read from its frame. The served bus records these (`/bus/served`) and
//! counts them in the report; expectations judge a host's reactions from them.

pub use crate::recording::Transaction;

use crate::hardware::protocol::{dxl as pdxl, sts as psts};

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
