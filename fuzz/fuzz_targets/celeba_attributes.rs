//! CelebA's attribute list (txt or Kaggle CSV), the two chosen columns, and the partition file
//! read against its images: errors are fine, panics are not.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = biaslens_data::AttributeTable::parse(data, "list_attr_celeba.txt") else {
        return;
    };
    let _ = table.column("Smiling");
    if let [a, b, ..] = table.names.as_slice() {
        let _ = table.labelled(a, b);
    }
    let _ = biaslens_data::parse_partition(data, "list_eval_partition.txt", &table.images);
});
