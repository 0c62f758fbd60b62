//! The world the arm touches (scene `world`), checked against closed-form answers:
//! a cube at rest on the ground, a block on an incline (by tilting gravity), a
//! pendulum stopped by an obstacle, and a folding arm stopped by its own links.

use crate::common::*;
use armhil::physics::{ArmWorld, Toucher};

/// The common pendulum with `world` spliced in (and `physics` when given).
fn pendulum_world(initial: f64, world: &str, physics: &str) -> ArmWorld {
    let text = pendulum(
        initial,
        PD_DRIVE,
        &format!("world: {world},\n    physics: ({physics}),"),
    );
    ArmWorld::new(&parse(&text).unwrap_or_else(|e| panic!("{e}")))
}

/// Steps `w` for `secs` with no drive torque, calling `each` after every step.
fn run(w: &mut ArmWorld, secs: f64, mut each: impl FnMut(&ArmWorld)) {
    let n = (secs / w.dt()).round() as usize;
    for _ in 0..n {
        w.clear_torques();
        w.step();
        each(w);
    }
}

#[test]
fn a_dropped_cube_comes_to_rest_at_half_its_size_above_the_ground() {
    let _g = shared();
    let mut w = pendulum_world(
        0.0,
        r#"(ground: Some(z: 0.0, friction: 0.8), objects: [
            (name: "cube", shape: Box(size: (0.03, 0.03, 0.03)), pose: (xyz: (0.5, 0.2, 0.1)), mass_kg: 0.03),
        ])"#,
        "",
    );
    let mut landed = false;
    run(&mut w, 2.0, |w| {
        landed |= w
            .touches()
            .iter()
            .any(|t| (t.a, t.b) == (Toucher::Object(0), Toucher::Ground));
    });
    assert!(landed, "the cube touched the ground");
    // At rest it stays put: nothing creeps over two more seconds.
    let (settled, _) = w.object_poses()[0];
    run(&mut w, 2.0, |_| {});
    let (p, _) = w.object_poses()[0];
    for k in 0..3 {
        assert!(
            (p[k] - settled[k]).abs() < 1e-5,
            "crept {settled:?} -> {p:?}"
        );
    }
    assert!((p[2] - 0.015).abs() <= 0.001, "at rest at z = {}", p[2]);
    assert!(
        (p[0] - 0.5).abs() <= 0.001 && (p[1] - 0.2).abs() <= 0.001,
        "no drift: {p:?}"
    );
    let v = w.object_velocity(0);
    assert!(v.iter().all(|c| c.abs() < 1e-3), "at rest: {v:?}");
    // Resting, it presses on the ground with its weight.
    let t = w
        .touches()
        .iter()
        .find(|t| t.b == Toucher::Ground)
        .expect("resting");
    assert!((t.force_n - 0.03 * 9.81).abs() < 0.03, "{} N", t.force_n);
}

/// A block on the ground under gravity tilted by `deg` (an incline of that angle,
/// exactly), friction `mu` on both surfaces: how far it moves down the slope in 1 s.
fn slide(deg: f64, mu: f64) -> f64 {
    let (s, c) = deg.to_radians().sin_cos();
    let mut w = pendulum_world(
        0.0,
        &format!(
            r#"(ground: Some(z: 0.0, friction: {mu}), objects: [
            (name: "block", shape: Box(size: (0.04, 0.04, 0.02)), pose: (xyz: (0.5, 0.0, 0.01)),
             mass_kg: 0.1, friction: {mu}),
        ])"#
        ),
        &format!("gravity: ({}, 0.0, {})", 9.81 * s, -9.81 * c),
    );
    run(&mut w, 1.0, |_| {});
    w.object_poses()[0].0[0] as f64 - 0.5
}

#[test]
fn a_block_on_an_incline_slides_exactly_when_the_slope_beats_friction() {
    let _g = shared();
    let mu: f64 = 0.5; // tan⁻¹ 0.5 = 26.6°
    for deg in [15.0, 24.0] {
        let d = slide(deg, mu);
        assert!(
            d.abs() < 1e-3,
            "{deg}°: tan {:.3} < µ, yet it moved {d} m",
            deg.to_radians().tan()
        );
    }
    for deg in [29.0, 40.0] {
        let d = slide(deg, mu);
        let (s, c) = f64::to_radians(deg).sin_cos();
        // From rest: x = ½ g (sin θ − µ cos θ) t².
        let expect = 0.5 * 9.81 * (s - mu * c);
        assert!(
            (d - expect).abs() <= 0.05 * expect,
            "{deg}°: slid {d:.4} m, closed form {expect:.4} m"
        );
    }
}

#[test]
fn a_pendulum_falling_onto_an_obstacle_stops_on_it_without_tunnelling() {
    let _g = shared();
    // The pendulum (a 0.3 m × 0.03 m link, hinge at z = 0.1) falls from 0.3 rad
    // toward +x; a fixed table's top at z = 0.085 meets the link's underside when
    // it is exactly horizontal, q = π/2. The tip arrives at ~2.5 m/s: 2.5 mm a step.
    let mut w = pendulum_world(
        0.3,
        r#"(objects: [
            (name: "table", shape: Box(size: (0.54, 0.2, 0.085)), pose: (xyz: (0.33, 0.0, 0.0425)), fixed: true),
        ])"#,
        "",
    );
    let mut q_max: f64 = 0.0;
    let mut depth_max: f64 = 0.0;
    let mut hit = false;
    run(&mut w, 1.5, |w| {
        q_max = q_max.max(w.joint_state(0).pos);
        for t in w.touches() {
            hit |= (t.a, t.b) == (Toucher::Link(1), Toucher::Object(0));
            depth_max = depth_max.max(t.depth_m);
        }
    });
    let half_pi = std::f64::consts::FRAC_PI_2;
    assert!(hit, "the link touched the table");
    // Never more than 2 mm into the table at the tip (0.3 m out).
    assert!(q_max <= half_pi + 0.002 / 0.3, "q reached {q_max}");
    assert!(depth_max <= 0.002, "{depth_max} m deep");
    let q = w.joint_state(0).pos;
    assert!((q - half_pi).abs() <= 0.002 / 0.3, "rests at {q}, not π/2");
    assert!(w.joint_state(0).vel.abs() < 1e-3);
}

/// A folding arm: a post fixed on the base, a spacer on its top, and an arm hinged
/// at the spacer's end (x = 0.1, z = 0.45) hanging down beside the post. Folding it
/// (q > 0) swings its lower end toward the post. Returns (max q, max depth).
fn fold(self_collision: bool) -> (f64, f64) {
    let text = format!(
        r#"(
    seed: 1, duration_s: 1.0,
    arm: Inline(base: "base", links: [
        (name: "base", mass_kg: 1.0, shape: Box(size: (0.1, 0.1, 0.1))),
        (name: "post", mass_kg: 0.5, com: (0, 0, 0.15), shape: Box(size: (0.03, 0.03, 0.3)), shape_origin: (xyz: (0, 0, 0.15))),
        (name: "spacer", mass_kg: 0.1, com: (0.05, 0, 0), shape: Box(size: (0.1, 0.03, 0.02)), shape_origin: (xyz: (0.05, 0, 0))),
        (name: "arm", mass_kg: 0.3, com: (0, 0, -0.1), shape: Box(size: (0.03, 0.03, 0.2)), shape_origin: (xyz: (0, 0, -0.1))),
    ], joints: [
        (name: "mount", kind: Fixed, parent: "base", child: "post", origin: (xyz: (0, 0, 0.1))),
        (name: "top", kind: Fixed, parent: "post", child: "spacer", origin: (xyz: (0, 0, 0.33))),
        (name: "fold", kind: Revolute, parent: "spacer", child: "arm", origin: (xyz: (0.1, 0, 0.02)),
         axis: (0, 1, 0), limits: (lower: -2.5, upper: 2.5)),
    ]),
    servos: {{ "s": (gear_ratio: 100, stall_torque_nm: 5.0, no_load_speed_rad_s: 6.0, rotor_inertia_kgm2: 1e-7,
                     damping_nm_s_per_rad: 0.05, friction_nm: 0.0, encoder_ticks_per_rev: 4096) }},
    drives: {{ "fold": (servo: "s", rate_hz: 500, controller: Pid(kp: 1.0, kd: 0.0)) }},
    world: (self_collision: {self_collision}),
)"#
    );
    let mut w = ArmWorld::new(&parse(&text).unwrap_or_else(|e| panic!("{e}")));
    let (mut q_max, mut depth): (f64, f64) = (0.0, 0.0);
    for _ in 0..1000 {
        w.clear_torques();
        w.set_torque(0, 1.0);
        w.step();
        q_max = q_max.max(w.joint_state(0).pos);
        depth = w.touches().iter().fold(depth, |d, t| d.max(t.depth_m));
    }
    (q_max, depth)
}

#[test]
fn self_collision_stops_a_folding_arm_before_its_links_interpenetrate() {
    let _g = shared();
    // The arm's lower inner corner, (-0.015, -0.2) in its frame, reaches the post's
    // face (x = 0.015) when 0.1 - 0.015 cos q - 0.2 sin q = 0.015.
    let f = |q: f64| 0.1 - 0.015 * q.cos() - 0.2 * q.sin() - 0.015;
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 { lo = mid } else { hi = mid }
    }
    let q_contact = lo;
    let (q_max, depth) = fold(true);
    assert!(depth <= 0.002, "links {depth} m deep in each other");
    assert!(
        q_max <= q_contact + 0.002 / 0.2,
        "folded to {q_max}, contact at {q_contact}"
    );
    assert!(
        q_max >= q_contact - 0.002 / 0.2,
        "stopped early at {q_max}, contact at {q_contact}"
    );
    // Without self-collision the same torque folds it straight through the post.
    let (q_free, _) = fold(false);
    assert!(q_free > q_contact + 0.3, "{q_free}");
}

/// The pendulum pushed into a table beside a cube that drops onto the ground, with
/// `expect` spliced in.
fn judged(expect: &str) -> Result<armhil::scene::Scene, armhil::scene::SceneError> {
    parse(&pendulum(
        0.3,
        PD_DRIVE,
        &format!(
            r#"world: (ground: (z: -0.05), objects: [
            (name: "table", shape: Box(size: (0.54, 0.2, 0.085)), pose: (xyz: (0.33, 0.0, 0.0425)), fixed: true),
            (name: "cube", shape: Box(size: (0.03, 0.03, 0.03)), pose: (xyz: (0.3, 0.3, 0.1)), mass_kg: 0.03),
        ]),
        trajectory: [Waypoints(joints: ["pitch"], points: [(t: 0.0, q: [0.3]), (t: 0.5, q: [1.6])])],
        expect: [{expect}],"#
        ),
    ))
}

#[test]
fn world_expectations_judge_contacts_forces_and_where_objects_end() {
    let _g = shared();
    let s = judged(
        r#"NoCollision(links: Only(["base"])), MaxContactForce(link: "arm", below_n: 400),
           ObjectAt(object: "cube", xyz: (0.3, 0.3, -0.035), tol_m: 0.002),
           NoCollision(links: All), MaxContactForce(link: "arm", below_n: 1),
           ObjectAt(object: "cube", xyz: (0.3, 0.3, 0.1), tol_m: 0.01),
           Grasped(object: "cube", from_s: 1, to_s: 2)"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = armhil::runtime::run(&s, &Default::default(), &mut |_, _| {}).expect("run");
    let got: Vec<(bool, &str)> = r
        .expectations
        .iter()
        .map(|v| (v.passed, v.detail.as_str()))
        .collect();
    let passed: Vec<bool> = got.iter().map(|g| g.0).collect();
    assert_eq!(
        passed,
        [true, true, true, false, false, false, false],
        "{got:?}"
    );
    assert!(got[3].1.contains("arm (1 contacts"), "{}", got[3].1);
    assert!(
        got[3].1.contains("arm touches table at 0.450 s"),
        "{}",
        got[3].1
    );
    assert_eq!(got[6].1, "held never");
    assert!(!r.passed);
    // The cube fell 0.15 m onto the ground and rests there.
    let cube = r.objects.iter().find(|o| o.name == "cube").expect("cube");
    assert!(cube.max_contact_force_n > 0.03 * 9.81, "{cube:?}");
}

#[test]
fn world_expectations_name_what_they_judge_and_need_a_world() {
    let _g = shared();
    let e = judged(
        r#"NoCollision(links: Only(["elbow"])), ObjectAt(object: "ball", xyz: (0, 0, 0), tol_m: 0),
           Grasped(object: "cube", from_s: 2, to_s: 1)"#,
    )
    .expect_err("bad names");
    let text = e.to_string();
    for want in [
        "expect[0].links[0]: unknown link \"elbow\"",
        "expect[1].object: unknown object \"ball\"",
        "expect[1].tol_m: 0 is out of range: expected > 0 m",
        "expect[2].to_s: 1 is out of range",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
    let e = parse(&pendulum(
        0.0,
        PD_DRIVE,
        r#"expect: [NoCollision(links: All)],"#,
    ))
    .expect_err("no world");
    assert!(
        e.to_string()
            .contains("expect[0]: judges contacts, but the scene has no `world: (...)`"),
        "{e}"
    );
}

#[test]
fn the_so101_picks_a_cube_from_the_table_and_places_it_15_cm_away() {
    let _g = shared();
    let s = scene("scenes/so101_pick.ron");
    let r = armhil::runtime::run(&s, &Default::default(), &mut |_, _| {}).expect("run");
    for v in &r.expectations {
        assert!(v.passed, "{}: {}", v.expectation, v.detail);
    }
    assert!(r.passed);
    let cube = r.objects.iter().find(|o| o.name == "cube").expect("cube");
    let start = [0.1815, 0.0749];
    let moved = ((cube.final_pose.xyz[0] - start[0]).powi(2)
        + (cube.final_pose.xyz[1] - start[1]).powi(2))
    .sqrt();
    assert!((moved - 0.15).abs() < 0.01, "moved {moved} m");
    // Lifted off the table by friction alone, carried across, set down once.
    let (from, to) = cube.grasped[0];
    assert_eq!(cube.grasped.len(), 1, "{:?}", cube.grasped);
    assert!(from < 4.0 && to > 7.0, "held {from}-{to} s");
    // Held, its weight loads the arm: the lift's servo delivers more torque while
    // carrying it (5.0-6.0 s, panning across) than on the same tour with an empty jaw:
    // at most its weight times its reach from the lift's axis (0.03 kg · 9.81 ·
    // 0.13 m = 0.038 N·m), less what the joint's Coulomb friction (±0.052 N·m) holds.
    let mean_lift = |s: &armhil::scene::Scene| {
        let mut sim = armhil::runtime::Lockstep::new(s, &Default::default()).expect("lockstep");
        let k = s
            .joints
            .iter()
            .position(|j| j.name == "shoulder_lift")
            .expect("lift");
        let (mut sum, mut n) = (0.0, 0);
        while sim.steps() < 6000 && sim.step().expect("step") {
            if sim.t() > 5.0 {
                sum += sim.plant().joints()[k].delivered();
                n += 1;
            }
        }
        sum / n as f64
    };
    let mut empty = s.clone();
    if let Some(w) = empty.world.as_mut() {
        w.objects.clear();
    }
    empty.expect.clear();
    let extra = (mean_lift(&s) - mean_lift(&empty)).abs();
    assert!(
        (0.01..=0.039).contains(&extra),
        "{extra} N·m more with the cube"
    );
}

#[test]
fn a_recording_carries_object_poses_as_foxglove_frame_transforms_and_the_contacts() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("w.mcap");
    let opts = armhil::runtime::RunOptions {
        duration_s: Some(5.0),
        record: Some(armhil::telemetry::recorder::to_file(&file)),
        ..Default::default()
    };
    let r =
        armhil::runtime::run(&scene("scenes/so101_pick.ron"), &opts, &mut |_, _| {}).expect("run");
    let bytes = std::fs::read(&file).expect("read");
    let (mut tf, mut contacts) = (Vec::new(), Vec::new());
    for m in mcap::MessageStream::new(&bytes).expect("mcap") {
        let m = m.expect("message");
        let body: serde_json::Value = match m.channel.topic.as_str() {
            "/world/tf" | "/world/contacts" => serde_json::from_slice(&m.data).expect("json"),
            _ => continue,
        };
        let s = m.channel.schema.as_ref().expect("schema");
        let t = m.log_time as f64 / 1e9;
        if m.channel.topic == "/world/tf" {
            assert_eq!(
                (s.name.as_str(), s.encoding.as_str()),
                ("foxglove.FrameTransforms", "jsonschema")
            );
            tf.push((t, body));
        } else {
            assert_eq!(s.name, "armhil.Contacts");
            contacts.push((t, body));
        }
    }
    // 50 Hz over 5 s.
    assert_eq!((tf.len(), contacts.len()), (250, 250));
    let (t, last) = tf.last().expect("tf");
    assert!((t - 4.98).abs() < 1e-9, "{t}");
    let x = &last["transforms"][0];
    assert_eq!(
        (x["parent_frame_id"].as_str(), x["child_frame_id"].as_str()),
        (Some("world"), Some("cube"))
    );
    assert_eq!(x["timestamp"]["sec"], 4);
    // Held in the jaw at 4.98 s: well off the table, and the contacts say by what.
    assert!(x["translation"]["z"].as_f64().expect("z") > 0.05, "{x}");
    let (_, now) = contacts.last().expect("contacts");
    let pairs: Vec<(String, String)> = now["contacts"]
        .as_array()
        .expect("array")
        .iter()
        .map(|c| {
            (
                c["a"].as_str().unwrap_or("").into(),
                c["b"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    for want in [("gripper", "cube"), ("moving_jaw", "cube")] {
        assert!(pairs.contains(&(want.0.into(), want.1.into())), "{pairs:?}");
    }
    let chans: Vec<&str> = r
        .recording
        .as_ref()
        .expect("recording")
        .channels
        .iter()
        .map(|c| c.0.as_str())
        .collect();
    assert!(
        chans.contains(&"/world/tf") && chans.contains(&"/world/contacts"),
        "{chans:?}"
    );
    // A replay puts the cube where the recording says it was.
    let s = scene("scenes/so101_pick.ron");
    let rec = armhil::recording::read(&file).expect("read");
    assert_eq!(rec.objects.len(), 250);
    let mut replay = armhil::app::replay::Replay::new(&s, rec);
    replay.seek(4.99);
    let snap = replay.snapshot(&s);
    let z = x["translation"]["z"].as_f64().expect("z") as f32;
    assert_eq!(snap.objects.len(), 1);
    assert_eq!(snap.objects[0].0[2], z);
}

#[test]
fn a_urdf_arm_collides_as_the_convex_hulls_of_its_collision_meshes() {
    let _g = shared();
    let urdf = so101_urdf();
    let text = format!(
        r#"(
    seed: 1, duration_s: 1.0,
    arm: Urdf(path: "{}"),
    servos: {{ "s": (gear_ratio: 345.0, stall_torque_nm: 3.35, no_load_speed_rad_s: 4.8, rotor_inertia_kgm2: 2.35e-7,
                    damping_nm_s_per_rad: 0.6, friction_nm: 0.052, encoder_ticks_per_rev: 4096) }},
    default_drive: (servo: "s", rate_hz: 500, controller: Pid(kp: 30.0, ki: 30.0, kd: 0.4, gravity_compensation: true)),
    world: (ground: Some(z: 0.0), objects: [
        (name: "cube", shape: Box(size: (0.03, 0.03, 0.03)), pose: (xyz: (0.0, 0.25, 0.3)), mass_kg: 0.03),
    ]),
    expect: [NoCollision(links: All)],
)"#,
        urdf.display()
    );
    let s = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    // Every <collision> mesh of the SO-101 (17 of them) is a hull of its STL.
    let hulls: usize = s
        .arm
        .links
        .iter()
        .flat_map(|l| &l.colliders)
        .filter(|c| matches!(c.geom, armhil::physics::spec::ColliderGeom::Hull { .. }))
        .count();
    assert_eq!(hulls, 17);
    // At rest the arm touches neither itself nor the ground (the hulls of joined
    // links overlap, and are not held against each other); the cube drops beside
    // it onto the ground.
    let r = armhil::runtime::run(&s, &Default::default(), &mut |_, _| {}).expect("run");
    assert!(r.passed, "{:?}", r.expectations);
    let cube = &r.objects[0];
    assert!((cube.final_pose.xyz[2] - 0.015).abs() < 0.002, "{cube:?}");
    // A missing mesh is named, with the link, when the scene has a world.
    let bad = text.replace(&urdf.display().to_string(), "/nonexistent/robot.urdf");
    assert!(parse(&bad).is_err());
}

/// On a scene with a world, fuzz-faults draws jams too, and every invariant holds:
/// each jam that held its servo at its torque limit is detected (a stall), and a
/// strike on the world is physics, not a containment failure.
#[test]
fn fuzz_faults_on_a_world_draws_jams_and_holds_every_invariant() {
    let _g = shared();
    let out = armhil()
        .args([
            "fuzz-faults",
            "scenes/arm6_world.ron",
            "--seeds",
            "1..80",
            "--jobs",
            "1",
            "--duration",
            "5",
        ])
        .output()
        .expect("spawn");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("0 seeds with violations"), "{text}");
    let jams: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("jam "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(jams >= 10, "{jams} jams drawn in 80 seeds:\n{text}");
}
