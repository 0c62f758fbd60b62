//! `armhil virtual-servo`: emulated servos on a pseudo-terminal, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::{BadInput, ctrl_c, probability};

#[derive(clap::Args)]
pub(super) struct VirtualServoArgs {
    /// Servo family: sts (Feetech STS3215) or dxl (Dynamixel XM430, Protocol 2.0).
    #[arg(long, value_parser = ["sts", "dxl"])]
    protocol: String,
    /// Servo IDs: a range `1-6`, a list `1,3,5`, or both `1-3,7`.
    #[arg(long, default_value = "1")]
    ids: String,
    /// Modelled line rate, bit/s (default: 1000000 for sts, 57600 for dxl).
    #[arg(long, value_parser = clap::value_parser!(u32).range(9_600..=10_500_000))]
    baud: Option<u32>,
    /// Also make PATH a symlink to the pty device (removed on exit).
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,
    /// Serve over TCP instead of a pty, as a serial server would: `tcp://ADDR:PORT`
    /// (port 0 picks a free one; the address is printed). One client at a time; the
    /// next is accepted when it leaves.
    #[arg(long, value_name = "tcp://ADDR:PORT", conflicts_with = "link")]
    listen: Option<String>,
    /// Fault injection: probability that a reply has a corrupted byte (0..=1).
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    corrupt: f64,
    /// Fault injection: probability that a reply is not sent (0..=1).
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    drop: f64,
    /// Fault injection: extra latency before every reply, µs (0..=1000000).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    latency_us: u64,
    /// Seed of the fault injection draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Parses `1-6`, `1,3,5` or `1-3,7` into IDs within `0..=max`.
fn parse_ids(spec: &str, max: u8) -> Result<Vec<u8>, BadInput> {
    let bad = |why: String| {
        BadInput(format!(
            "--ids {spec:?}: {why}; expected IDs 0 ..= {max} as `1-6`, `1,3,5` or `1-3,7`"
        ))
    };
    let mut ids = Vec::new();
    for part in spec.split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u16 = a
            .trim()
            .parse()
            .map_err(|_| bad(format!("{a:?} is not a number")))?;
        let b: u16 = b
            .trim()
            .parse()
            .map_err(|_| bad(format!("{b:?} is not a number")))?;
        if a > b || b > max as u16 {
            return Err(bad(format!("{part:?} is out of range")));
        }
        for id in a..=b {
            if ids.contains(&(id as u8)) {
                return Err(bad(format!("ID {id} is listed twice")));
            }
            ids.push(id as u8);
        }
    }
    Ok(ids)
}

pub(super) fn cmd_virtual_servo(a: VirtualServoArgs) -> anyhow::Result<ExitCode> {
    use armhil::hardware::transport::pty::PtyTransport;
    use armhil::hardware::virtual_servo::{VirtualBus, serve, table::Protocol};
    let (protocol, max_id, default_baud) = match a.protocol.as_str() {
        "dxl" => (Protocol::Dxl, 252, 57_600),
        _ => (Protocol::Sts, 253, 1_000_000),
    };
    let ids = parse_ids(&a.ids, max_id)?;
    let baud = a.baud.unwrap_or(default_baud);
    let listener = match &a.listen {
        None => None,
        Some(l) => {
            let addr = l
                .strip_prefix("tcp://")
                .ok_or_else(|| BadInput(format!("--listen {l:?}: expected tcp://ADDR:PORT")))?;
            let listener = std::net::TcpListener::bind(addr)
                .map_err(|e| BadInput(format!("--listen {l:?}: cannot listen: {e}")))?;
            Some(listener)
        }
    };
    let mut pty = match listener {
        Some(_) => None,
        None => Some(PtyTransport::open().context("creating the pseudo-terminal")?),
    };
    let path = match (&listener, &pty) {
        (Some(l), _) => format!("tcp://{}", l.local_addr()?),
        (None, p) => p
            .as_ref()
            .map(|p| p.slave_path().to_string())
            .unwrap_or_default(),
    };
    if let Some(link) = &a.link {
        if link.symlink_metadata().is_ok() {
            return Err(BadInput(format!("--link {}: already exists", link.display())).into());
        }
        std::os::unix::fs::symlink(&path, link)
            .with_context(|| format!("--link {}", link.display()))?;
    }
    let stop = ctrl_c();
    println!("{path}");
    eprintln!(
        "armhil virtual-servo: {} servo(s) {:?} ({}) at {baud} bit/s on {path}{}; Ctrl-C to stop",
        ids.len(),
        ids,
        a.protocol,
        a.link
            .as_ref()
            .map(|l| format!(" (link {})", l.display()))
            .unwrap_or_default()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let mut bus = VirtualBus::new(protocol, &ids, baud);
    bus.impair(armhil::hardware::virtual_servo::Impairments {
        corrupt: a.corrupt,
        drop: a.drop,
        latency: Duration::from_micros(a.latency_us),
        seed: a.seed,
    });
    let clock = armhil::sys::clock::WallClock::new();
    let result = match (&listener, pty.as_mut()) {
        (Some(l), _) => serve_tcp(&mut bus, l, &stop, &clock),
        (None, Some(p)) => serve(&mut bus, p, &stop, &clock),
        (None, None) => Ok(()),
    };
    if let Some(link) = &a.link {
        let _ = std::fs::remove_file(link);
    }
    eprintln!(
        "armhil virtual-servo: {} requests, {} replies ({} corrupted, {} dropped), {} checksum errors, {} garbage bytes",
        bus.stats.frames,
        bus.stats.replies,
        bus.stats.corrupted,
        bus.stats.dropped,
        bus.stats.checksum_errors,
        bus.stats.garbage_bytes
    );
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Serves `bus` to one TCP client at a time until `stop`: a client that leaves (or
/// whose connection breaks) is followed by the next.
fn serve_tcp(
    bus: &mut armhil::hardware::virtual_servo::VirtualBus,
    listener: &std::net::TcpListener,
    stop: &std::sync::atomic::AtomicBool,
    clock: &dyn armhil::sys::clock::Clock,
) -> Result<(), armhil::hardware::transport::TransportError> {
    use armhil::hardware::transport::{TransportError, tcp::TcpTransport};
    use std::sync::atomic::Ordering;
    let io = |source: std::io::Error| TransportError::Io {
        name: "--listen".into(),
        source,
    };
    listener.set_nonblocking(true).map_err(io)?;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                stream.set_nonblocking(false).map_err(io)?;
                let mut t = TcpTransport::accepted(stream, &format!("tcp client {peer}"))?;
                eprintln!("armhil virtual-servo: client {peer}");
                match armhil::hardware::virtual_servo::serve(bus, &mut t, stop, clock) {
                    Ok(()) => {}
                    Err(e) => eprintln!("armhil virtual-servo: {e}; waiting for the next client"),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(io(e)),
        }
    }
    Ok(())
}
