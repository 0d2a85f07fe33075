//! Fuzzes the GGUF header and metadata reader: any byte string must parse or return an
//! error, never panic, hang or allocate beyond what the input can describe.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = icor_rag::gguf::parse_header(data, Path::new("fuzz.gguf")) {
        // Exercise the accessors on whatever parsed.
        for t in &header.tensors {
            let _ = t.shape();
            let _ = t.n_elements();
            let _ =
                icor_rag::gguf::GgmlType::from_id(t.type_id).map(|ty| ty.bytes_for(t.n_elements()));
        }
        for v in header.metadata.values() {
            let _ = (
                v.as_u64(),
                v.as_f64(),
                v.as_str(),
                v.as_array().map(<[_]>::len),
            );
        }
    }
});
