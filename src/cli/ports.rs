//! `armhil ports`: the serial ports on this machine.
use std::process::ExitCode;

pub(super) fn cmd_ports() -> anyhow::Result<ExitCode> {
    let ports = armhil::hardware::transport::serial::list_ports()?;
    if ports.is_empty() {
        println!("no serial ports found");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<24} {:<9} {:<10} description", "path", "type", "vid:pid");
    for p in ports {
        let ids = p
            .usb
            .map(|(v, d)| format!("{v:04x}:{d:04x}"))
            .unwrap_or_else(|| "-".into());
        let desc = [
            p.manufacturer,
            p.product,
            p.serial_number.map(|s| format!("s/n {s}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        println!("{:<24} {:<9} {:<10} {}", p.path, p.kind, ids, desc);
    }
    Ok(ExitCode::SUCCESS)
}
