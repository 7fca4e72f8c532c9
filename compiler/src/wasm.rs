//! placeholder
/// Options.
pub struct CompileOptions { /// Probes.
 pub probes: Option<u32> }
/// Compile.
pub fn compile(_c: &crate::CheckedProgram, _o: &CompileOptions) -> Vec<u8> { b"\0asm".to_vec() }
