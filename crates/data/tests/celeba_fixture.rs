//! The small CelebA-layout fixture under `tests/fixtures/celeba_mini/`, made by the synthetic
//! generator's export (`export_celeba`). It is read back here exactly as a user's CelebA folder
//! would be: from files on disk, attribute lists in both formats, partition, lazy batches.
//!
//! Regenerate with `BIASLENS_WRITE_FIXTURE=1 cargo test -p biaslens-data --test celeba_fixture`.

use std::path::PathBuf;

use biaslens_data::export::{ExportConfig, export_celeba};
use biaslens_data::{
    AttributeTable, Correlation, DirSource, Labels, Pools, Preprocess, SplitConfig, SplitError, SplitName, SyntheticConfig, make_splits, parse_partition,
    undersample,
};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/celeba_mini")
}

fn fixture_config() -> ExportConfig {
    ExportConfig { synthetic: SyntheticConfig::default(), count: 40, jpeg_quality: 90 }
}

fn write_fixture() {
    let dir = fixture_dir();
    export_celeba(&fixture_config(), |path, bytes| {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&p, bytes).map_err(|e| e.to_string())
    })
    .expect("fixture written");
}

#[test]
fn fixture_reads_back_as_celeba() {
    if std::env::var_os("BIASLENS_WRITE_FIXTURE").is_some() {
        write_fixture();
    }
    let dir = fixture_dir();
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("fixture file {name}: {e}"));
    let table = AttributeTable::parse(&read("list_attr_celeba.txt"), "list_attr_celeba.txt").expect("parses");
    let kaggle = AttributeTable::parse(&read("list_attr_celeba.csv"), "list_attr_celeba.csv").expect("parses");
    assert_eq!(table.len(), 40);
    assert_eq!(table.names, kaggle.names);
    let cfg = fixture_config().synthetic;
    let (t, a) = cfg.labels(0, 40);
    let labelled = table.labelled("Smiling", "Wearing_Necktie").expect("both classes");
    assert_eq!((&labelled.target, &labelled.attribute), (&t, &a));
    assert_eq!(kaggle.labelled("Smiling", "Wearing_Necktie").expect("both classes").target, t);

    // The text files are exactly what the exporter writes today (determinism across versions).
    let mut fresh = std::collections::HashMap::new();
    export_celeba(&fixture_config(), |p, b| {
        fresh.insert(p.to_owned(), b.to_vec());
        Ok(())
    })
    .expect("exports");
    for name in ["list_attr_celeba.txt", "list_attr_celeba.csv", "list_eval_partition.txt", "list_eval_partition.csv", "roi.json"] {
        assert_eq!(read(name), fresh[name], "{name} differs from a fresh export; regenerate the fixture if the change is intended");
    }

    // Official partition and lazy batches from disk.
    let part = parse_partition(&read("list_eval_partition.txt"), "list_eval_partition.txt", &table.images).expect("parses");
    let source = DirSource { root: dir.join("img_align_celeba") };
    labelled.check_images(&source).expect("all images present");
    let config = SplitConfig { pools: Pools::Official, train: Correlation::phi(0.0), debias: Correlation::Balanced, ..SplitConfig::default() };
    // Four validation images cannot fill every cell: a clear error, not a silent empty split.
    let e = make_splits(&labelled.target, &labelled.attribute, Some(&part), &config).expect_err("debias pool too small");
    assert!(matches!(e, SplitError::CellShort { split: SplitName::Debias, available: 0, .. }), "{e}");
    let test_pool: Vec<usize> = (0..40).filter(|&i| part[i] == 2 || part[i] == 0).collect();
    let labels = Labels { target: &labelled.target, attribute: &labelled.attribute };
    let test = undersample(labels, &test_pool, SplitName::Test, &Correlation::Balanced, None, 0).expect("balanced");
    assert_eq!(test.phi, Some(0.0));
    let rows: Vec<usize> = (0..40).collect();
    let generated = cfg.generate(0, 40).expect("valid");
    for chunk in rows.chunks(16) {
        let loaded = labelled.load_batch(chunk, &source, &Preprocess { square_pad: true, resize: None });
        assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
        assert_eq!(loaded.rows, chunk);
        for (k, &row) in chunk.iter().enumerate() {
            let want = generated.image_pixels(row);
            let got = loaded.batch.image_pixels(k);
            let mad = want.iter().zip(got).map(|(x, y)| (x - y).abs()).sum::<f32>() / want.len() as f32;
            assert!(mad < 0.05, "image {row}: mean absolute JPEG error {mad}");
        }
    }
    // Resized on the fly.
    let loaded = labelled.load_batch(&[0, 1], &source, &Preprocess { square_pad: true, resize: Some(32) });
    assert_eq!(loaded.batch.image, biaslens_metrics::ImageSize::square(32));
}
