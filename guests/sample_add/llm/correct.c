// Correct: wrapping 32-bit addition (through unsigned, as signed overflow is
// undefined in C).
#include <stdint.h>

__attribute__((export_name("solve")))
int32_t solve(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}
