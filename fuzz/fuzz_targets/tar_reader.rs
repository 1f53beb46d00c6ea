//! Any bytes through `TarReader`: every entry and all of its data, then the seekable index of
//! the same bytes. Errors are fine; panics, hangs and unbounded allocations are not.
#![no_main]

use archive::TarReader;
use libfuzzer_sys::fuzz_target;
use std::io::{self, Cursor};

fuzz_target!(|data: &[u8]| {
    let mut reader = TarReader::new(data);
    while let Ok(Some(_entry)) = reader.next_entry() {
        if io::copy(&mut reader, &mut io::sink()).is_err() {
            break;
        }
    }
    let _ = archive::members(Cursor::new(data));
});
