//! Python's `%` operator and Ansible's lenient `missing.y | default(1)`, which
//! minijinja (3.0.5, as Cargo.lock pins it) does not have: it has no `%` on strings
//! ("tried to use % operator on unsupported types string and number") and no hook
//! for operators, and its strict undefined fails on `missing.y` before `default`
//! sees it.
//!
//! The route: before minijinja compiles a template or expression, [`rewrite`] reads
//! it with minijinja's own lexer (`machinery::tokenize`, so strings, comments and
//! `{% raw %}` are exactly minijinja's) and, at the operator-precedence level where
//! Jinja's parser puts `*`, `/`, `//` and `%`, turns each `a % b` into
//! `__rtmig_percent(a, b)`. That function does what Python does: a string on the left
//! is a printf-style format (a tuple on the right gives the arguments, a mapping the
//! `%(name)s` keys, anything else the one argument), through minijinja's own
//! `format` filter (Jinja2's `format`, which Ansible has too); numbers get Python's
//! floored modulo. Only the `%` tokens and the operands' ends are touched, so the
//! rest of the text, its lines and minijinja's own errors stay as written.
//!
//! `a.b.c | default(x)` (also `d(x)`, and `a['b']`) becomes
//! `(a.b.c if (a is defined and a.b is defined) else __rtmig_undefined) | default(x)`,
//! so an undefined link anywhere in the chain gives the default, as in Ansible;
//! likewise before `is [not] defined`/`undefined` (`missing.y is defined` is false).
//! Anywhere else the chain stays strict.
//!
//! Templates without a `%` operator or a `default` after a chain come back unchanged
//! (borrowed).

use std::borrow::Cow;

use minijinja::machinery::{Span, Token, tokenize};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

/// The function `a % b` becomes.
pub(crate) const PERCENT_FN: &str = "__rtmig_percent";
/// An undefined name: what an undefined link in a defaulted chain gives.
const UNDEFINED_NAME: &str = "__rtmig_undefined";

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function(PERCENT_FN, percent);
}

/// `source` with every `%` operator a call of [`PERCENT_FN`], and chains before
/// `default` lenient. `in_expr`: `source` is a bare expression, not a template.
/// A source the lexer refuses comes back as is (minijinja reports the error).
pub(crate) fn rewrite(source: &str, in_expr: bool) -> Cow<'_, str> {
    let wanted = ["%", "| d", "|d", "defined"];
    if !wanted.iter().any(|w| source.contains(w)) {
        return Cow::Borrowed(source);
    }
    let Ok(tokens) = tokenize(source, in_expr, SyntaxConfig::default())
        .collect::<Result<Vec<(Token<'_>, Span)>, _>>()
    else {
        return Cow::Borrowed(source);
    };
    let mut edits = Vec::new();
    if in_expr {
        level(&tokens, &mut edits);
    } else {
        let mut start = None;
        for (i, (token, _)) in tokens.iter().enumerate() {
            match token {
                Token::VariableStart | Token::BlockStart => start = Some(i + 1),
                Token::VariableEnd | Token::BlockEnd => {
                    if let Some(s) = start.take() {
                        level(&tokens[s..i], &mut edits);
                    }
                }
                _ => {}
            }
        }
    }
    if edits.is_empty() {
        return Cow::Borrowed(source);
    }
    // Closing parentheses before opening ones at the same offset; replacements
    // never share an offset with anything else.
    edits.sort_by_key(|e| (e.at, e.order));
    let mut out = String::with_capacity(source.len() + edits.len() * 20);
    let mut pos = 0;
    for edit in edits {
        if edit.at < pos {
            // Overlapping edits cannot come from one token stream; keep the source.
            return Cow::Borrowed(source);
        }
        out.push_str(&source[pos..edit.at]);
        out.push_str(&edit.text);
        pos = edit.at + edit.replace;
    }
    out.push_str(&source[pos..]);
    Cow::Owned(out)
}

struct Edit {
    at: usize,
    /// Bytes of the source replaced (0: an insertion).
    replace: usize,
    order: u8,
    text: String,
}

fn start(span: &Span) -> usize {
    span.start_offset as usize
}

fn end(span: &Span) -> usize {
    span.end_offset as usize
}

/// Words that end an operand at the level of `*` and `%` (lower precedence, or a
/// statement's own words).
/// (`ignore missing` and the like need no entry: two names side by side start a new
/// operand anyway.)
const BOUNDARY_WORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "if",
    "else",
    "elif",
    "for",
    "recursive",
    "set",
    "do",
    "with",
];

fn opens(token: &Token<'_>) -> bool {
    matches!(
        token,
        Token::ParenOpen | Token::BracketOpen | Token::BraceOpen
    )
}

fn closes(token: &Token<'_>) -> bool {
    matches!(
        token,
        Token::ParenClose | Token::BracketClose | Token::BraceClose
    )
}

fn is_operand(token: &Token<'_>) -> bool {
    matches!(
        token,
        Token::Ident(_)
            | Token::Str(_)
            | Token::String(_)
            | Token::Int(_)
            | Token::Int128(_)
            | Token::Float(_)
    )
}

/// The index of the bracket closing the one at `open`, or the slice's end.
fn matching(tokens: &[(Token<'_>, Span)], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, (token, _)) in tokens.iter().enumerate().skip(open) {
        if opens(token) {
            depth += 1;
        } else if closes(token) {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    tokens.len() - 1
}

/// One run of operands joined by `*`, `/`, `//` and `%` (Jinja's `math2` level).
#[derive(Default)]
struct Chain {
    first: Option<usize>,
    last: usize,
    /// The `%` tokens, and the last token of the operand before each following
    /// operator (filled in as the chain goes on).
    percents: Vec<usize>,
    ops: Vec<usize>,
}

/// Finds the chains at this bracket level (recursing into brackets) and records
/// the edits for their `%` operators and defaulted attribute chains.
fn level(tokens: &[(Token<'_>, Span)], edits: &mut Vec<Edit>) {
    let mut chain = Chain::default();
    // Whether the previous token ends an operand (so `-` after it is binary).
    let mut after_operand = false;
    // Whether the previous token was `.`, `|` or `is` (a name follows, not a word).
    let mut after_name_op = false;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i].0;
        let mut boundary = false;
        let mut last = i;
        if opens(token) {
            let close = matching(tokens, i);
            level(&tokens[i + 1..close], edits);
            last = close;
            after_operand = true;
            after_name_op = false;
        } else {
            match token {
                Token::Mul | Token::Div | Token::FloorDiv | Token::Mod if after_operand => {
                    if matches!(token, Token::Mod) {
                        chain.percents.push(i);
                    }
                    chain.ops.push(i);
                    after_operand = false;
                }
                Token::Plus | Token::Minus if after_operand => boundary = true,
                Token::Plus | Token::Minus | Token::Mul | Token::Pow => {
                    after_operand = false;
                }
                Token::Dot | Token::Pipe => {
                    after_operand = false;
                    after_name_op = true;
                }
                Token::Ident("is") if !after_name_op => {
                    after_operand = false;
                    after_name_op = true;
                    if matches!(tokens.get(i + 1), Some((Token::Ident("not"), _))) {
                        last = i + 1;
                    }
                }
                Token::Ident(word) if !after_name_op && BOUNDARY_WORDS.contains(word) => {
                    boundary = true;
                }
                t if is_operand(t) => {
                    if after_operand && !after_name_op {
                        // Two operands side by side (`set x`): a new chain.
                        finish(tokens, &mut chain, edits);
                    }
                    after_operand = true;
                    after_name_op = false;
                }
                _ => boundary = true,
            }
        }
        if boundary {
            finish(tokens, &mut chain, edits);
            after_operand = false;
            after_name_op = false;
        } else {
            if chain.first.is_none() {
                chain.first = Some(i);
            }
            chain.last = last;
        }
        i = last + 1;
    }
    finish(tokens, &mut chain, edits);
}

/// Records the edits for a finished chain and starts a new one.
fn finish(tokens: &[(Token<'_>, Span)], chain: &mut Chain, edits: &mut Vec<Edit>) {
    let done = std::mem::take(chain);
    let Some(first) = done.first else {
        return;
    };
    // Each operand (between operators) may be a defaulted attribute chain.
    let mut operand_start = first;
    for &op in done.ops.iter().chain(std::iter::once(&(done.last + 1))) {
        lenient_default(&tokens[operand_start..op.min(tokens.len())], edits);
        operand_start = op + 1;
    }
    for &percent in &done.percents {
        // The right operand ends before the next operator, or with the chain.
        let right_end = done
            .ops
            .iter()
            .find(|&&op| op > percent)
            .map_or(done.last, |&op| op - 1);
        if right_end <= percent {
            // No right operand: minijinja reports the syntax error as written.
            continue;
        }
        edits.push(Edit {
            at: start(&tokens[first].1),
            replace: 0,
            order: 1,
            text: format!("{PERCENT_FN}("),
        });
        edits.push(Edit {
            at: start(&tokens[percent].1),
            replace: end(&tokens[percent].1) - start(&tokens[percent].1),
            order: 1,
            text: ",".to_string(),
        });
        edits.push(Edit {
            at: end(&tokens[right_end].1),
            replace: 0,
            order: 0,
            text: ")".to_string(),
        });
    }
}

/// `a.b.c | default(..)` (or `a.b.c is defined`) in an operand: the edits that make
/// an undefined link give the default (or the test's answer for an undefined value).
fn lenient_default(operand: &[(Token<'_>, Span)], edits: &mut Vec<Edit>) {
    let Some((Token::Ident(_), head)) = operand.first() else {
        return;
    };
    // The link ends: `a`, `a.b`, `a['b']`, ...
    let mut ends = vec![0];
    let mut i = 1;
    loop {
        match (operand.get(i), operand.get(i + 1), operand.get(i + 2)) {
            (Some((Token::Dot, _)), Some((Token::Ident(_) | Token::Int(_), _)), _) => {
                ends.push(i + 1);
                i += 2;
            }
            (
                Some((Token::BracketOpen, _)),
                Some((Token::Str(_) | Token::String(_) | Token::Int(_), _)),
                Some((Token::BracketClose, _)),
            ) => {
                ends.push(i + 2);
                i += 3;
            }
            _ => break,
        }
    }
    let tested = |at: usize| {
        matches!(
            operand.get(at),
            Some((Token::Ident("defined" | "undefined"), _))
        )
    };
    let defaulted = match (operand.get(i), operand.get(i + 1)) {
        (Some((Token::Pipe, _)), Some((Token::Ident("default" | "d"), _))) => true,
        (Some((Token::Ident("is"), _)), Some((Token::Ident("not"), _))) => tested(i + 2),
        (Some((Token::Ident("is"), _)), _) => tested(i + 1),
        _ => false,
    };
    if !defaulted || ends.len() < 2 {
        return;
    }
    let text_of = |to: usize| -> String {
        operand[..=to]
            .iter()
            .map(|(token, _)| token_text(token))
            .collect()
    };
    let tests: Vec<String> = ends[..ends.len() - 1]
        .iter()
        .map(|&to| format!("{} is defined", text_of(to)))
        .collect();
    edits.push(Edit {
        at: start(head),
        replace: 0,
        // After a `__rtmig_percent(` that starts at the same token.
        order: 2,
        text: "(".to_string(),
    });
    edits.push(Edit {
        at: end(&operand[i - 1].1),
        replace: 0,
        order: 0,
        text: format!(" if ({}) else {UNDEFINED_NAME})", tests.join(" and ")),
    });
}

/// A link token as source text again (strings re-quoted for minijinja).
fn token_text(token: &Token<'_>) -> String {
    match token {
        Token::Ident(name) => (*name).to_string(),
        Token::Dot => ".".to_string(),
        Token::BracketOpen => "[".to_string(),
        Token::BracketClose => "]".to_string(),
        Token::Int(n) => n.to_string(),
        Token::Str(s) => json_quoted(s),
        Token::String(s) => json_quoted(s),
        other => other.to_string(),
    }
}

fn json_quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

// ----- the operator -----

/// `a % b` as Python computes it.
fn percent(state: &mut State, left: &Value, right: &Value) -> Result<Value, Error> {
    super::filters::defined(state, left)?;
    if let Some(format) = left.as_str() {
        super::filters::defined(state, right)?;
        let args: Vec<Value> = if right.is_tuple() {
            right.try_iter()?.collect()
        } else {
            vec![right.clone()]
        };
        return printf(state, format, args);
    }
    super::filters::defined(state, right)?;
    modulo(left, right)
}

fn unsupported(left: &Value, right: &Value) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "tried to use % operator on unsupported types {} and {}",
            left.kind(),
            right.kind()
        ),
    )
}

/// Python's `%` on numbers: the result has the divisor's sign.
fn modulo(left: &Value, right: &Value) -> Result<Value, Error> {
    if left.kind() != ValueKind::Number || right.kind() != ValueKind::Number {
        return Err(unsupported(left, right));
    }
    let zero = || Error::new(ErrorKind::InvalidOperation, "modulo by zero");
    if left.is_integer() && right.is_integer() {
        let (Ok(a), Ok(b)) = (i128::try_from(left.clone()), i128::try_from(right.clone())) else {
            return Err(unsupported(left, right));
        };
        if b == 0 {
            return Err(zero());
        }
        let r = a.rem_euclid(b);
        let r = if b < 0 && r != 0 { r + b } else { r };
        return Ok(i64::try_from(r).map_or_else(|_| Value::from(r), Value::from));
    }
    let (Ok(a), Ok(b)) = (f64::try_from(left.clone()), f64::try_from(right.clone())) else {
        return Err(unsupported(left, right));
    };
    if b == 0.0 {
        return Err(zero());
    }
    let mut r = a % b;
    if r == 0.0 {
        r = 0.0f64.copysign(b);
    } else if (r < 0.0) != (b < 0.0) {
        r += b;
    }
    Ok(Value::from(r))
}

/// A printf-style format applied by minijinja's `format` filter, after the
/// conversions it lacks: `%r` and `%a` (Python's `repr`) become `%s` of the repr,
/// `%u` becomes `%d`, and a float for `%d` is truncated as Python does.
fn printf(state: &mut State, format: &str, mut args: Vec<Value>) -> Result<Value, Error> {
    let mut fixed = String::with_capacity(format.len());
    let mut arg = 0usize;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        fixed.push(c);
        if c != '%' {
            continue;
        }
        let mut keyed = false;
        // Flags, `(key)`, width, precision, length: copied; `*` takes an argument.
        while let Some(&(_, c)) = chars.peek() {
            match c {
                '(' => {
                    keyed = true;
                    for (_, k) in chars.by_ref() {
                        fixed.push(k);
                        if k == ')' {
                            break;
                        }
                    }
                    continue;
                }
                '*' => arg += 1,
                '#' | '0'..='9' | '-' | '+' | ' ' | '.' => {}
                'h' | 'l' | 'L' => {
                    chars.next();
                    continue;
                }
                _ => break,
            }
            fixed.push(c);
            chars.next();
        }
        let Some((_, conv)) = chars.next() else {
            break;
        };
        match conv {
            '%' => fixed.push('%'),
            'r' | 'a' => {
                fixed.push('s');
                // `%(key)r` shows the mapping's value as `%(key)s` does.
                if !keyed && let Some(value) = args.get_mut(arg) {
                    *value = Value::from(repr(value));
                }
                arg += 1;
            }
            'd' | 'i' | 'u' => {
                // Python truncates a float for an integer conversion.
                fixed.push('d');
                if !keyed
                    && let Some(value) = args.get_mut(arg)
                    && !value.is_integer()
                    && let Ok(f) = f64::try_from(value.clone())
                {
                    *value = Value::from(f.trunc() as i64);
                }
                arg += 1;
            }
            other => {
                fixed.push(other);
                arg += 1;
            }
        }
    }
    let mut call = Vec::with_capacity(args.len() + 1);
    call.push(Value::from(fixed));
    call.extend(args);
    state.apply_filter("format", &call)
}

/// Python's `repr`: strings quoted, other values as they print (minijinja prints
/// lists and dicts as Python does).
fn repr(value: &Value) -> String {
    if value.kind() == ValueKind::String {
        // A one-item list prints its string item with Python's quoting.
        let list = Value::from(vec![value.clone()]).to_string();
        return list[1..list.len() - 1].to_string();
    }
    match value.kind() {
        ValueKind::None => "None".to_string(),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests;
