//! Kubo pin records (the LevelDB values `acorn init --from-kubo` reads): any bytes
//! give a record or an error, never a panic, and a record that parses encodes
//! back to bytes that parse to the same record.
#![no_main]

use acorn_storage::kubo::pin_record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = pin_record::parse(data) {
        let again =
            pin_record::parse(&pin_record::encode(&record)).expect("re-encoded record parses");
        assert_eq!(again, record);
    }
});
