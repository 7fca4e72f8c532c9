// Hostile: grows memory until refused, then touches past the end.
__attribute__((export_name("solve")))
int solve(int a, int b) {
    while (__builtin_wasm_memory_grow(0, 1024) != -1) {
    }
    return *(volatile int *)(__builtin_wasm_memory_size(0) * 65536 - 4) + a + b;
}
