//! `ulm_eval::coco` against pycocotools' `COCOeval` on the random sets of
//! `tests/fixtures/coco_pycocotools.json` (made by `scripts/coco_fixtures.py`).

use ulm_eval::coco::{CocoDet, CocoGt, evaluate_bbox};

#[test]
fn matches_pycocotools_on_random_sets() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/coco_pycocotools.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let sets = doc["sets"].as_array().unwrap();
    assert!(sets.len() >= 200, "{} sets", sets.len());
    let ids =
        |v: &serde_json::Value| -> Vec<u64> { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect() };
    let row =
        |v: &serde_json::Value| -> Vec<f64> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
    let mut worst = 0.0f64;
    let mut defined = 0usize;
    for (k, s) in sets.iter().enumerate() {
        let gts: Vec<CocoGt> = s["gt"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let r = row(g);
                let mut b = CocoGt::new(r[0] as u64, r[1] as u64, [r[2], r[3], r[4], r[5]]);
                b.iscrowd = r[6] != 0.0;
                b
            })
            .collect();
        let dts: Vec<CocoDet> = s["dt"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let r = row(d);
                CocoDet { image_id: r[0] as u64, category_id: r[1] as u64, bbox: [r[2], r[3], r[4], r[5]], score: r[6] }
            })
            .collect();
        let ours = evaluate_bbox(&ids(&s["images"]), &ids(&s["categories"]), &gts, &dts).unwrap().to_array();
        let want = row(&s["stats"]);
        for (i, (o, w)) in ours.iter().zip(&want).enumerate() {
            assert!(
                (o - w).abs() <= 1e-4,
                "set {k}, stat {i}: ours {o}, pycocotools {w}\nours {ours:?}\nwant {want:?}"
            );
            worst = worst.max((o - w).abs());
            defined += usize::from(*w > -1.0);
        }
    }
    // Most figures are real numbers, not the −1 of an empty average.
    assert!(defined > sets.len() * 8, "only {defined} defined stats");
    eprintln!("{} sets, worst difference {worst:e}", sets.len());
}
