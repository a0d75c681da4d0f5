//! `--output json`: every event as one JSON object per line on standard output.

use std::io::Write;

use super::{Event, Listener};

pub struct JsonLines<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines { out }
    }
}

impl<W: Write + Send> Listener for JsonLines<W> {
    fn name(&self) -> &'static str {
        "JSON"
    }

    fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, event)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
