//! Opening a device never panics: on a machine without a driver or GPU it is a typed error.
use kiln_cuda::{CudaDevice, CudaError};

#[test]
fn opening_a_device_is_a_typed_result() {
    match CudaDevice::new(0) {
        Ok(dev) => {
            let (major, _) = dev.compute_capability().expect("capability");
            assert!(major >= 3, "a real device reports its capability");
        }
        Err(e) => {
            assert!(
                matches!(
                    e,
                    CudaError::CudaUnavailable { .. } | CudaError::NoDevice { .. }
                ),
                "unexpected error {e:?}"
            );
            println!("no device here: {e}");
        }
    }
}

#[test]
fn a_missing_ordinal_is_no_device_or_unavailable() {
    let err = CudaDevice::new(4096).expect_err("no machine has 4097 GPUs");
    assert!(
        matches!(
            err,
            CudaError::CudaUnavailable { .. } | CudaError::NoDevice { .. }
        ),
        "unexpected error {err:?}"
    );
}
