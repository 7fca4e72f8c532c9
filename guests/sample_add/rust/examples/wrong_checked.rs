//! Wrong: panics on overflow (a trap: unreachable) instead of wrapping.
#![no_std]
#![no_main]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[unsafe(no_mangle)]
pub extern "C" fn solve(a: i32, b: i32) -> i32 {
    match a.checked_add(b) {
        Some(sum) => sum,
        None => panic!("overflow"),
    }
}
