//! Write → read → identical, for every format ulm reads.

use std::io::Write;
use std::path::Path;

use ndarray::{Array2, Array3, ArrayD, IxDyn};
use num_complex::{Complex32, Complex64};
use ulm_core::{FrameData, FrameStack, Geometry};
use ulm_io::{AxisOrder, Meta, ReadOptions, open_frames, read_frames, read_npy_f32, write_meta, write_npy};

fn geom() -> Geometry {
    Geometry::new(0.05, 0.1, -1.0, 3.0, 0.1, 500.0).unwrap()
}

fn with_meta(dir: &Path) {
    write_meta(&dir.join("meta.json"), &Meta::from_geometry(&geom())).unwrap();
}

fn real_stack(t: usize, z: usize, x: usize) -> Array3<f32> {
    Array3::from_shape_fn((t, z, x), |(a, b, c)| (a * 100 + b * 10 + c) as f32 - 0.25)
}

fn complex_stack(t: usize, z: usize, x: usize) -> Array3<Complex32> {
    Array3::from_shape_fn((t, z, x), |(a, b, c)| Complex32::new((a * 100 + b * 10 + c) as f32, -(a as f32) - 0.5))
}

/// An NPY v1 header written independently of ulm-io's writer.
fn npy_header(descr: &str, shape: &[usize], fortran: bool) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': ({}), }}",
        if fortran { "True" } else { "False" },
        dims.join(", ")
    );
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    h.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h
}

#[test]
fn npy_float32_and_complex64() {
    let dir = tempfile::tempdir().unwrap();
    with_meta(dir.path());
    let p = dir.path().join("r.npy");
    let a = real_stack(6, 4, 5);
    write_npy(&p, &a).unwrap();
    let s = read_frames(&p, &ReadOptions::default()).unwrap();
    assert_eq!(s, FrameStack::from_real(a, geom()).unwrap());

    let c = complex_stack(6, 4, 5);
    write_npy(&p, &c).unwrap();
    assert_eq!(read_frames(&p, &ReadOptions::default()).unwrap().data(), &FrameData::Complex(c));
}

#[test]
fn npy_float64_int16_complex128() {
    let dir = tempfile::tempdir().unwrap();
    with_meta(dir.path());
    let p = dir.path().join("r.npy");
    let a = real_stack(3, 4, 5);
    write_npy(&p, &a.mapv(f64::from)).unwrap();
    assert_eq!(read_frames(&p, &ReadOptions::default()).unwrap().data(), &FrameData::Real(a.clone()));
    write_npy(&p, &a.mapv(|v| v as i16)).unwrap();
    let want = a.mapv(|v| (v as i16) as f32);
    assert_eq!(read_frames(&p, &ReadOptions::default()).unwrap().data(), &FrameData::Real(want));
    let c = complex_stack(3, 4, 5);
    write_npy(&p, &c.mapv(|v| Complex64::new(v.re.into(), v.im.into()))).unwrap();
    assert_eq!(read_frames(&p, &ReadOptions::default()).unwrap().data(), &FrameData::Complex(c));
}

#[test]
fn npy_fortran_order_complex_and_real() {
    let dir = tempfile::tempdir().unwrap();
    with_meta(dir.path());
    let p = dir.path().join("f.npy");
    let c = complex_stack(4, 3, 5);
    // Column-major bytes: first index fastest.
    let mut bytes = npy_header("<c8", &[4, 3, 5], true);
    for x in 0..5 {
        for z in 0..3 {
            for t in 0..4 {
                let v = c[[t, z, x]];
                bytes.extend_from_slice(&v.re.to_le_bytes());
                bytes.extend_from_slice(&v.im.to_le_bytes());
            }
        }
    }
    std::fs::write(&p, &bytes).unwrap();
    let s = read_frames(&p, &ReadOptions::default()).unwrap();
    assert_eq!(s.data(), &FrameData::Complex(c.clone()));
    // Streaming blocks agree.
    let mut src = open_frames(&p, &ReadOptions::default()).unwrap();
    assert_eq!(src.read_block(1, 2).unwrap(), s.slice_frames(1, 2));

    // A Fortran-order [z, x, t] float32 file read with --axis-order zxt.
    let a = real_stack(4, 3, 5);
    let mut bytes = npy_header("<f4", &[3, 5, 4], true);
    for t in 0..4 {
        for x in 0..5 {
            for z in 0..3 {
                bytes.extend_from_slice(&a[[t, z, x]].to_le_bytes());
            }
        }
    }
    std::fs::write(&p, &bytes).unwrap();
    let o = ReadOptions { axis_order: AxisOrder::Zxt, ..ReadOptions::default() };
    assert_eq!(read_frames(&p, &o).unwrap().data(), &FrameData::Real(a));
}

#[test]
fn npy_maps_as_f32() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("map.npy");
    let m = Array2::from_shape_fn((7, 9), |(r, c)| r as f64 * 0.5 - c as f64);
    write_npy(&p, &m).unwrap();
    let back = read_npy_f32(&p).unwrap();
    assert_eq!(back, m.mapv(|v| v as f32).into_dyn());
    // Fortran-order 2-D map.
    let mut bytes = npy_header("<f4", &[2, 3], true);
    for v in [0.0f32, 3.0, 1.0, 4.0, 2.0, 5.0] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&p, &bytes).unwrap();
    let want = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    assert_eq!(read_npy_f32(&p).unwrap(), want);
}

#[test]
fn png_folder_in_natural_order() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    with_meta(&frames);
    let a = Array3::from_shape_fn((12, 4, 6), |(t, z, x)| (t * 20 + z * 4 + x) as u8);
    for t in 0..12 {
        let img: Array2<u8> = a.index_axis(ndarray::Axis(0), t).to_owned();
        ulm_io::write_png_gray8(&frames.join(format!("frame{t}.png")), &img).unwrap();
    }
    std::fs::write(frames.join("notes.txt"), "not a frame").unwrap();
    let s = read_frames(&frames, &ReadOptions::default()).unwrap();
    assert_eq!(s.data(), &FrameData::Real(a.mapv(f32::from)));
    let mut src = open_frames(&frames, &ReadOptions::default()).unwrap();
    assert_eq!(src.read_block(9, 10).unwrap(), s.slice_frames(9, 3));
}

#[test]
fn multipage_tiff_16_bit() {
    use tiff::encoder::{TiffEncoder, colortype::Gray16};
    let dir = tempfile::tempdir().unwrap();
    with_meta(dir.path());
    let p = dir.path().join("stack.tif");
    let a = Array3::from_shape_fn((5, 3, 7), |(t, z, x)| (t * 1000 + z * 100 + x) as u16 + 60000 - 5000);
    {
        let mut enc = TiffEncoder::new(std::fs::File::create(&p).unwrap()).unwrap();
        for t in 0..5 {
            let page: Vec<u16> = a.index_axis(ndarray::Axis(0), t).iter().copied().collect();
            enc.write_image::<Gray16>(7, 3, &page).unwrap();
        }
    }
    let s = read_frames(&p, &ReadOptions::default()).unwrap();
    assert_eq!(s.data(), &FrameData::Real(a.mapv(f32::from)));
    let mut src = open_frames(&p, &ReadOptions::default()).unwrap();
    assert_eq!(src.read_block(3, 2).unwrap(), s.slice_frames(3, 2));
}

#[test]
fn tiff_writers_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    with_meta(dir.path());
    let p = dir.path().join("maps.tiff");
    let a = real_stack(3, 5, 2).mapv(|v| v * 1e-3 - 0.1);
    ulm_io::write_tiff_f32(&p, &a).unwrap();
    assert_eq!(read_frames(&p, &ReadOptions::default()).unwrap().data(), &FrameData::Real(a));
    let b = Array3::from_shape_fn((2, 3, 4), |(t, z, x)| (t * 30000 + z * 4 + x) as u16);
    ulm_io::write_tiff_u16(&p, &b).unwrap();
    assert_eq!(read_frames(&p, &ReadOptions::default()).unwrap().data(), &FrameData::Real(b.mapv(f32::from)));
}

#[test]
fn frame_stack_writer_keeps_sidecar_extras() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Meta::from_geometry(&Geometry::new(1.0, 1.0, 0.0, 0.0, 1.0, 1.0).unwrap());
    m.extra.insert("preset".into(), "dense".into());
    write_meta(&dir.path().join("meta.json"), &m).unwrap();
    let p = dir.path().join("iq.npy");
    let s = FrameStack::from_complex(complex_stack(3, 2, 4), geom()).unwrap();
    ulm_io::write_frames_npy(&p, &s).unwrap();
    assert_eq!(read_frames(&p, &ReadOptions::default()).unwrap(), s);
    let back = ulm_io::read_meta(&dir.path().join("meta.json")).unwrap();
    assert_eq!(back.extra.get("preset").and_then(|v| v.as_str()), Some("dense"));
}

#[test]
fn meta_given_explicitly_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.npy");
    write_npy(&p, &real_stack(2, 2, 2)).unwrap();
    let e = read_frames(&p, &ReadOptions::default()).unwrap_err().to_string();
    assert!(e.contains("r.npy") && e.contains("meta.json") && e.contains("--meta"), "{e}");
    let m = dir.path().join("geometry.json");
    let mut f = std::fs::File::create(&m).unwrap();
    writeln!(
        f,
        r#"{{"frame_rate_hz": 500, "pixel_size_x_mm": 0.05, "pixel_size_z_mm": 0.1, "x0_mm": -1, "z0_mm": 3,
             "center_frequency_hz": 15.4e6, "speed_of_sound_m_s": 1540, "rows": 2}}"#
    )
    .unwrap();
    let o = ReadOptions { meta: Some(m), ..ReadOptions::default() };
    let s = read_frames(&p, &o).unwrap();
    assert!((s.geometry().wavelength_mm - 0.1).abs() < 1e-12);
}
