//! STL meshes a scene names, read once: as triangles (for the 3D view) and as the
//! convex hull a link collides as when the scene has a `world`. STL files are
//! untrusted input: binary or ASCII, any bytes; a file that cannot be read, parsed or
//! hulled is an error naming it. Hulls are cached for the life of the process, keyed
//! by file, modification time and scale, so a batch of runs reads each file once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

/// An STL file that could not be used, named.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MeshError {
    #[error("{}: {message}", .path.display())]
    Open { path: PathBuf, message: String },
    #[error("{}: not a readable STL file: {message}", .path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: no triangles", .path.display())]
    Empty { path: PathBuf },
    #[error("{}: its points span no volume, so it has no convex hull", .path.display())]
    Flat { path: PathBuf },
}

/// A triangle's three corners, m.
pub type Triangle = [[f32; 3]; 3];

/// Reads a binary or ASCII STL file, each vertex scaled per axis.
pub fn read_stl(path: &Path, scale: [f64; 3]) -> Result<Vec<Triangle>, MeshError> {
    let mut f = std::fs::File::open(path).map_err(|e| MeshError::Open {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let m = stl_io::read_stl(&mut f).map_err(|e| MeshError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let s = scale.map(|v| v as f32);
    let corner = |k: usize| {
        m.vertices
            .get(k)
            .map(|v| [v.0[0] * s[0], v.0[1] * s[1], v.0[2] * s[2]])
    };
    let tris: Vec<Triangle> = m
        .faces
        .iter()
        .filter_map(|f| {
            Some([
                corner(f.vertices[0])?,
                corner(f.vertices[1])?,
                corner(f.vertices[2])?,
            ])
        })
        .filter(|t| t.iter().flatten().all(|v| v.is_finite()))
        .collect();
    if tris.is_empty() {
        return Err(MeshError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(tris)
}

/// Vertices of the convex hull of an STL file's points (scaled), from the cache when
/// the file has not changed.
pub fn hull(path: &Path, scale: [f64; 3]) -> Result<Arc<Vec<[f32; 3]>>, MeshError> {
    type Key = (PathBuf, Option<SystemTime>, [u64; 3]);
    type Hulls = Mutex<HashMap<Key, Arc<Vec<[f32; 3]>>>>;
    static CACHE: OnceLock<Hulls> = OnceLock::new();
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let key = (path.to_path_buf(), modified, scale.map(f64::to_bits));
    let cache = CACHE.get_or_init(Default::default);
    if let Some(h) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(h.clone());
    }
    let tris = read_stl(path, scale)?;
    let points: Vec<rapier3d::math::Vector> = tris
        .iter()
        .flatten()
        .map(|p| rapier3d::math::Vector::new(p[0], p[1], p[2]))
        .collect();
    let flat = || MeshError::Flat {
        path: path.to_path_buf(),
    };
    // The hull of degenerate input may panic inside the geometry library: any file
    // is refused with an error instead.
    let (vertices, _) =
        std::panic::catch_unwind(|| rapier3d::parry::transformation::convex_hull(&points))
            .map_err(|_| flat())?;
    if vertices.len() < 4 {
        return Err(flat());
    }
    let h = Arc::new(vertices.iter().map(|v| [v.x, v.y, v.z]).collect::<Vec<_>>());
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, h.clone());
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ascii_tetrahedron(dir: &Path) -> PathBuf {
        let p = dir.join("t.stl");
        let tri = |a: [f32; 3], b: [f32; 3], c: [f32; 3]| {
            format!(
                "facet normal 0 0 0\nouter loop\nvertex {} {} {}\nvertex {} {} {}\nvertex {} {} {}\nendloop\nendfacet\n",
                a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2]
            )
        };
        let (o, x, y, z) = ([0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]);
        let text = format!(
            "solid t\n{}{}{}{}endsolid t\n",
            tri(o, y, x),
            tri(o, x, z),
            tri(o, z, y),
            tri(x, y, z)
        );
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn a_hull_is_the_scaled_corners_and_bad_files_are_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = ascii_tetrahedron(dir.path());
        let mut h = hull(&p, [2.0, 3.0, 0.5]).expect("hull").to_vec();
        h.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
        assert_eq!(
            h,
            vec![[0.0; 3], [0.0, 0.0, 0.5], [0.0, 3.0, 0.0], [2.0, 0.0, 0.0]]
        );
        let junk = dir.path().join("junk.stl");
        std::fs::write(&junk, b"\x00\x01not an stl").expect("write");
        let e = hull(&junk, [1.0; 3]).expect_err("junk");
        assert!(e.to_string().contains("junk.stl"), "{e}");
        let e = hull(&dir.path().join("missing.stl"), [1.0; 3]).expect_err("missing");
        assert!(e.to_string().contains("missing.stl"), "{e}");
    }
}
