// Does not compile: an undeclared variable.
__attribute__((export_name("solve")))
int solve(int a, int b) {
    return a + c;
}
