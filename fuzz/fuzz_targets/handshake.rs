//! Arbitrary peer messages into both roles of the authkey handshake.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    procvisor_wire::fuzzing::handshake(data);
});
