//! Link geometry for the 3D view: the URDF's STL meshes when the link has any, else
//! the scene's simple shape. STL files are untrusted input: a file that cannot be read
//! or parsed is an error naming it (the link then shows its shape, or nothing).

use std::path::Path;

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, Mesh, PrimitiveTopology};
use bevy::prelude::*;

use crate::scene::ShapeSpec;

pub use crate::scene::mesh::MeshError;

/// Reads a binary or ASCII STL file into a flat-shaded triangle mesh, scaled.
pub fn load_stl(path: &Path, scale: [f64; 3]) -> Result<Mesh, MeshError> {
    let tris = crate::scene::mesh::read_stl(path, scale)?;
    let mut positions: Vec<[f32; 3]> = Vec::with_capacity(tris.len() * 3);
    let mut normals: Vec<[f32; 3]> = Vec::with_capacity(tris.len() * 3);
    for c in tris {
        // The file's normals are often zero or stale: use the winding's.
        let a = Vec3::from(c[0]);
        let n = (Vec3::from(c[1]) - a).cross(Vec3::from(c[2]) - a);
        let n = n.try_normalize().unwrap_or(Vec3::Z).to_array();
        for p in c {
            positions.push(p);
            normals.push(n);
        }
    }
    let count = positions.len() as u32;
    Ok(Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::default(),
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, positions)
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
    .with_inserted_indices(Indices::U32((0..count).collect())))
}

/// A scene shape as a mesh, its long axis along z as in the scene (bevy's round
/// primitives stand along y; the returned rotation turns them).
pub fn shape(s: &ShapeSpec) -> (Mesh, Quat) {
    let to_z = Quat::from_rotation_x(std::f32::consts::FRAC_PI_2);
    match *s {
        ShapeSpec::Box { size } => (
            Mesh::from(Cuboid::new(size[0] as f32, size[1] as f32, size[2] as f32)),
            Quat::IDENTITY,
        ),
        ShapeSpec::Cylinder { radius, length } => (
            Mesh::from(Cylinder::new(radius as f32, length as f32)),
            to_z,
        ),
        ShapeSpec::Capsule { radius, length } => (
            Mesh::from(Capsule3d::new(radius as f32, length as f32)),
            to_z,
        ),
        ShapeSpec::Sphere { radius } => (Mesh::from(Sphere::new(radius as f32)), Quat::IDENTITY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn so101_meshes_load_and_garbage_is_an_error_naming_the_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models/so101/assets");
        let m = load_stl(&dir.join("base_so101_v2.stl"), [1.0; 3]).expect("load");
        assert!(m.count_vertices() > 300, "{}", m.count_vertices());
        let tmp = std::env::temp_dir().join(format!("armhil-bad-{}.stl", std::process::id()));
        std::fs::write(&tmp, b"solid x\nfacet garbage\n").expect("write");
        let e = load_stl(&tmp, [1.0; 3]).expect_err("garbage");
        assert!(matches!(e, MeshError::Parse { .. }), "{e}");
        assert!(e.to_string().contains("armhil-bad-"), "{e}");
        let _ = std::fs::remove_file(&tmp);
        let e = load_stl(Path::new("/nonexistent/x.stl"), [1.0; 3]).expect_err("missing");
        assert!(matches!(e, MeshError::Open { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/x.stl"), "{e}");
    }
}
