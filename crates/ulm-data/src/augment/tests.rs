use ulm_core::Geometry;

use super::*;

const BG: f32 = 0.2;

/// A 64 × 48 patch (valid 60 × 40) with one Gaussian blob (σ 1.5 px) at `(col, row)`.
fn blob_sample(col: f64, row: f64) -> Sample {
    let (w, h, vr, vc) = (48usize, 64usize, 60usize, 40usize);
    let mut image = vec![BG; w * h];
    for r in 0..vr {
        for c in 0..vc {
            let d2 = (c as f64 - col).powi(2) + (r as f64 - row).powi(2);
            image[r * w + c] += 0.7 * (-d2 / (2.0 * 1.5 * 1.5)).exp() as f32;
        }
    }
    refill_padding(&mut image, w, h, vr, vc);
    let geometry = Geometry::new(0.05, 0.05, -1.0, 3.0, 0.1, 1000.0).unwrap();
    let mut s = Sample {
        image,
        height: h,
        width: w,
        valid_rows: vr,
        valid_cols: vc,
        boxes: vec![],
        geometry,
        centers_mm: vec![],
    };
    s.boxes.push(patch_box(col, row, 6.0, 3.0, vc, vr, w, h));
    s.centers_mm.push(geometry.px_to_mm(col, row));
    s
}

/// Intensity-weighted centroid (above the background) within ±5 px of `(col, row)`.
fn centroid(s: &Sample, col: f64, row: f64) -> (f64, f64) {
    let (mut sw, mut sx, mut sy) = (0.0, 0.0, 0.0);
    let (c0, r0) = (col.round() as isize, row.round() as isize);
    for r in (r0 - 5).max(0)..=(r0 + 5).min(s.valid_rows as isize - 1) {
        for c in (c0 - 5).max(0)..=(c0 + 5).min(s.valid_cols as isize - 1) {
            let v = (s.image[r as usize * s.width + c as usize] - BG).max(0.0) as f64;
            sw += v;
            sx += v * c as f64;
            sy += v * r as f64;
        }
    }
    (sx / sw, sy / sw)
}

fn only(f: impl FnOnce(&mut AugmentConfig)) -> AugmentConfig {
    let mut c = AugmentConfig::none();
    f(&mut c);
    c
}

/// The box centre, the image's blob and `centers_mm` agree after the transform.
fn assert_box_on_blob(s: &Sample, tol_px: f64) -> (f64, f64) {
    assert_eq!(s.boxes.len(), 1);
    let (bc, br, _, _) = s.box_px(0);
    let (cc, cr) = centroid(s, bc, br);
    assert!((cc - bc).abs() < tol_px && (cr - br).abs() < tol_px, "box ({bc}, {br}) blob ({cc}, {cr})");
    let (x, z) = s.centers_mm[0];
    let (pc, pr) = s.geometry.mm_to_px(x, z);
    assert!((pc - bc).abs() < 1e-4 && (pr - br).abs() < 1e-4);
    (bc, br)
}

#[test]
fn flip_moves_box_with_the_blob_by_hand() {
    let s = blob_sample(17.3, 22.6);
    let a = augment(&s, &only(|c| c.flip_prob = 1.0), 1);
    let (bc, br) = assert_box_on_blob(&a, 0.05);
    // Mirror within the 40 valid columns: 39 − 17.3 = 21.7.
    assert!((bc - 21.7).abs() < 1e-5 && (br - 22.6).abs() < 1e-5);
    assert_eq!((a.valid_rows, a.valid_cols), (60, 40));
    assert_eq!(a.boxes[0][2], s.boxes[0][2]);
}

#[test]
fn affine_and_resize_move_box_with_the_blob() {
    let s = blob_sample(14.2, 35.7);
    for seed in 0..6 {
        let a = augment(&s, &only(|c| c.affine_prob = 1.0), seed);
        assert_box_on_blob(&a, 0.1);
        let r = augment(&s, &only(|c| c.resize_prob = 1.0), seed);
        assert_box_on_blob(&r, 0.1);
        // Resize keeps the physical position: same mm, different pixel pitch.
        let (x, z) = r.centers_mm[0];
        assert!((x - s.centers_mm[0].0).abs() < 1e-9 && (z - s.centers_mm[0].1).abs() < 1e-9);
        let f = s.geometry.pixel_size_x_mm / r.geometry.pixel_size_x_mm;
        let (_, _, w, _) = r.box_px(0);
        assert!((w - 6.0 * f).abs() < 1e-4, "box scales with the image");
    }
    // A pure 90° rotation by hand: about the centre (19.5, 29.5), (14.2, 35.7) → (13.3, 24.2).
    let mut b = vec![Bubble { col: 14.2, row: 35.7, w: 6.0, h: 3.0 }];
    let mut t = s.clone();
    affine(&mut t, std::f64::consts::FRAC_PI_2, 1.0, 0.0, 0.0, &mut b);
    assert!((b[0].col - 13.3).abs() < 1e-9 && (b[0].row - 24.2).abs() < 1e-9);
    rebuild_boxes(&mut t, &b);
    assert_box_on_blob(&t, 0.1);
}

#[test]
fn intensity_augmentations_keep_boxes_and_stay_in_range() {
    let s = blob_sample(20.0, 30.0);
    let c = only(|c| {
        c.blur_prob = 1.0;
        c.speckle_prob = 1.0;
        c.gain_prob = 1.0;
        c.dropout_prob = 1.0;
    });
    let a = augment(&s, &c, 3);
    assert_eq!(a.boxes, s.boxes);
    assert_eq!(a.centers_mm, s.centers_mm);
    assert!(a.image.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_ne!(a.image, s.image);
    // Blur alone keeps the blob's centroid.
    let b = augment(&s, &only(|c| c.blur_prob = 1.0), 4);
    assert_box_on_blob(&b, 0.05);
    // Padding stays a reflection of the valid area.
    let mut p = a.image.clone();
    refill_padding(&mut p, a.width, a.height, a.valid_rows, a.valid_cols);
    assert_eq!(p, a.image);
}

#[test]
fn deterministic_from_the_seed_and_leaving_bubbles_dropped() {
    let s = blob_sample(17.3, 22.6);
    let c = AugmentConfig::default();
    assert_eq!(augment(&s, &c, 42), augment(&s, &c, 42));
    assert_ne!(augment(&s, &c, 42).image, augment(&s, &c, 43).image);
    // A translation that pushes the bubble out of the valid area drops its box.
    let edge = blob_sample(1.0, 30.0);
    let mut b = vec![Bubble { col: 1.0, row: 30.0, w: 6.0, h: 3.0 }];
    let mut t = edge.clone();
    affine(&mut t, 0.0, 1.0, -5.0, 0.0, &mut b);
    rebuild_boxes(&mut t, &b);
    assert!(t.boxes.is_empty() && t.centers_mm.is_empty());
    let bad = AugmentConfig { flip_prob: 1.5, ..AugmentConfig::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("flip_prob"));
    let bad = AugmentConfig { scale_range: [1.2, 0.9], ..AugmentConfig::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("scale_range"));
}
