//! Arbitrary virtqueue contents and driver actions against virtio-net on a
//! socket pair with frames waiting to be received (see the `fv_fuzz` crate
//! docs for the input format).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(v) = fv_fuzz::run(data, fv_fuzz::devices::net) {
        panic!("oracle violated: {v}");
    }
});
