//! Property tests: the scene and URDF parsers never panic, whatever the bytes.

use std::path::Path;

use proptest::prelude::*;

use armhil::scene::Scene;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn scene_parser_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = Scene::from_ron_str(Path::new("fuzz.ron"), &text);
    }

    #[test]
    fn scene_parser_never_panics_on_mutated_scenes(cut in 0usize..6000, insert in "[ -~]{0,12}") {
        let base = include_str!("../../scenes/arm6.ron");
        let mut cut = cut.min(base.len());
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        let text = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
        let _ = Scene::from_ron_str(Path::new("fuzz.ron"), &text);
    }

    #[test]
    fn urdf_parser_never_panics(cut in 0usize..20000, insert in "[ -~]{0,16}") {
        let base = std::fs::read_to_string(crate::common::so101_urdf()).expect("the SO-101 URDF is readable");
        let mut cut = cut.min(base.len());
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        let text = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
        let _ = armhil::scene::urdf::parse(Path::new("fuzz.urdf"), &text);
    }
}
