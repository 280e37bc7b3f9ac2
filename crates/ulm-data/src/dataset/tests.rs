use ndarray::Array3;

use super::*;

fn geom() -> Geometry {
    Geometry::new(0.05, 0.05, -1.0, 2.0, 0.1, 1000.0).unwrap()
}

/// `n` frames of 64 × 64 with a flat background 1.0 and a bright pixel at each bubble.
fn frames_with(bubbles: &[(u32, f64, f64)], n: usize) -> (Array3<f32>, Localizations) {
    let g = geom();
    let mut env = Array3::from_elem((n, 64, 64), 1.0f32);
    let mut truth = Localizations::new();
    for &(f, col, row) in bubbles {
        env[[f as usize, row.round() as usize, col.round() as usize]] = 1000.0;
        truth.push(f, g.col_to_x_mm(col), g.row_to_z_mm(row), 1.0);
    }
    (env, truth)
}

fn assert_box(got: [f32; 4], want: [f32; 4]) {
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6), "{got:?} != {want:?}");
}

#[test]
fn border_bubbles_assigned_once_and_boxes_on_them() {
    // Tiles of 32 abut at col/row 32 (pixel edge 31.5 | 32 in centre coordinates: a bubble
    // at col 31.5 sits exactly on the border and belongs to the right-hand tile).
    let bubbles = [(0, 31.5, 10.0), (0, 31.49, 40.0), (0, 5.0, 31.5), (0, 63.4, 63.4), (0, 20.25, 12.75)];
    let (env, truth) = frames_with(&bubbles, 1);
    let grid = TileGrid::with_patch(64, 64, 32, 32, 0).unwrap();
    let boxes = BoxSize::Pixels { w: 4.0, h: 2.0 };
    let ds =
        PatchDataset::from_frames(env.view(), &geom(), &truth, 0..1, &grid, &boxes, &Normalization::default()).unwrap();
    assert_eq!(ds.len(), 4);
    let total: usize = ds.samples().iter().map(|s| s.boxes.len()).sum();
    assert_eq!(total, bubbles.len(), "each bubble in exactly one tile");
    let in_tile = |t: usize| ds.samples()[t].centers_mm.clone();
    let g = geom();
    assert!(in_tile(1).contains(&(g.col_to_x_mm(31.5), g.row_to_z_mm(10.0)))); // tile (0, 1)
    assert!(in_tile(2).contains(&(g.col_to_x_mm(31.49), g.row_to_z_mm(40.0)))); // tile (1, 0)
    assert!(in_tile(2).contains(&(g.col_to_x_mm(5.0), g.row_to_z_mm(31.5)))); // tile (1, 0)
    assert!(in_tile(3).contains(&(g.col_to_x_mm(63.4), g.row_to_z_mm(63.4))));
    // Tile 0, bubble (20.25, 12.75): box centre (20.75 / 32, 13.25 / 32), 4 × 2 px.
    // (Positions pass through mm and back: equal to ~1e-15 px.)
    let s = &ds.samples()[0];
    assert_eq!(s.boxes.len(), 1);
    assert_box(s.boxes[0], [20.75 / 32.0, 13.25 / 32.0, 4.0 / 32.0, 2.0 / 32.0]);
    let (c, r, _, _) = s.box_px(0);
    assert!((c - 20.25).abs() < 1e-5 && (r - 12.75).abs() < 1e-5);
    // Tile 1, bubble on its left edge (col −0.5): a 1 px box centred on the edge.
    let s = &ds.samples()[1];
    assert_box(s.boxes[0], [0.0, 10.5 / 32.0, 1.0 / 32.0, 2.0 / 32.0]);
    // The bright pixel is under the box (60 dB above the median: clipped to 1.0).
    let (c, r, _, _) = ds.samples()[0].box_px(0);
    assert_eq!(ds.samples()[0].image[r.round() as usize * 32 + c.round() as usize], 1.0);
}

#[test]
fn overlap_puts_a_bubble_in_both_tiles_and_small_frames_are_padded() {
    let (env, truth) = frames_with(&[(0, 30.0, 5.0)], 1);
    let grid = TileGrid::with_patch(64, 64, 40, 64, 16).unwrap(); // rows: 0..40, 24..64
    let boxes = BoxSize::Pixels { w: 4.0, h: 2.0 };
    let ds =
        PatchDataset::from_frames(env.view(), &geom(), &truth, 0..1, &grid, &boxes, &Normalization::default()).unwrap();
    assert_eq!(ds.samples()[0].boxes.len(), 1);
    assert_eq!(ds.samples()[1].boxes.len(), 0);
    let (env, truth) = frames_with(&[(0, 30.0, 30.0)], 1);
    let ds =
        PatchDataset::from_frames(env.view(), &geom(), &truth, 0..1, &grid, &boxes, &Normalization::default()).unwrap();
    assert_eq!((ds.samples()[0].boxes.len(), ds.samples()[1].boxes.len()), (1, 1));
    // A 64 × 64 frame in 80 × 96 patches: padded, mask carried.
    let grid = TileGrid::with_patch(64, 64, 80, 96, 0).unwrap();
    let ds =
        PatchDataset::from_frames(env.view(), &geom(), &truth, 0..1, &grid, &boxes, &Normalization::default()).unwrap();
    let s = &ds.samples()[0];
    assert_eq!((s.height, s.width, s.valid_rows, s.valid_cols), (80, 96, 64, 64));
    let mask = s.padding_mask();
    assert_eq!(mask.iter().filter(|&&m| m).count(), 80 * 96 - 64 * 64);
    assert!(!mask[63 * 96 + 63] && mask[63 * 96 + 64] && mask[64 * 96]);
    assert!(!s.is_full());
}

#[test]
fn coco_round_trip() {
    let bubbles = [(0, 10.2, 20.7), (1, 50.0, 3.3), (1, 33.0, 60.0)];
    let (env, truth) = frames_with(&bubbles, 2);
    let grid = TileGrid::with_patch(64, 64, 48, 48, 8).unwrap();
    let norm = Normalization::default();
    let boxes = BoxSize::Wavelengths { w: 3.0, h: 1.5 };
    let ds = PatchDataset::from_frames(env.view(), &geom(), &truth, 0..2, &grid, &boxes, &norm).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("train.json");
    let coco = ds.write_coco(&json, &dir.path().join("train"), &norm).unwrap();
    assert_eq!(coco.images.len(), ds.len());
    assert_eq!(coco.categories[0].name, "microbubble");
    let back = coco_import(&json, None, None, ImportScaling::Auto, &norm).unwrap();
    assert_eq!(back.len(), ds.len());
    assert_eq!(back.origins(), ds.origins());
    for (a, b) in ds.samples().iter().zip(back.samples()) {
        assert_eq!((a.width, a.height, a.valid_rows, a.valid_cols), (b.width, b.height, b.valid_rows, b.valid_cols));
        assert_eq!(a.geometry, b.geometry);
        assert_eq!(a.centers_mm, b.centers_mm);
        for (x, y) in a.image.iter().zip(&b.image) {
            assert!((x - y).abs() <= 0.5 / 65535.0 + 1e-7);
        }
        for (x, y) in a.boxes.iter().zip(&b.boxes) {
            for k in 0..4 {
                assert!((x[k] - y[k]).abs() < 1e-6, "{x:?} {y:?}");
            }
        }
    }
}

#[test]
fn hand_written_coco_imports_and_bad_input_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A 4 × 6 8-bit image, background 10 and one bright pixel 200 at (row 1, col 2).
    let mut img = ndarray::Array2::from_elem((4, 6), 10u8);
    img[[1, 2]] = 200;
    ulm_io::write_png_gray8(&dir.path().join("a.png"), &img).unwrap();
    let json = dir.path().join("labels.json");
    std::fs::write(
        &json,
        r#"{"images": [{"id": 3, "file_name": "a.png", "width": 6, "height": 4}],
            "annotations": [{"id": 9, "image_id": 3, "category_id": 5, "bbox": [1.5, 1.0, 2.0, 1.0]}],
            "categories": [{"id": 5, "name": "microbubble"}]}"#,
    )
    .unwrap();
    let g = geom();
    let ds = coco_import(&json, None, Some(&g), ImportScaling::Auto, &Normalization::default()).unwrap();
    let s = ds.sample(0, None);
    // bbox centre (2.5, 1.5) in edge coordinates = pixel (col 2, row 1); fractions of 6 × 4.
    assert_eq!(s.boxes, vec![[2.5 / 6.0, 1.5 / 4.0, 2.0 / 6.0, 1.0 / 4.0]]);
    assert_eq!(s.centers_mm, vec![g.px_to_mm(2.0, 1.0)]);
    // Envelope scaling: the background (median 10) → 0.2; 200 = 26 dB above → 0.72.
    assert!((s.image[0] - 0.2).abs() < 1e-6);
    let want = (20.0 * 20f32.log10() + 10.0) / 50.0;
    assert!((s.image[8] - want).abs() < 1e-5);
    // Linear scaling: pixel / 255.
    let ds = coco_import(&json, None, Some(&g), ImportScaling::Linear, &Normalization::default()).unwrap();
    assert!((ds.samples()[0].image[8] - 200.0 / 255.0).abs() < 1e-6);
    // No geometry: the error names the file and says what to give.
    let e = coco_import(&json, None, None, ImportScaling::Auto, &Normalization::default()).unwrap_err().to_string();
    assert!(e.contains("labels.json") && e.contains("geometry"), "{e}");
    // Missing image: names the image file.
    std::fs::remove_file(dir.path().join("a.png")).unwrap();
    let e = coco_import(&json, None, Some(&g), ImportScaling::Auto, &Normalization::default()).unwrap_err().to_string();
    assert!(e.contains("a.png"), "{e}");
}

#[test]
fn augmentation_only_with_a_seed() {
    let (env, truth) = frames_with(&[(0, 20.0, 20.0)], 1);
    let grid = TileGrid::with_patch(64, 64, 64, 64, 0).unwrap();
    let ds = PatchDataset::from_frames(
        env.view(),
        &geom(),
        &truth,
        0..1,
        &grid,
        &BoxSize::Pixels { w: 4.0, h: 2.0 },
        &Normalization::default(),
    )
    .unwrap()
    .with_augmentation(AugmentConfig::default());
    assert_eq!(ds.sample(0, None), ds.samples()[0]);
    assert_eq!(ds.sample(0, Some(5)), ds.sample(0, Some(5)));
    assert!(
        PatchDataset::from_frames(
            env.view(),
            &geom(),
            &truth,
            0..2,
            &grid,
            &BoxSize::Pixels { w: 4.0, h: 2.0 },
            &Normalization::default()
        )
        .is_err()
    );
}
