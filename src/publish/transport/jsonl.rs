//! JSON Lines: one message per line, to stdout or a file that rotates by size or
//! age (the current file keeps its name; rotated ones get `.1`, `.2`, ... in the
//! order they were closed). A batch is written and flushed before it counts as
//! sent.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::super::outbox::Message;
use super::Transport;

pub struct JsonLines {
    target: Target,
    max_bytes: u64,
    max_age: Option<Duration>,
    out: Option<Open>,
    rotated: u64,
}

enum Target {
    Stdout,
    File(PathBuf),
}

struct Open {
    writer: BufWriter<Box<dyn Write + Send>>,
    bytes: u64,
    opened: Instant,
}

impl JsonLines {
    pub fn stdout() -> Self {
        Self::new(Target::Stdout, 0, 0)
    }

    pub fn file(path: PathBuf, max_bytes: u64, max_seconds: u64) -> Self {
        Self::new(Target::File(path), max_bytes, max_seconds)
    }

    fn new(target: Target, max_bytes: u64, max_seconds: u64) -> Self {
        Self {
            target,
            max_bytes,
            max_age: (max_seconds > 0).then(|| Duration::from_secs(max_seconds)),
            out: None,
            rotated: 0,
        }
    }

    fn open(&mut self) -> Result<(), String> {
        let (writer, bytes): (Box<dyn Write + Send>, u64) = match &self.target {
            Target::Stdout => (Box::new(std::io::stdout()), 0),
            Target::File(path) => {
                let file: File = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
                (Box::new(file), bytes)
            }
        };
        self.out = Some(Open {
            writer: BufWriter::with_capacity(64 * 1024, writer),
            bytes,
            opened: Instant::now(),
        });
        Ok(())
    }

    /// Closes the current file as `<path>.<n>` and opens a new one, when it is due.
    fn rotate_if_due(&mut self, next: u64) -> Result<(), String> {
        let Target::File(path) = &self.target else {
            return Ok(());
        };
        let Some(open) = &self.out else {
            return Ok(());
        };
        let too_big = self.max_bytes > 0 && open.bytes > 0 && open.bytes + next > self.max_bytes;
        let too_old = self.max_age.is_some_and(|age| open.opened.elapsed() >= age);
        if !(too_big || too_old) {
            return Ok(());
        }
        let path = path.clone();
        if let Some(mut open) = self.out.take() {
            open.writer
                .flush()
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let mut rotated = path.clone().into_os_string();
        loop {
            self.rotated += 1;
            let mut candidate = rotated.clone();
            candidate.push(format!(".{}", self.rotated));
            if !PathBuf::from(&candidate).exists() {
                rotated = candidate;
                break;
            }
        }
        std::fs::rename(&path, &rotated)
            .map_err(|e| format!("cannot rotate {}: {e}", path.display()))?;
        self.open()
    }
}

impl Transport for JsonLines {
    fn connect(&mut self) -> Result<(), String> {
        if self.out.is_none() {
            self.open()?;
        }
        Ok(())
    }

    fn send(&mut self, batch: &[Message]) -> Result<(), (usize, String)> {
        for (written, message) in batch.iter().enumerate() {
            let line = message.payload.len() as u64 + 1;
            self.rotate_if_due(line).map_err(|e| (written, e))?;
            let Some(open) = self.out.as_mut() else {
                return Err((written, "the file is not open".into()));
            };
            let result = open
                .writer
                .write_all(&message.payload)
                .and_then(|()| open.writer.write_all(b"\n"));
            if let Err(e) = result {
                self.out = None;
                return Err((written, format!("cannot write: {e}")));
            }
            open.bytes += line;
        }
        if let Some(open) = self.out.as_mut() {
            if let Err(e) = open.writer.flush() {
                self.out = None;
                // What was flushed before is unknown: the batch goes again.
                return Err((0, format!("cannot write: {e}")));
            }
        }
        Ok(())
    }
}
