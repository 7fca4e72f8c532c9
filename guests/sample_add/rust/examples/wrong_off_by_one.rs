//! Wrong: off by one whenever both inputs are negative.
#![no_std]
#![no_main]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[unsafe(no_mangle)]
pub extern "C" fn solve(a: i32, b: i32) -> i32 {
    let sum = a.wrapping_add(b);
    if a < 0 && b < 0 { sum.wrapping_add(1) } else { sum }
}
