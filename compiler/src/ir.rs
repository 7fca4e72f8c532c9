//! The candidate language's intermediate representation.
//!
//! A [`Program`] is a list of [`Function`]s; a function body is a [`Block`] of
//! [`Stmt`]s; statements hold [`Expr`] trees.
//! Every function, block, statement and expression carries a [`NodeId`] that is
//! stable within its program: ids are assigned in pre-order by
//! [`Program::renumber`], which the parser calls and which every program
//! transformation (GP operators, for example) must call after editing.
//! Probes, traces, coverage reports and GP operators all name nodes by id.
//!
//! Nodes parsed from text also carry a [`Span`]; nodes made by a program
//! transformation carry [`Span::NONE`].
//! Spans never take part in equality: two programs are equal when they have the
//! same structure, names, literals and ids.

use std::fmt;

/// Identifies a node within one program; assigned in pre-order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The id as a `usize` index into per-node tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Identifies a function within one program: its position in [`Program::funcs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncId(pub u32);

impl FuncId {
    /// The id as a `usize` index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Identifies a local variable (parameter, `let` or loop variable) within one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalId(pub u32);

impl LocalId {
    /// The id as a `usize` index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A byte range in the source text a node was parsed from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// The span of nodes that were not parsed from text.
    pub const NONE: Span = Span {
        start: u32::MAX,
        end: u32::MAX,
    };

    /// Makes a span from byte offsets.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// Whether this span points into source text.
    pub fn is_known(self) -> bool {
        self.start != u32::MAX
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        if !self.is_known() {
            return other;
        }
        if !other.is_known() {
            return self;
        }
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// Spans are provenance, not structure: all spans compare equal.
impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

impl Eq for Span {}

/// A scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// 32-bit signed integer.
    I32,
    /// 64-bit signed integer.
    I64,
    /// 32-bit unsigned integer.
    U32,
    /// 64-bit unsigned integer.
    U64,
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary64.
    F64,
    /// Boolean.
    Bool,
}

impl Scalar {
    /// Every scalar type, in a fixed order.
    pub const ALL: [Scalar; 7] = [
        Scalar::I32,
        Scalar::I64,
        Scalar::U32,
        Scalar::U64,
        Scalar::F32,
        Scalar::F64,
        Scalar::Bool,
    ];

    /// The keyword that names this type.
    pub fn name(self) -> &'static str {
        match self {
            Scalar::I32 => "i32",
            Scalar::I64 => "i64",
            Scalar::U32 => "u32",
            Scalar::U64 => "u64",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
            Scalar::Bool => "bool",
        }
    }

    /// Parses a scalar type keyword.
    pub fn from_name(name: &str) -> Option<Scalar> {
        Scalar::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether this is one of the integer types.
    pub fn is_int(self) -> bool {
        matches!(self, Scalar::I32 | Scalar::I64 | Scalar::U32 | Scalar::U64)
    }

    /// Whether this is a signed integer type.
    pub fn is_signed(self) -> bool {
        matches!(self, Scalar::I32 | Scalar::I64)
    }

    /// Whether this is `f32` or `f64`.
    pub fn is_float(self) -> bool {
        matches!(self, Scalar::F32 | Scalar::F64)
    }

    /// Whether this is an integer or float type.
    pub fn is_numeric(self) -> bool {
        self.is_int() || self.is_float()
    }

    /// Width in bits (1 for `bool`).
    pub fn bits(self) -> u32 {
        match self {
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 32,
            Scalar::I64 | Scalar::U64 | Scalar::F64 => 64,
            Scalar::Bool => 1,
        }
    }
}

/// The element type of a read-only input slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elem {
    /// Bytes; elements read as `u32`.
    U8,
    /// `u32` elements.
    U32,
    /// `u64` elements.
    U64,
    /// `i32` elements.
    I32,
    /// `i64` elements.
    I64,
    /// `f32` elements.
    F32,
    /// `f64` elements.
    F64,
}

impl Elem {
    /// Every element type, in a fixed order.
    pub const ALL: [Elem; 7] = [
        Elem::U8,
        Elem::U32,
        Elem::U64,
        Elem::I32,
        Elem::I64,
        Elem::F32,
        Elem::F64,
    ];

    /// The keyword that names this element type.
    pub fn name(self) -> &'static str {
        match self {
            Elem::U8 => "u8",
            Elem::U32 => "u32",
            Elem::U64 => "u64",
            Elem::I32 => "i32",
            Elem::I64 => "i64",
            Elem::F32 => "f32",
            Elem::F64 => "f64",
        }
    }

    /// Parses an element type keyword.
    pub fn from_name(name: &str) -> Option<Elem> {
        Elem::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The scalar type an indexing expression yields (`u8` widens to `u32`).
    pub fn scalar(self) -> Scalar {
        match self {
            Elem::U8 | Elem::U32 => Scalar::U32,
            Elem::U64 => Scalar::U64,
            Elem::I32 => Scalar::I32,
            Elem::I64 => Scalar::I64,
            Elem::F32 => Scalar::F32,
            Elem::F64 => Scalar::F64,
        }
    }

    /// Size of one element in bytes.
    pub fn size(self) -> u32 {
        match self {
            Elem::U8 => 1,
            Elem::U32 | Elem::I32 | Elem::F32 => 4,
            Elem::U64 | Elem::I64 | Elem::F64 => 8,
        }
    }
}

/// A type of the candidate language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// A scalar.
    Scalar(Scalar),
    /// A read-only slice, allowed only as a parameter type.
    Slice(Elem),
}

impl Type {
    /// The scalar inside, if this is a scalar type.
    pub fn as_scalar(self) -> Option<Scalar> {
        match self {
            Type::Scalar(s) => Some(s),
            Type::Slice(_) => None,
        }
    }
}

impl From<Scalar> for Type {
    fn from(s: Scalar) -> Type {
        Type::Scalar(s)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Scalar(s) => f.write_str(s.name()),
            Type::Slice(e) => write!(f, "[{}]", e.name()),
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A whole candidate program.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The functions, in source order.
    pub funcs: Vec<Function>,
}

/// A function definition.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// The node id of the function itself.
    pub id: NodeId,
    /// Where the function was defined (its name).
    pub span: Span,
    /// The function's name.
    pub name: String,
    /// The parameters, in order.
    pub params: Vec<Param>,
    /// The return type (always a scalar).
    pub ret: Scalar,
    /// The body.
    pub body: Block,
}

/// A function parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The parameter's name.
    pub name: String,
    /// The parameter's type.
    pub ty: Type,
    /// Where the parameter was declared.
    pub span: Span,
}

/// A sequence of statements with its own scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// The node id of the block (its counter is the number of times it was entered).
    pub id: NodeId,
    /// Where the block was written.
    pub span: Span,
    /// The statements.
    pub stmts: Vec<Stmt>,
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// The statement's node id.
    pub id: NodeId,
    /// Where the statement was written.
    pub span: Span,
    /// What the statement is.
    pub kind: StmtKind,
}

/// The kinds of statement.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `let name: ty = init;` (the annotation is optional).
    Let {
        /// The new local's name.
        name: String,
        /// The annotation, if written.
        ty: Option<Scalar>,
        /// The initial value.
        init: Expr,
    },
    /// `name = value;`
    Assign {
        /// The local assigned to.
        name: String,
        /// The new value.
        value: Expr,
    },
    /// `if cond { .. } else { .. }`
    If {
        /// The condition (a `bool`).
        cond: Expr,
        /// Taken when the condition holds.
        then_block: Block,
        /// Taken otherwise, if present.
        else_block: Option<Block>,
    },
    /// `for var in start..end { .. }`: `end` is evaluated once, before the first iteration.
    For {
        /// The loop variable (immutable, of the bounds' integer type).
        var: String,
        /// The first value.
        start: Expr,
        /// One past the last value.
        end: Expr,
        /// The loop body.
        body: Block,
    },
    /// `return value;`
    Return(Expr),
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// The expression's node id.
    pub id: NodeId,
    /// Where the expression was written.
    pub span: Span,
    /// What the expression is.
    pub kind: ExprKind,
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Lit(Lit),
    /// A reference to a local or parameter.
    Var(String),
    /// A unary operator.
    Unary(UnOp, Box<Expr>),
    /// A binary operator.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A call of a builtin or of a function of the program.
    Call(Callee, Vec<Expr>),
    /// `expr as ty`.
    Cast(Box<Expr>, Scalar),
    /// `slice[index]`.
    Index(Box<Expr>, Box<Expr>),
}

/// A literal as written.
///
/// A literal without a suffix takes its type from its context (the type the
/// checker expects there); with no such context an integer literal is `i32`
/// and a float literal `f64`.
#[derive(Clone, Copy, Debug)]
pub enum Lit {
    /// An integer literal; it denotes `value` modulo 2^width of its type.
    Int {
        /// The value as written (a leading `-` folded in).
        value: i128,
        /// The suffix, if written.
        suffix: Option<Scalar>,
    },
    /// A float literal, held as parsed for each float type (so no double rounding).
    Float {
        /// The value when the literal is an `f64`.
        f64: f64,
        /// The value when the literal is an `f32`.
        f32: f32,
        /// The suffix, if written.
        suffix: Option<Scalar>,
    },
    /// `true` or `false`.
    Bool(bool),
}

impl Lit {
    /// A float literal for a value of type `f64`.
    pub fn f64(v: f64) -> Lit {
        Lit::Float {
            f64: v,
            f32: v as f32,
            suffix: None,
        }
    }

    /// A float literal for a value of type `f32`.
    pub fn f32(v: f32) -> Lit {
        Lit::Float {
            f64: v as f64,
            f32: v,
            suffix: None,
        }
    }
}

/// Float literals compare by bits so that `-0.0 != 0.0` and `NaN == NaN`;
/// a suffixed literal compares only the value its suffix selects.
impl PartialEq for Lit {
    fn eq(&self, other: &Lit) -> bool {
        match (self, other) {
            (
                Lit::Int {
                    value: a,
                    suffix: sa,
                },
                Lit::Int {
                    value: b,
                    suffix: sb,
                },
            ) => a == b && sa == sb,
            (
                Lit::Float {
                    f64: a,
                    f32: a32,
                    suffix: sa,
                },
                Lit::Float {
                    f64: b,
                    f32: b32,
                    suffix: sb,
                },
            ) => {
                // A suffix fixes which of the two values the literal denotes.
                let same64 = a.to_bits() == b.to_bits();
                let same32 = a32.to_bits() == b32.to_bits();
                sa == sb
                    && match sa {
                        Some(Scalar::F32) => same32,
                        Some(_) => same64,
                        None => same64 && same32,
                    }
            }
            (Lit::Bool(a), Lit::Bool(b)) => a == b,
            _ => false,
        }
    }
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `-x`: wrapping negation for integers, sign flip for floats.
    Neg,
    /// `!x`: logical not for `bool`, bitwise not for integers.
    Not,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+` (wrapping for integers).
    Add,
    /// `-` (wrapping for integers).
    Sub,
    /// `*` (wrapping for integers).
    Mul,
    /// `/` (total: see LANGUAGE.md).
    Div,
    /// `%` (total: see LANGUAGE.md).
    Rem,
    /// `&` on integers.
    BitAnd,
    /// `|` on integers.
    BitOr,
    /// `^` on integers.
    BitXor,
    /// `<<`, count masked to the width.
    Shl,
    /// `>>` (arithmetic for signed, logical for unsigned), count masked.
    Shr,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&` on `bool` (both sides are evaluated).
    And,
    /// `||` on `bool` (both sides are evaluated).
    Or,
}

impl BinOp {
    /// Every binary operator.
    pub const ALL: [BinOp; 18] = [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Rem,
        BinOp::BitAnd,
        BinOp::BitOr,
        BinOp::BitXor,
        BinOp::Shl,
        BinOp::Shr,
        BinOp::Eq,
        BinOp::Ne,
        BinOp::Lt,
        BinOp::Le,
        BinOp::Gt,
        BinOp::Ge,
        BinOp::And,
        BinOp::Or,
    ];

    /// The operator's token.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }

    /// Binding strength: a higher number binds tighter (Rust's precedences).
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 3,
            BinOp::BitOr => 4,
            BinOp::BitXor => 5,
            BinOp::BitAnd => 6,
            BinOp::Shl | BinOp::Shr => 7,
            BinOp::Add | BinOp::Sub => 8,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 9,
        }
    }

    /// Whether the result is `bool` whatever the operand type.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

/// What a call calls.
#[derive(Clone, Debug, PartialEq)]
pub enum Callee {
    /// A builtin operation.
    Builtin(Builtin),
    /// A function of the program, by name.
    Func(String),
}

/// Builtin operations written with call syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `sqrt(x)` (float).
    Sqrt,
    /// `abs(x)`: clears the sign bit for floats, wrapping for integers.
    Abs,
    /// `min(a, b)`.
    Min,
    /// `max(a, b)`.
    Max,
    /// `floor(x)` (float).
    Floor,
    /// `ceil(x)` (float).
    Ceil,
    /// `trunc(x)` (float).
    Trunc,
    /// `nearest(x)`: round half to even (float).
    Nearest,
    /// `copysign(a, b)` (float).
    Copysign,
    /// `rotl(x, n)` (integer).
    Rotl,
    /// `rotr(x, n)` (integer).
    Rotr,
    /// `clz(x)`: leading zeros (integer, same type).
    Clz,
    /// `ctz(x)`: trailing zeros (integer, same type).
    Ctz,
    /// `popcnt(x)`: set bits (integer, same type).
    Popcnt,
    /// `select(c, a, b)`: `a` if `c` else `b`; both are evaluated.
    Select,
    /// `len(s)`: the slice's length as `u32`.
    Len,
    /// `f32::from_bits(u32)`
    F32FromBits,
    /// `f32::to_bits(f32)`
    F32ToBits,
    /// `f64::from_bits(u64)`
    F64FromBits,
    /// `f64::to_bits(f64)`
    F64ToBits,
}

impl Builtin {
    /// Every builtin.
    pub const ALL: [Builtin; 20] = [
        Builtin::Sqrt,
        Builtin::Abs,
        Builtin::Min,
        Builtin::Max,
        Builtin::Floor,
        Builtin::Ceil,
        Builtin::Trunc,
        Builtin::Nearest,
        Builtin::Copysign,
        Builtin::Rotl,
        Builtin::Rotr,
        Builtin::Clz,
        Builtin::Ctz,
        Builtin::Popcnt,
        Builtin::Select,
        Builtin::Len,
        Builtin::F32FromBits,
        Builtin::F32ToBits,
        Builtin::F64FromBits,
        Builtin::F64ToBits,
    ];

    /// The name as written in source.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Sqrt => "sqrt",
            Builtin::Abs => "abs",
            Builtin::Min => "min",
            Builtin::Max => "max",
            Builtin::Floor => "floor",
            Builtin::Ceil => "ceil",
            Builtin::Trunc => "trunc",
            Builtin::Nearest => "nearest",
            Builtin::Copysign => "copysign",
            Builtin::Rotl => "rotl",
            Builtin::Rotr => "rotr",
            Builtin::Clz => "clz",
            Builtin::Ctz => "ctz",
            Builtin::Popcnt => "popcnt",
            Builtin::Select => "select",
            Builtin::Len => "len",
            Builtin::F32FromBits => "f32::from_bits",
            Builtin::F32ToBits => "f32::to_bits",
            Builtin::F64FromBits => "f64::from_bits",
            Builtin::F64ToBits => "f64::to_bits",
        }
    }

    /// Looks a builtin up by its source name.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// How many arguments it takes.
    pub fn arity(self) -> usize {
        match self {
            Builtin::Min | Builtin::Max | Builtin::Copysign | Builtin::Rotl | Builtin::Rotr => 2,
            Builtin::Select => 3,
            _ => 1,
        }
    }
}

impl Program {
    /// Reassigns every node id in pre-order (function, body block, statements,
    /// expressions left to right) and returns the number of ids used.
    pub fn renumber(&mut self) -> u32 {
        let mut next = 0u32;
        for func in &mut self.funcs {
            func.id = take(&mut next);
            renumber_block(&mut func.body, &mut next);
        }
        next
    }

    /// The number of node ids in use: one more than the largest id.
    pub fn node_count(&self) -> u32 {
        let mut max = 0u32;
        self.visit(&mut |node| max = max.max(node.id().0 + 1));
        max
    }

    /// Looks a function up by name.
    pub fn func(&self, name: &str) -> Option<(FuncId, &Function)> {
        self.funcs
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == name)
            .map(|(i, f)| (FuncId(i as u32), f))
    }

    /// Calls `f` on every node in pre-order.
    pub fn visit<'a>(&'a self, f: &mut dyn FnMut(Node<'a>)) {
        for func in &self.funcs {
            f(Node::Func(func));
            visit_block(&func.body, f);
        }
    }

    /// Returns a copy with every span set to [`Span::NONE`].
    pub fn without_spans(&self) -> Program {
        let mut p = self.clone();
        p.visit_mut(&mut |node| match node {
            NodeMut::Func(f) => {
                f.span = Span::NONE;
                for param in &mut f.params {
                    param.span = Span::NONE;
                }
            }
            NodeMut::Block(b) => b.span = Span::NONE,
            NodeMut::Stmt(s) => s.span = Span::NONE,
            NodeMut::Expr(e) => e.span = Span::NONE,
        });
        p
    }

    /// Calls `f` on every node in pre-order, mutably.
    pub fn visit_mut(&mut self, f: &mut dyn FnMut(NodeMut<'_>)) {
        for func in &mut self.funcs {
            f(NodeMut::Func(func));
            visit_block_mut(&mut func.body, f);
        }
    }
}

/// A reference to any node.
#[derive(Clone, Copy, Debug)]
pub enum Node<'a> {
    /// A function.
    Func(&'a Function),
    /// A block.
    Block(&'a Block),
    /// A statement.
    Stmt(&'a Stmt),
    /// An expression.
    Expr(&'a Expr),
}

impl Node<'_> {
    /// The node's id.
    pub fn id(&self) -> NodeId {
        match self {
            Node::Func(f) => f.id,
            Node::Block(b) => b.id,
            Node::Stmt(s) => s.id,
            Node::Expr(e) => e.id,
        }
    }

    /// The node's span.
    pub fn span(&self) -> Span {
        match self {
            Node::Func(f) => f.span,
            Node::Block(b) => b.span,
            Node::Stmt(s) => s.span,
            Node::Expr(e) => e.span,
        }
    }
}

/// A mutable reference to any node.
#[derive(Debug)]
pub enum NodeMut<'a> {
    /// A function.
    Func(&'a mut Function),
    /// A block.
    Block(&'a mut Block),
    /// A statement.
    Stmt(&'a mut Stmt),
    /// An expression.
    Expr(&'a mut Expr),
}

fn take(next: &mut u32) -> NodeId {
    let id = NodeId(*next);
    *next += 1;
    id
}

fn renumber_block(block: &mut Block, next: &mut u32) {
    block.id = take(next);
    for stmt in &mut block.stmts {
        stmt.id = take(next);
        match &mut stmt.kind {
            StmtKind::Let { init: e, .. }
            | StmtKind::Assign { value: e, .. }
            | StmtKind::Return(e) => renumber_expr(e, next),
            StmtKind::If {
                cond,
                then_block,
                else_block,
            } => {
                renumber_expr(cond, next);
                renumber_block(then_block, next);
                if let Some(b) = else_block {
                    renumber_block(b, next);
                }
            }
            StmtKind::For {
                start, end, body, ..
            } => {
                renumber_expr(start, next);
                renumber_expr(end, next);
                renumber_block(body, next);
            }
        }
    }
}

fn renumber_expr(expr: &mut Expr, next: &mut u32) {
    expr.id = take(next);
    expr.for_each_child_mut(|child| renumber_expr(child, next));
}

fn visit_block<'a>(block: &'a Block, f: &mut dyn FnMut(Node<'a>)) {
    f(Node::Block(block));
    for stmt in &block.stmts {
        f(Node::Stmt(stmt));
        match &stmt.kind {
            StmtKind::Let { init: e, .. }
            | StmtKind::Assign { value: e, .. }
            | StmtKind::Return(e) => visit_expr(e, f),
            StmtKind::If {
                cond,
                then_block,
                else_block,
            } => {
                visit_expr(cond, f);
                visit_block(then_block, f);
                if let Some(b) = else_block {
                    visit_block(b, f);
                }
            }
            StmtKind::For {
                start, end, body, ..
            } => {
                visit_expr(start, f);
                visit_expr(end, f);
                visit_block(body, f);
            }
        }
    }
}

fn visit_expr<'a>(expr: &'a Expr, f: &mut dyn FnMut(Node<'a>)) {
    f(Node::Expr(expr));
    expr.for_each_child(|child| visit_expr(child, f));
}

fn visit_block_mut(block: &mut Block, f: &mut dyn FnMut(NodeMut<'_>)) {
    f(NodeMut::Block(block));
    for stmt in &mut block.stmts {
        f(NodeMut::Stmt(stmt));
        match &mut stmt.kind {
            StmtKind::Let { init: e, .. }
            | StmtKind::Assign { value: e, .. }
            | StmtKind::Return(e) => visit_expr_mut(e, f),
            StmtKind::If {
                cond,
                then_block,
                else_block,
            } => {
                visit_expr_mut(cond, f);
                visit_block_mut(then_block, f);
                if let Some(b) = else_block {
                    visit_block_mut(b, f);
                }
            }
            StmtKind::For {
                start, end, body, ..
            } => {
                visit_expr_mut(start, f);
                visit_expr_mut(end, f);
                visit_block_mut(body, f);
            }
        }
    }
}

fn visit_expr_mut(expr: &mut Expr, f: &mut dyn FnMut(NodeMut<'_>)) {
    f(NodeMut::Expr(expr));
    expr.for_each_child_mut(|child| visit_expr_mut(child, f));
}

impl Expr {
    /// Makes an expression with id 0 and no span (call [`Program::renumber`] after inserting it).
    pub fn new(kind: ExprKind) -> Expr {
        Expr {
            id: NodeId(0),
            span: Span::NONE,
            kind,
        }
    }

    /// The direct sub-expressions, left to right.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Lit(_) | ExprKind::Var(_) => Vec::new(),
            ExprKind::Unary(_, e) | ExprKind::Cast(e, _) => vec![e],
            ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => vec![a, b],
            ExprKind::Call(_, args) => args.iter().collect(),
        }
    }

    /// The direct sub-expressions, left to right, mutably.
    pub fn children_mut(&mut self) -> Vec<&mut Expr> {
        match &mut self.kind {
            ExprKind::Lit(_) | ExprKind::Var(_) => Vec::new(),
            ExprKind::Unary(_, e) | ExprKind::Cast(e, _) => vec![e],
            ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => vec![a, b],
            ExprKind::Call(_, args) => args.iter_mut().collect(),
        }
    }

    /// Calls `f` on each direct sub-expression, left to right, without
    /// allocating (the traversals of the hot paths use this).
    pub fn for_each_child<'a>(&'a self, mut f: impl FnMut(&'a Expr)) {
        match &self.kind {
            ExprKind::Lit(_) | ExprKind::Var(_) => {}
            ExprKind::Unary(_, e) | ExprKind::Cast(e, _) => f(e),
            ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => {
                f(a);
                f(b);
            }
            ExprKind::Call(_, args) => args.iter().for_each(f),
        }
    }

    /// [`for_each_child`](Self::for_each_child), mutably.
    pub fn for_each_child_mut(&mut self, mut f: impl FnMut(&mut Expr)) {
        match &mut self.kind {
            ExprKind::Lit(_) | ExprKind::Var(_) => {}
            ExprKind::Unary(_, e) | ExprKind::Cast(e, _) => f(e),
            ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => {
                f(a);
                f(b);
            }
            ExprKind::Call(_, args) => args.iter_mut().for_each(f),
        }
    }

    /// Number of expression nodes in this tree.
    pub fn size(&self) -> usize {
        let mut n = 1;
        self.for_each_child(|c| n += c.size());
        n
    }

    /// Depth of this tree (a leaf has depth 1).
    pub fn depth(&self) -> usize {
        let mut d = 0;
        self.for_each_child(|c| d = d.max(c.depth()));
        1 + d
    }
}

impl Stmt {
    /// Makes a statement with id 0 and no span.
    pub fn new(kind: StmtKind) -> Stmt {
        Stmt {
            id: NodeId(0),
            span: Span::NONE,
            kind,
        }
    }
}

impl Block {
    /// Makes a block with id 0 and no span.
    pub fn new(stmts: Vec<Stmt>) -> Block {
        Block {
            id: NodeId(0),
            span: Span::NONE,
            stmts,
        }
    }
}
