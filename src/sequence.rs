//! `with_sequence`'s spec (Ansible's `sequence` lookup): parsed when the playbook is
//! read (a bad literal spec is an error at its place) and expanded when the loop
//! runs. A leaf: it uses nothing of the crate.

use minijinja::Value;

/// `with_sequence`: `start=1 end=5 stride=1 format=%d`, `count=`, or the short form
/// `[start-]end[/stride][:format]`; or the same keys as a mapping.
#[derive(Debug, PartialEq)]
pub struct Sequence {
    start: i64,
    end: i64,
    stride: i64,
    format: String,
    /// `count=0`: no items.
    empty: bool,
}

impl Sequence {
    pub fn parse(text: &str) -> Result<Sequence, String> {
        let mut seq = Sequence {
            start: 1,
            end: 0,
            stride: 1,
            format: "%d".to_string(),
            empty: false,
        };
        let mut count = None;
        let mut end_set = false;
        let text = text.trim();
        if !text.contains('=') {
            // Short form: [start-]end[/stride][:format].
            let (range, format) = match text.split_once(':') {
                Some((r, f)) => (r, Some(f)),
                None => (text, None),
            };
            let (range, stride) = match range.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (range, None),
            };
            let (start, end) = match range.split_once('-') {
                Some((s, e)) => (Some(s), e),
                None => (None, range),
            };
            if let Some(s) = start {
                seq.start = int("start", s)?;
            }
            seq.end = int("end", end)?;
            if let Some(s) = stride {
                seq.stride = int("stride", s)?;
            }
            if let Some(f) = format {
                seq.format = f.to_string();
            }
            seq.check()?;
            return Ok(seq);
        }
        for word in text.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                return Err(format!(
                    "with_sequence: `{word}` is not key=value (start=, end=, count=, stride=, format=)"
                ));
            };
            match key {
                "start" => seq.start = int(key, value)?,
                "end" => {
                    seq.end = int(key, value)?;
                    end_set = true;
                }
                "count" => count = Some(int(key, value)?),
                "stride" => seq.stride = int(key, value)?,
                "format" => seq.format = value.to_string(),
                other => {
                    return Err(format!(
                        "with_sequence: unknown key `{other}` (start, end, count, stride, format)"
                    ));
                }
            }
        }
        seq.finish(count, end_set)?;
        Ok(seq)
    }

    fn finish(&mut self, count: Option<i64>, end_set: bool) -> Result<(), String> {
        match (count, end_set) {
            (Some(_), true) => return Err("with_sequence: `count` and `end` are exclusive".into()),
            (None, false) => return Err("with_sequence: needs `end` or `count`".into()),
            (Some(0), false) => {
                self.empty = true;
                self.end = self.start;
            }
            (Some(count), false) => self.end = self.start + (count - 1) * self.stride,
            _ => {}
        }
        self.check()
    }

    fn check(&self) -> Result<(), String> {
        if self.stride == 0 && self.start != self.end {
            return Err("with_sequence: stride 0 never reaches `end`".into());
        }
        if self.stride > 0 && self.end < self.start {
            return Err("with_sequence: to count backwards make stride negative".into());
        }
        if self.stride < 0 && self.end > self.start {
            return Err("with_sequence: to count forward do not make stride negative".into());
        }
        let conversions = self.format.matches('%').count() - 2 * self.format.matches("%%").count();
        if conversions != 1 {
            return Err(format!(
                "with_sequence: format `{}` must have exactly one `%` conversion",
                self.format
            ));
        }
        Ok(())
    }

    /// The items, each number through `format`.
    pub fn items(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        if self.empty {
            return Ok(out);
        }
        let mut n = self.start;
        loop {
            if (self.stride >= 0 && n > self.end) || (self.stride < 0 && n < self.end) {
                break;
            }
            out.push(format_one(&self.format, n)?);
            if self.stride == 0 || out.len() > 1_000_000 {
                break;
            }
            n += self.stride;
        }
        Ok(out)
    }
}

/// A decimal integer (ansible-core 2.21 refuses `0x0a` too).
fn int(key: &str, value: &str) -> Result<i64, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("with_sequence: `{key}` must be an integer, got `{value}`"))
}

/// One number through a printf format (`%02d`, `host%x`).
fn format_one(format: &str, n: i64) -> Result<String, String> {
    minijinja::formatting::format(
        minijinja::formatting::FormatStyle::Printf,
        format,
        &[Value::from(n)],
    )
    .map_err(|e| format!("with_sequence: format `{format}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::Sequence;

    #[test]
    fn bad_sequences_are_refused() {
        for (spec, message) in [
            ("start=1 end=5 format=%02d%d", "exactly one `%` conversion"),
            ("start=1 end=x", "`end` must be an integer"),
            ("start=1 end=5 step=2", "unknown key `step`"),
            ("start=5 end=1", "stride negative"),
            ("start=1", "needs `end` or `count`"),
            ("start=1 end=3 count=2", "exclusive"),
        ] {
            let err = Sequence::parse(spec).unwrap_err();
            assert!(err.contains(message), "{spec}: {err}");
        }
    }

    #[test]
    fn sequences_expand_as_ansible() {
        let items = |s: &str| Sequence::parse(s).unwrap().items().unwrap();
        assert_eq!(items("start=1 end=3 format=%02d"), ["01", "02", "03"]);
        assert!(Sequence::parse("0x0a-0x0c").is_err());
        assert_eq!(items("count=0"), Vec::<String>::new());
    }
}
