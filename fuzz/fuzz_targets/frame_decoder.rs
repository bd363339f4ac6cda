//! Arbitrary bytes into the frame decoder and the codec: errors, never panics or huge allocations.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    procvisor_wire::fuzzing::frame_decoder(data);
});
