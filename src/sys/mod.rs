//! The base layer's system services: clocks (time is an input everywhere above),
//! real-time scheduling, and seeding of random streams. Nothing here knows about arms,
//! scenes or runs; every other module may use it.

pub mod clock;
pub mod latest;
pub mod priority;
pub mod seed;
