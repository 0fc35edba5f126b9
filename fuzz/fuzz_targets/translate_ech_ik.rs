//! Arbitrary bytes as an answer of the `ech-ik` dialect: translation returns an answer
//! or an error, never panics.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use guichet::mapping::{DEFAULT_MAX_ANSWER_BYTES, Mapping, MappingSet};
use guichet::model::OfficeId;
use libfuzzer_sys::fuzz_target;

fn mapping() -> &'static Mapping {
    static MAPPING: OnceLock<MappingSet> = OnceLock::new();
    MAPPING
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mappings");
            MappingSet::load_dir(&dir).expect("mappings load")
        })
        .get("ech-ik")
        .expect("dialect ech-ik")
}

fuzz_target!(|data: &[u8]| {
    // The office of the contract example, so the fixtures' office scope matches.
    let office = OfficeId::new(25, 0).expect("office id");
    let _ = mapping().translate(office, data, DEFAULT_MAX_ANSWER_BYTES);
});
