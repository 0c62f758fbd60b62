//! The virtual servo: in-process against armhil's own codecs (replies, timing, status
//! return level, EEPROM rules), and as `armhil virtual-servo` on a pty against the
//! official Python SDKs of ROBOTIS and Feetech (installed from PyPI when missing).

use std::io::{BufRead, BufReader};

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use armhil::hardware::protocol::{dxl, sts};
use armhil::hardware::virtual_servo::VirtualBus;
use armhil::hardware::virtual_servo::table::{self, Protocol};

fn sts_status(bytes: &[u8]) -> sts::Status {
    let mut d = sts::Decoder::new();
    d.push(bytes);
    sts::Status::from_frame(&d.next_frame().expect("frame").expect("valid")).expect("status")
}

fn dxl_status(bytes: &[u8]) -> dxl::Status {
    let mut d = dxl::Decoder::new();
    d.push(bytes);
    dxl::Status::from_frame(&d.next_frame().expect("frame").expect("valid")).expect("status")
}

#[test]
fn sts_bus_answers_ping_read_and_sync_read_in_id_order_with_wire_timing() {
    // Threads on the wall clock: never beside a test that has the machine to itself.
    let _g = shared();
    let mut bus = VirtualBus::new(Protocol::Sts, &[1, 2, 3], 1_000_000);
    let r = bus.receive(&sts::Instruction::Ping.encode(2).expect("enc"));
    assert_eq!(r.len(), 1);
    assert_eq!(sts_status(&r[0].bytes).id, 2);
    // 6 request bytes + 6 reply bytes at 10 µs each, return delay 0.
    assert_eq!(r[0].delay, Duration::from_micros(120));
    let r = bus.receive(
        &sts::Instruction::Read {
            addr: table::sts::MODEL,
            len: 2,
        }
        .encode(1)
        .expect("enc"),
    );
    assert_eq!(sts_status(&r[0].bytes).params, 777u16.to_le_bytes());
    let sr = sts::Instruction::SyncRead {
        addr: table::sts::PRESENT_POSITION,
        len: 2,
        ids: vec![3, 1, 9, 2],
    };
    let r = bus.receive(&sr.encode(sts::BROADCAST).expect("enc"));
    let ids: Vec<u8> = r.iter().map(|x| sts_status(&x.bytes).id).collect();
    assert_eq!(
        ids,
        [3, 1, 2],
        "unknown ID 9 stays silent; order follows the request"
    );
    assert!(
        r.windows(2).all(|w| w[1].delay > w[0].delay),
        "replies follow one another on the wire"
    );
    for x in &r {
        assert_eq!(sts_status(&x.bytes).params, 2048u16.to_le_bytes());
    }
}

#[test]
fn sts_sync_write_moves_the_motors_and_eeprom_is_kept_only_unlocked() {
    // Threads on the wall clock: never beside a test that has the machine to itself.
    let _g = shared();
    let mut bus = VirtualBus::new(Protocol::Sts, &[1, 2], 1_000_000);
    for id in [1, 2] {
        bus.receive(
            &sts::Instruction::Write {
                addr: table::sts::TORQUE_ENABLE,
                data: vec![1],
            }
            .encode(id)
            .expect("enc"),
        );
    }
    let data = vec![
        (1, 1000u16.to_le_bytes().to_vec()),
        (2, 3000u16.to_le_bytes().to_vec()),
    ];
    let r = bus.receive(
        &sts::Instruction::SyncWrite {
            addr: table::sts::GOAL_POSITION,
            len: 2,
            data,
        }
        .encode(sts::BROADCAST)
        .expect("enc"),
    );
    assert!(r.is_empty(), "sync write gets no reply");
    bus.advance(1.5);
    let r = bus.receive(
        &sts::Instruction::Read {
            addr: table::sts::PRESENT_POSITION,
            len: 2,
        }
        .encode(2)
        .expect("enc"),
    );
    let p = sts_status(&r[0].bytes).params;
    let pos = u16::from_le_bytes([p[0], p[1]]);
    assert!((2990..=3010).contains(&pos), "{pos}");
    // ID is EEPROM: with Lock = 1 (the factory state) a write still takes effect in
    // RAM (Feetech's Lock only stops it being kept), so the servo answers to 9 now...
    bus.receive(
        &sts::Instruction::Write {
            addr: table::sts::ID,
            data: vec![9],
        }
        .encode(1)
        .expect("enc"),
    );
    assert_eq!(
        bus.receive(&sts::Instruction::Ping.encode(9).expect("enc"))
            .len(),
        1
    );
    assert!(
        bus.receive(&sts::Instruction::Ping.encode(1).expect("enc"))
            .is_empty()
    );
    // ...but its EEPROM still holds 1; after Lock = 0 a write is kept.
    assert_eq!(bus.servos[0].table.eeprom()[table::sts::ID as usize], 1);
    bus.receive(
        &sts::Instruction::Write {
            addr: table::sts::LOCK,
            data: vec![0],
        }
        .encode(9)
        .expect("enc"),
    );
    bus.receive(
        &sts::Instruction::Write {
            addr: table::sts::ID,
            data: vec![11],
        }
        .encode(9)
        .expect("enc"),
    );
    assert_eq!(bus.servos[0].table.eeprom()[table::sts::ID as usize], 11);
    assert_eq!(
        bus.receive(&sts::Instruction::Ping.encode(11).expect("enc"))
            .len(),
        1
    );
}

#[test]
fn dxl_bus_reports_errors_honours_status_return_level_and_return_delay() {
    // Threads on the wall clock: never beside a test that has the machine to itself.
    let _g = shared();
    let mut bus = VirtualBus::new(Protocol::Dxl, &[1], 1_000_000);
    // Default return delay 250 units = 500 µs: 10 request + 14 reply bytes at 10 µs.
    let r = bus.receive(&dxl::Instruction::Ping.encode(1).expect("enc"));
    assert_eq!(r[0].delay, Duration::from_micros(100 + 500 + 140));
    let st = dxl_status(&r[0].bytes);
    assert_eq!(st.params, [0xFC, 0x03, 52], "model 1020, firmware 52");
    // Goal beyond the position limit: data limit error, not applied.
    let w = dxl::Instruction::Write {
        addr: table::dxl::GOAL_POSITION,
        data: 9000i32.to_le_bytes().to_vec(),
    };
    assert_eq!(
        dxl_status(&bus.receive(&w.encode(1).expect("enc"))[0].bytes).error,
        dxl::err::DATA_LIMIT
    );
    // Read-only register: access error.
    let w = dxl::Instruction::Write {
        addr: table::dxl::PRESENT_POSITION,
        data: vec![0, 0, 0, 0],
    };
    assert_eq!(
        dxl_status(&bus.receive(&w.encode(1).expect("enc"))[0].bytes).error,
        dxl::err::ACCESS
    );
    // Status return level 1: writes are silent, reads still answered.
    let w = dxl::Instruction::Write {
        addr: table::dxl::STATUS_LEVEL,
        data: vec![1],
    };
    assert_eq!(
        bus.receive(&w.encode(1).expect("enc")).len(),
        1,
        "the write that sets the level is answered at the old level"
    );
    let w = dxl::Instruction::Write {
        addr: table::dxl::GOAL_POSITION,
        data: 100i32.to_le_bytes().to_vec(),
    };
    assert!(bus.receive(&w.encode(1).expect("enc")).is_empty());
    let rd = dxl::Instruction::Read {
        addr: table::dxl::PRESENT_POSITION,
        len: 4,
    };
    assert_eq!(bus.receive(&rd.encode(1).expect("enc")).len(), 1);
}

#[test]
fn dxl_fast_sync_read_answers_in_one_packet() {
    // Threads on the wall clock: never beside a test that has the machine to itself.
    let _g = shared();
    let mut bus = VirtualBus::new(Protocol::Dxl, &[3, 4, 7], 4_000_000);
    let fsr = dxl::Instruction::FastSyncRead {
        addr: table::dxl::PRESENT_POSITION,
        len: 4,
        ids: vec![3, 7, 4],
    };
    let r = bus.receive(&fsr.encode(dxl::BROADCAST).expect("enc"));
    assert_eq!(r.len(), 1);
    let mut d = dxl::Decoder::new();
    d.push(&r[0].bytes);
    let f = d.next_frame().expect("frame").expect("valid");
    let blocks = dxl::parse_fast_sync_reply(&f, 4).expect("blocks");
    assert_eq!(blocks.iter().map(|b| b.id).collect::<Vec<_>>(), [3, 7, 4]);
    assert!(blocks.iter().all(|b| b.data == 2048i32.to_le_bytes()));
}

#[test]
fn garbage_and_corrupt_requests_are_counted_and_survived() {
    // Threads on the wall clock: never beside a test that has the machine to itself.
    let _g = shared();
    let mut bus = VirtualBus::new(Protocol::Sts, &[1], 1_000_000);
    let mut bad = sts::Instruction::Ping.encode(1).expect("enc");
    bad[5] ^= 0xFF;
    assert!(bus.receive(&[0x12, 0x34]).is_empty());
    assert!(bus.receive(&bad).is_empty());
    assert_eq!(
        bus.receive(&sts::Instruction::Ping.encode(1).expect("enc"))
            .len(),
        1
    );
    assert_eq!(bus.stats.checksum_errors, 1);
    assert!(bus.stats.garbage_bytes >= 2);
}

/// `armhil virtual-servo` as a child process; killed (SIGTERM) on drop.
struct VirtualServoProcess {
    _child: Killed,
    path: String,
}

impl VirtualServoProcess {
    fn start(protocol: &str, ids: &str, baud: u32) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_armhil"))
            .args([
                "virtual-servo",
                "--protocol",
                protocol,
                "--ids",
                ids,
                "--baud",
                &baud.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn virtual-servo");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read path");
        let path = line.trim().to_string();
        assert!(path.starts_with("/dev/pts/"), "{path:?}");
        Self {
            _child: Killed::new(child),
            path,
        }
    }
}

#[test]
fn official_feetech_sdk_pings_reads_and_sync_writes_the_virtual_servo() {
    let _g = shared();
    let vs = VirtualServoProcess::start("sts", "1-6", 1_000_000);
    let out = run_python("sts_sdk.py", &[&vs.path, "6"]);
    assert!(out.contains("ping ok [1, 2, 3, 4, 5, 6]"), "{out}");
}

#[test]
fn official_dynamixel_sdk_pings_reads_and_sync_writes_the_virtual_servo() {
    let _g = shared();
    let vs = VirtualServoProcess::start("dxl", "1-6", 1_000_000);
    let out = run_python("dxl_sdk.py", &[&vs.path, "6", "1000000"]);
    assert!(out.contains("ping ok [1, 2, 3, 4, 5, 6]"), "{out}");
}

#[test]
fn virtual_servo_refuses_bad_ids_with_exit_2() {
    let _g = shared();
    for ids in ["0-300", "5-2", "1,x", "1,1"] {
        let out = Command::new(env!("CARGO_BIN_EXE_armhil"))
            .args(["virtual-servo", "--protocol", "sts", "--ids", ids])
            .output()
            .expect("spawn");
        assert_eq!(out.status.code(), Some(2), "{ids}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--ids"),
            "{ids}"
        );
    }
}
