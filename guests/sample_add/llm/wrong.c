// Wrong: off by one for negative first arguments.
__attribute__((export_name("solve")))
int solve(int a, int b) {
    if (a < 0) {
        return a + b + 1;
    }
    return a + b;
}
