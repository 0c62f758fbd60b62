//! Port names, as scenes, `--swap`, `serve --proxy` and `bench-bus` write them: a
//! local device path (`/dev/ttyUSB0`), `tcp://HOST:PORT` (raw TCP: ser2net's raw
//! mode, socat) or `rfc2217://HOST:PORT` (RFC 2217). Data with a range check, so the
//! scene validates a name before anything opens it.

/// What a port name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortName<'a> {
    Device(&'a str),
    Tcp(&'a str),
    Rfc2217(&'a str),
}

/// Reads a port name; a `tcp://` or `rfc2217://` one must be `HOST:PORT`.
pub fn parse(name: &str) -> Result<PortName<'_>, String> {
    let remote = |addr: &str| -> Result<(), String> {
        let ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{name:?}: expected HOST:PORT after the scheme (port 1 ..= 65535)"
            ))
        }
    };
    if let Some(a) = name.strip_prefix("tcp://") {
        remote(a)?;
        Ok(PortName::Tcp(a))
    } else if let Some(a) = name.strip_prefix("rfc2217://") {
        remote(a)?;
        Ok(PortName::Rfc2217(a))
    } else if name.contains("://") {
        Err(format!(
            "{name:?}: unknown scheme: expected a device path, tcp://HOST:PORT or rfc2217://HOST:PORT"
        ))
    } else if name.is_empty() {
        Err("must name a device path, tcp://HOST:PORT or rfc2217://HOST:PORT".into())
    } else {
        Ok(PortName::Device(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_and_bad_ones_refused() {
        assert_eq!(parse("/dev/ttyUSB0"), Ok(PortName::Device("/dev/ttyUSB0")));
        assert_eq!(
            parse("tcp://127.0.0.1:3333"),
            Ok(PortName::Tcp("127.0.0.1:3333"))
        );
        assert_eq!(
            parse("rfc2217://bench:4000"),
            Ok(PortName::Rfc2217("bench:4000"))
        );
        for bad in [
            "tcp://host",
            "tcp://:80",
            "rfc2217://h:0",
            "tcp://h:99999",
            "udp://h:1",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
