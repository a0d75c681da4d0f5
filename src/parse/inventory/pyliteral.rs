//! The two bits of Python that Ansible's INI inventory reader leans on, redone exactly
//! enough for inventories: `shlex.split(line, comments=True)` (host lines, in
//! [`crate::shell_words`]) and `ast.literal_eval` (every `key=value`: `1` is a number, `True` a boolean, `80,443` a
//! list, `'x'` a string, anything else stays the text it was). Pure functions.

use serde_json::{Map, Number, Value};

/// `ast.literal_eval(text)` as Ansible's INI reader uses it: the value when the whole
/// text is a Python literal, else `None` (the caller keeps the text as a string).
pub fn literal_eval(text: &str) -> Option<Value> {
    let text = text.trim_start_matches([' ', '\t']);
    let mut p = LitParser {
        s: text.as_bytes(),
        src: text,
        i: 0,
    };
    let v = p.expr_list()?;
    p.skip_ws();
    if p.i != p.s.len() {
        return None;
    }
    v.into_value()
}

/// A parsed literal before conversion: Python keeps complex numbers and sets apart.
enum Lit {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Complex(String),
    Str(String),
    /// bytes literals become text in Ansible
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
    Ellipsis,
}

impl Lit {
    fn into_value(self) -> Option<Value> {
        Some(match self {
            Lit::Null => Value::Null,
            Lit::Bool(b) => Value::Bool(b),
            Lit::Int(i) => int_value(i),
            Lit::Float(f) => Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(py_float_text(f))),
            Lit::Complex(s) => Value::String(s),
            Lit::Str(s) => Value::String(s),
            Lit::Ellipsis => Value::String("...".into()),
            Lit::List(items) => Value::Array(
                items
                    .into_iter()
                    .map(Lit::into_value)
                    .collect::<Option<Vec<_>>>()?,
            ),
            Lit::Dict(pairs) => {
                let mut m = Map::new();
                for (k, v) in pairs {
                    let key = match k {
                        Lit::Str(s) => s,
                        Lit::Int(i) => i.to_string(),
                        Lit::Bool(b) => b.to_string(),
                        Lit::Null => "null".into(),
                        Lit::Float(f) => py_float_text(f),
                        // lists and dicts cannot be keys in Python
                        Lit::List(_) | Lit::Dict(_) => return None,
                        Lit::Complex(s) => s,
                        Lit::Ellipsis => "...".into(),
                    };
                    m.insert(key, v.into_value()?);
                }
                Value::Object(m)
            }
        })
    }
}

fn int_value(i: i128) -> Value {
    if let Ok(v) = i64::try_from(i) {
        Value::from(v)
    } else if let Ok(v) = u64::try_from(i) {
        Value::from(v)
    } else {
        Value::from(i as f64)
    }
}

fn py_float_text(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        super::output::py_float(f)
    }
}

struct LitParser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl LitParser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b' ' | b'\t' | b'\x0c' => self.i += 1,
                // a comment runs to the end of the (single) line
                b'#' => self.i = self.s.len(),
                _ => break,
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// `a` or `a, b, ...` (a tuple, which Ansible turns into a list).
    fn expr_list(&mut self) -> Option<Lit> {
        let first = self.expr()?;
        if self.peek() != Some(b',') {
            return Some(first);
        }
        let mut items = vec![first];
        while self.eat(b',') {
            match self.peek() {
                None | Some(b')') | Some(b']') | Some(b'}') => break,
                _ => items.push(self.expr()?),
            }
        }
        Some(Lit::List(items))
    }

    /// One literal, with an optional sign and a complex `a+bj` form.
    fn expr(&mut self) -> Option<Lit> {
        self.skip_ws();
        let start = self.i;
        let left = self.signed()?;
        if matches!(left, Lit::Int(_) | Lit::Float(_)) && matches!(self.peek(), Some(b'+' | b'-')) {
            self.i += 1;
            return match self.atom()? {
                Lit::Complex(_) => {
                    let text: String = self.src[start..self.i]
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .collect();
                    Some(Lit::Complex(format!("({text})")))
                }
                _ => None,
            };
        }
        Some(left)
    }

    fn signed(&mut self) -> Option<Lit> {
        match self.peek() {
            Some(b'-') => {
                self.i += 1;
                match self.atom()? {
                    Lit::Int(i) => Some(Lit::Int(-i)),
                    Lit::Float(f) => Some(Lit::Float(-f)),
                    Lit::Complex(s) => Some(Lit::Complex(format!("-{s}"))),
                    _ => None,
                }
            }
            Some(b'+') => {
                self.i += 1;
                match self.atom()? {
                    n @ (Lit::Int(_) | Lit::Float(_) | Lit::Complex(_)) => Some(n),
                    _ => None,
                }
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Option<Lit> {
        let c = self.peek()?;
        match c {
            b'[' => {
                self.i += 1;
                let items = self.items(b']')?;
                Some(Lit::List(items))
            }
            b'(' => {
                self.i += 1;
                if self.eat(b')') {
                    return Some(Lit::List(Vec::new()));
                }
                let inner = self.expr_list()?;
                if !self.eat(b')') {
                    return None;
                }
                Some(inner)
            }
            b'{' => {
                self.i += 1;
                if self.eat(b'}') {
                    return Some(Lit::Dict(Vec::new()));
                }
                let first = self.expr()?;
                if self.eat(b':') {
                    let mut pairs = vec![(first, self.expr()?)];
                    while self.eat(b',') {
                        if self.peek() == Some(b'}') {
                            break;
                        }
                        let k = self.expr()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        pairs.push((k, self.expr()?));
                    }
                    if !self.eat(b'}') {
                        return None;
                    }
                    // a later key replaces an earlier equal one
                    let mut dedup: Vec<(Lit, Lit)> = Vec::new();
                    for (k, v) in pairs {
                        let key_text = lit_key(&k);
                        match dedup
                            .iter_mut()
                            .find(|(dk, _)| key_text.is_some() && lit_key(dk) == key_text)
                        {
                            Some(slot) => slot.1 = v,
                            None => dedup.push((k, v)),
                        }
                    }
                    Some(Lit::Dict(dedup))
                } else {
                    // a set: Ansible turns it into a list
                    let mut items = vec![first];
                    while self.eat(b',') {
                        if self.peek() == Some(b'}') {
                            break;
                        }
                        items.push(self.expr()?);
                    }
                    if !self.eat(b'}') {
                        return None;
                    }
                    Some(Lit::List(items))
                }
            }
            b'.' if self.s[self.i..].starts_with(b"...") => {
                self.i += 3;
                Some(Lit::Ellipsis)
            }
            b'0'..=b'9' | b'.' => self.number(),
            b'\'' | b'"' => self.strings(),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
                {
                    self.i += 1;
                }
                let word = &self.src[start..self.i];
                if matches!(self.s.get(self.i), Some(b'\'' | b'"')) {
                    // a string prefix: r, b, u, rb, br (f-strings are not literals)
                    let lower = word.to_ascii_lowercase();
                    if matches!(lower.as_str(), "r" | "b" | "u" | "rb" | "br") {
                        self.i = start;
                        return self.strings();
                    }
                    return None;
                }
                match word {
                    "True" => Some(Lit::Bool(true)),
                    "False" => Some(Lit::Bool(false)),
                    "None" => Some(Lit::Null),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn items(&mut self, close: u8) -> Option<Vec<Lit>> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Some(items);
        }
        loop {
            items.push(self.expr()?);
            if self.eat(close) {
                return Some(items);
            }
            if !self.eat(b',') {
                return None;
            }
            if self.eat(close) {
                return Some(items);
            }
        }
    }

    fn number(&mut self) -> Option<Lit> {
        let start = self.i;
        let s = self.s;
        let mut i = self.i;
        let digits = |i: &mut usize, ok: &dyn Fn(u8) -> bool| -> bool {
            // digits with single underscores between them
            let begin = *i;
            while *i < s.len()
                && (ok(s[*i]) || (s[*i] == b'_' && *i > begin && *i + 1 < s.len() && ok(s[*i + 1])))
            {
                *i += 1;
            }
            *i > begin
        };
        let dec = |c: u8| c.is_ascii_digit();
        let end_ok = |i: usize| {
            i >= s.len() || !(s[i].is_ascii_alphanumeric() || s[i] == b'_' || s[i] == b'.')
        };
        // hex, octal, binary
        if s[i] == b'0'
            && i + 1 < s.len()
            && matches!(s[i + 1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
        {
            let radix = match s[i + 1] {
                b'x' | b'X' => 16,
                b'o' | b'O' => 8,
                _ => 2,
            };
            i += 2;
            if i < s.len() && s[i] == b'_' {
                i += 1;
            }
            let begin = i;
            let ok = move |c: u8| (c as char).is_digit(radix);
            if !digits(&mut i, &ok) || !end_ok(i) {
                return None;
            }
            let text: String = self.src[begin..i].chars().filter(|&c| c != '_').collect();
            self.i = i;
            return i128::from_str_radix(&text, radix).ok().map(Lit::Int);
        }
        let int_start = i;
        let has_int = digits(&mut i, &dec);
        let mut is_float = false;
        if i < s.len() && s[i] == b'.' {
            is_float = true;
            i += 1;
            let has_frac = digits(&mut i, &dec);
            if !has_int && !has_frac {
                return None;
            }
        } else if !has_int {
            return None;
        }
        if i < s.len() && matches!(s[i], b'e' | b'E') {
            let mut j = i + 1;
            if j < s.len() && matches!(s[j], b'+' | b'-') {
                j += 1;
            }
            if digits(&mut j, &dec) {
                is_float = true;
                i = j;
            } else {
                return None;
            }
        }
        if i < s.len() && matches!(s[i], b'j' | b'J') {
            i += 1;
            if !end_ok(i) {
                return None;
            }
            self.i = i;
            let text = &self.src[start..i];
            return Some(Lit::Complex(complex_text(text)));
        }
        if !end_ok(i) {
            return None;
        }
        let text: String = self.src[start..i].chars().filter(|&c| c != '_').collect();
        self.i = i;
        if is_float {
            text.parse::<f64>().ok().map(Lit::Float)
        } else {
            // Python refuses leading zeros in decimal integers ("0755"), except all zeros.
            let int_text = &self.src[int_start..i];
            if int_text.len() > 1
                && int_text.starts_with('0')
                && int_text.chars().any(|c| c != '0' && c != '_')
            {
                return None;
            }
            text.parse::<i128>().ok().map(Lit::Int)
        }
    }

    /// One or more adjacent string literals ("a" 'b' -> "ab"), each with an optional
    /// prefix (r, b, u, rb, br; f-strings are not literals).
    fn strings(&mut self) -> Option<Lit> {
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_alphabetic() {
                self.i += 1;
            }
            let prefix = self.src[start..self.i].to_ascii_lowercase();
            if !matches!(prefix.as_str(), "" | "r" | "b" | "u" | "rb" | "br") {
                return None;
            }
            let q = match self.s.get(self.i) {
                Some(&q @ (b'\'' | b'"')) => q,
                _ => return None,
            };
            out.push_str(&self.string_body(q, prefix.contains('r'))?);
            // Another string literal right after is concatenated.
            let save = self.i;
            self.skip_ws();
            let mut j = self.i;
            while j < self.s.len() && self.s[j].is_ascii_alphabetic() {
                j += 1;
            }
            if !matches!(self.s.get(j), Some(b'\'' | b'"')) {
                self.i = save;
                return Some(Lit::Str(out));
            }
        }
    }

    fn string_body(&mut self, q: u8, raw: bool) -> Option<String> {
        let triple = self.s[self.i..].starts_with(&[q, q, q]);
        let qlen = if triple { 3 } else { 1 };
        self.i += qlen;
        let body_start = self.i;
        loop {
            if self.i >= self.s.len() {
                return None;
            }
            let c = self.s[self.i];
            if c == b'\\' {
                self.i += 2;
                continue;
            }
            if c == q && (!triple || self.s[self.i..].starts_with(&[q, q, q])) {
                break;
            }
            if !triple && c == b'\n' {
                return None;
            }
            self.i += 1;
        }
        if self.i > self.s.len() {
            return None;
        }
        let body = &self.src[body_start..self.i];
        self.i += qlen;
        Some(if raw {
            body.to_string()
        } else {
            unescape(body)
        })
    }
}

fn lit_key(l: &Lit) -> Option<String> {
    match l {
        Lit::Str(s) => Some(format!("s{s}")),
        Lit::Int(i) => Some(format!("n{i}")),
        Lit::Bool(b) => Some(format!("n{}", i32::from(*b))),
        Lit::Float(f) if f.fract() == 0.0 && f.abs() < 1e18 => Some(format!("n{}", *f as i128)),
        Lit::Float(f) => Some(format!("f{f}")),
        Lit::Null => Some("None".into()),
        _ => None,
    }
}

/// Python's `str(complex)` for a literal such as `2j` or `1.5J`.
fn complex_text(text: &str) -> String {
    let num = &text[..text.len() - 1];
    let cleaned: String = num.chars().filter(|&c| c != '_').collect();
    match cleaned.parse::<f64>() {
        Ok(f) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{}j", f as i64),
        Ok(f) => format!("{}j", super::output::py_float(f)),
        Err(_) => text.to_string(),
    }
}

fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        match e {
            '\n' => {}
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n)
                    .filter_map(|_| chars.next_if(|c| c.is_ascii_hexdigit()))
                    .collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == n => out.push(ch),
                    _ => {
                        out.push('\\');
                        out.push(e);
                        out.push_str(&hex);
                    }
                }
            }
            '0'..='7' => {
                let mut oct = String::from(e);
                while oct.len() < 3 {
                    match chars.next_if(|c| ('0'..='7').contains(c)) {
                        Some(d) => oct.push(d),
                        None => break,
                    }
                }
                if let Some(ch) = u32::from_str_radix(&oct, 8).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            other => {
                // Python keeps unknown escapes as they are (with a warning).
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals_are_typed_like_literal_eval() {
        let cases: &[(&str, Option<Value>)] = &[
            ("1", Some(json!(1))),
            ("-3", Some(json!(-3))),
            ("1_000", Some(json!(1000))),
            ("0x1f", Some(json!(31))),
            ("0o17", Some(json!(15))),
            ("1.5", Some(json!(1.5))),
            ("1e3", Some(json!(1000.0))),
            ("True", Some(json!(true))),
            ("None", Some(Value::Null)),
            ("'x'", Some(json!("x"))),
            ("\"a\" 'b'", Some(json!("ab"))),
            ("[1, 'a', [True]]", Some(json!([1, "a", [true]]))),
            ("80,443", Some(json!([80, 443]))),
            ("(1,)", Some(json!([1]))),
            ("{'a': 1, 'b': [2]}", Some(json!({"a": 1, "b": [2]}))),
            ("1 # comment", Some(json!(1))),
            ("0755", None),
            ("yes", None),
            ("true", None),
            ("10.0.0.1", None),
            ("a b", None),
            ("{a:1}", None),
            ("1+2", None),
            ("f'x'", None),
            ("--1", None),
            ("/etc/hosts", None),
            ("1abc", None),
        ];
        for (text, want) in cases {
            assert_eq!(&literal_eval(text), want, "literal_eval({text:?})");
        }
    }

    #[test]
    fn string_escapes_follow_python() {
        assert_eq!(
            literal_eval(r"'a\nb\x41\u00e9'"),
            Some(json!("a\nbA\u{e9}"))
        );
        assert_eq!(literal_eval(r"r'a\nb'"), Some(json!("a\\nb")));
    }
}
