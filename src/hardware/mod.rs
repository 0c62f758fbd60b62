//! Hardware: the wire protocols of serial bus servos (Dynamixel Protocol 2.0 and
//! Feetech STS), both host and device side. Transports, the virtual servo, the
//! serial bridge and the served bus (`armhil serve`) build on these codecs.

pub mod bridge;
pub mod mitm;
pub mod protocol;
pub mod served;
pub mod spec;
pub mod transport;
pub mod virtual_port;
pub mod virtual_servo;
