//! Transports: memory pair, pty master <-> serial (the slave opened with the
//! `serialport` crate, as a USB adapter would be), timeouts and pulled cables.

use crate::common::shared;

use std::time::{Duration, Instant};

use armhil::hardware::transport::memory::MemoryTransport;
use armhil::hardware::transport::pty::PtyTransport;
use armhil::hardware::transport::serial::SerialTransport;
use armhil::hardware::transport::{Transport, TransportError};

/// Reads until `n` bytes arrived or `timeout` passed.
fn read_n(t: &mut dyn Transport, n: usize, timeout: Duration) -> Vec<u8> {
    let end = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while out.len() < n && Instant::now() < end {
        match t.read(&mut buf, end.saturating_duration_since(Instant::now())) {
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) => panic!("read: {e}"),
        }
    }
    out
}

fn all_bytes() -> Vec<u8> {
    (0..=255u8).chain((0..=255u8).rev()).collect()
}

#[test]
fn memory_pair_carries_bytes_times_out_and_disconnects() {
    // Threads on the wall clock: never beside a test that has the machine to itself.
    let _g = shared();
    let (mut a, mut b) = MemoryTransport::pair();
    a.write_all(&all_bytes(), Duration::from_millis(10))
        .expect("write");
    assert_eq!(read_n(&mut b, 512, Duration::from_secs(1)), all_bytes());
    let t0 = Instant::now();
    let mut buf = [0u8; 8];
    assert_eq!(
        b.read(&mut buf, Duration::from_millis(30)).expect("read"),
        0
    );
    assert!(t0.elapsed() >= Duration::from_millis(25));
    drop(a);
    assert!(matches!(
        b.read(&mut buf, Duration::from_millis(30)),
        Err(TransportError::Disconnected(_))
    ));
}

#[test]
fn pty_and_serial_carry_every_byte_value_both_ways() {
    // Threads on the wall clock: never beside a test that has the machine to itself.
    let _g = shared();
    let mut master = PtyTransport::open().expect("pty");
    let mut client = SerialTransport::open(master.slave_path(), 1_000_000).expect("open slave");
    client
        .write_all(&all_bytes(), Duration::from_millis(200))
        .expect("client write");
    assert_eq!(
        read_n(&mut master, 512, Duration::from_secs(2)),
        all_bytes(),
        "raw mode must pass every byte"
    );
    master
        .write_all(&all_bytes(), Duration::from_millis(200))
        .expect("master write");
    assert_eq!(
        read_n(&mut client, 512, Duration::from_secs(2)),
        all_bytes()
    );
}

#[test]
fn pty_reads_time_out_without_data() {
    // Threads on the wall clock: never beside a test that has the machine to itself.
    let _g = shared();
    let mut master = PtyTransport::open().expect("pty");
    let mut client = SerialTransport::open(master.slave_path(), 1_000_000).expect("open slave");
    let mut buf = [0u8; 16];
    for t in [&mut master as &mut dyn Transport, &mut client] {
        let t0 = Instant::now();
        assert_eq!(
            t.read(&mut buf, Duration::from_millis(50)).expect("read"),
            0
        );
        let e = t0.elapsed();
        assert!(
            e >= Duration::from_millis(45) && e < Duration::from_millis(500),
            "{e:?}"
        );
    }
}

#[test]
fn closing_the_pty_is_a_pulled_cable_for_the_client() {
    // Threads on the wall clock: never beside a test that has the machine to itself.
    let _g = shared();
    let master = PtyTransport::open().expect("pty");
    let mut client = SerialTransport::open(master.slave_path(), 1_000_000).expect("open slave");
    drop(master);
    let mut buf = [0u8; 16];
    let t0 = Instant::now();
    let r = client.read(&mut buf, Duration::from_millis(200));
    assert!(t0.elapsed() < Duration::from_millis(500));
    assert!(matches!(r, Err(TransportError::Disconnected(_))), "{r:?}");
}

#[test]
fn opening_a_missing_device_is_an_error_not_a_panic() {
    // Threads on the wall clock: never beside a test that has the machine to itself.
    let _g = shared();
    let r = SerialTransport::open("/dev/armhil-no-such-port", 1_000_000);
    assert!(r.is_err());
}
