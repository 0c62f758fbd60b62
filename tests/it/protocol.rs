//! Property tests of the servo protocol codecs: arbitrary bytes never panic a decoder
//! and never grow its buffer past its bound; encode → decode round trips, also with
//! garbage before the frame and input split at any point.

use proptest::prelude::*;

use armhil::hardware::protocol::{dxl, sts};

fn drain_dxl(d: &mut dxl::Decoder) -> Vec<dxl::Frame> {
    let mut out = Vec::new();
    while let Some(r) = d.next_frame() {
        if let Ok(f) = r {
            out.push(f);
        }
    }
    out
}

fn drain_sts(d: &mut sts::Decoder) -> Vec<sts::Frame> {
    let mut out = Vec::new();
    while let Some(r) = d.next_frame() {
        if let Ok(f) = r {
            out.push(f);
        }
    }
    out
}

fn dxl_instruction() -> impl Strategy<Value = dxl::Instruction> {
    let data = proptest::collection::vec(prop_oneof![Just(0xFFu8), Just(0xFD), any::<u8>()], 0..40);
    prop_oneof![
        Just(dxl::Instruction::Ping),
        (any::<u16>(), any::<u16>()).prop_map(|(addr, len)| dxl::Instruction::Read { addr, len }),
        (any::<u16>(), data.clone())
            .prop_map(|(addr, data)| dxl::Instruction::Write { addr, data }),
        (
            any::<u16>(),
            1u16..8,
            proptest::collection::vec(0u8..253, 0..8)
        )
            .prop_map(|(addr, len, ids)| {
                dxl::Instruction::SyncWrite {
                    addr,
                    len,
                    data: ids.iter().map(|i| (*i, vec![0xFF; len as usize])).collect(),
                }
            }),
        (
            any::<u16>(),
            any::<u16>(),
            proptest::collection::vec(0u8..253, 0..10)
        )
            .prop_map(|(addr, len, ids)| dxl::Instruction::FastSyncRead { addr, len, ids }),
        proptest::collection::vec((0u8..253, any::<u16>(), data), 0..4)
            .prop_map(|writes| dxl::Instruction::BulkWrite { writes }),
    ]
}

fn sts_instruction() -> impl Strategy<Value = sts::Instruction> {
    let data = proptest::collection::vec(any::<u8>(), 0..30);
    prop_oneof![
        Just(sts::Instruction::Ping),
        (any::<u8>(), any::<u8>()).prop_map(|(addr, len)| sts::Instruction::Read { addr, len }),
        (any::<u8>(), data).prop_map(|(addr, data)| sts::Instruction::Write { addr, data }),
        (
            any::<u8>(),
            1u8..6,
            proptest::collection::vec(0u8..253, 0..8)
        )
            .prop_map(|(addr, len, ids)| {
                sts::Instruction::SyncWrite {
                    addr,
                    len,
                    data: ids.iter().map(|i| (*i, vec![0xFF; len as usize])).collect(),
                }
            }),
        (
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(0u8..253, 0..10)
        )
            .prop_map(|(addr, len, ids)| sts::Instruction::SyncRead { addr, len, ids }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn dxl_decoder_survives_any_bytes(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
        let mut d = dxl::Decoder::new();
        for c in &chunks {
            d.push(c);
            prop_assert!(d.buffered() <= 2 * dxl::MAX_PACKET);
            for f in drain_dxl(&mut d) {
                let _ = dxl::Instruction::from_frame(&f);
                let _ = dxl::Status::from_frame(&f);
                let _ = dxl::parse_fast_sync_reply(&f, 4);
            }
        }
    }

    #[test]
    fn sts_decoder_survives_any_bytes(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
        let mut d = sts::Decoder::new();
        for c in &chunks {
            d.push(c);
            prop_assert!(d.buffered() <= 2 * sts::MAX_PACKET);
            for f in drain_sts(&mut d) {
                let _ = sts::Instruction::from_frame(&f);
                let _ = sts::Status::from_frame(&f);
            }
        }
    }

    #[test]
    fn dxl_round_trips_through_garbage_and_splits(i in dxl_instruction(), id in 0u8..=254,
            garbage in proptest::collection::vec(0u8..0xFF, 0..20), split in 0usize..200) {
        let bytes = match i.encode(id) { Ok(b) => b, Err(_) => return Ok(()) };
        let mut d = dxl::Decoder::new();
        let mut all = garbage.clone();
        all.extend_from_slice(&bytes);
        let split = split.min(all.len());
        d.push(&all[..split]);
        let mut frames = drain_dxl(&mut d);
        d.push(&all[split..]);
        frames.extend(drain_dxl(&mut d));
        prop_assert_eq!(frames.len(), 1);
        prop_assert_eq!(frames[0].id, id);
        prop_assert_eq!(dxl::Instruction::from_frame(&frames[0]), Ok(i));
    }

    #[test]
    fn sts_round_trips_through_garbage_and_splits(i in sts_instruction(), id in 0u8..=254,
            garbage in proptest::collection::vec(0u8..0xFF, 0..20), split in 0usize..100) {
        let bytes = match i.encode(id) { Ok(b) => b, Err(_) => return Ok(()) };
        let mut d = sts::Decoder::new();
        let mut all = garbage.clone();
        all.extend_from_slice(&bytes);
        let split = split.min(all.len());
        d.push(&all[..split]);
        let mut frames = drain_sts(&mut d);
        d.push(&all[split..]);
        frames.extend(drain_sts(&mut d));
        prop_assert_eq!(frames.len(), 1);
        prop_assert_eq!(frames[0].id, id);
        prop_assert_eq!(sts::Instruction::from_frame(&frames[0]), Ok(i));
    }

    #[test]
    fn dxl_status_round_trips(id in 0u8..=252, error in any::<u8>(), params in proptest::collection::vec(any::<u8>(), 0..60)) {
        let s = dxl::Status { id, error, params };
        let mut d = dxl::Decoder::new();
        d.push(&s.encode().expect("fits"));
        let f = drain_dxl(&mut d);
        prop_assert_eq!(f.len(), 1);
        prop_assert_eq!(dxl::Status::from_frame(&f[0]), Ok(s));
    }

    #[test]
    fn fast_sync_reply_round_trips(blocks in proptest::collection::vec((any::<u8>(), 0u8..253, proptest::collection::vec(any::<u8>(), 4)), 1..8)) {
        let blocks: Vec<_> = blocks.into_iter().map(|(error, id, data)| dxl::FastBlock { error, id, data }).collect();
        let mut d = dxl::Decoder::new();
        d.push(&dxl::encode_fast_sync_reply(&blocks).expect("fits"));
        let f = drain_dxl(&mut d);
        prop_assert_eq!(f.len(), 1);
        prop_assert_eq!(dxl::parse_fast_sync_reply(&f[0], 4), Ok(blocks));
    }
}
