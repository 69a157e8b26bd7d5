//! Arbitrary virtqueue contents and driver actions against virtio-blk on a
//! raw or qcow2 image (see the `fv_fuzz` crate docs for the input format).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(v) = fv_fuzz::run(data, fv_fuzz::devices::blk) {
        panic!("oracle violated: {v}");
    }
});
