//! The report's input: files or stdin, plain or gzip, read a line at a time in a buffer of fixed size, with a progress bar on a terminal.
//!
//! Compression is told by the gzip magic bytes, not the file name, so a
//! rotated `events.log.1.gz`, an unnamed pipe and a renamed file all read
//! the same; concatenated gzip members (`cat a.gz b.gz`) read as one stream.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;

use flate2::bufread::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::ReportError;

/// Longer lines are skipped and counted as malformed: a shadow line is a
/// few kilobytes, and a line's buffer must not grow with a damaged file.
pub const MAX_LINE_BYTES: usize = 1 << 20;
const READ_BUFFER_BYTES: usize = 256 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// One input: a file, or `-` for stdin.
#[derive(Debug, Clone)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    pub fn parse(argument: &str) -> Self {
        if argument == "-" {
            Source::Stdin
        } else {
            Source::File(argument.into())
        }
    }

    pub fn name(&self) -> String {
        match self {
            Source::Stdin => "-".into(),
            Source::File(path) => path.display().to_string(),
        }
    }
}

/// What [`Lines::next_line`] found.
pub enum Next<'a> {
    Line(&'a [u8]),
    /// A line over [`MAX_LINE_BYTES`], skipped to its end.
    TooLong,
}

/// The lines of one source, decompressed when it is gzip.
pub struct Lines {
    reader: Box<dyn BufRead>,
    line: Vec<u8>,
    name: String,
}

impl Lines {
    /// Opens `source`; file reads advance `progress`.
    pub fn open(source: &Source, progress: &ProgressBar) -> Result<Self, ReportError> {
        let name = source.name();
        let raw: Box<dyn Read> = match source {
            Source::Stdin => Box::new(io::stdin().lock()),
            Source::File(path) => {
                let file = File::open(path).map_err(|err| ReportError::Open {
                    path: name.clone(),
                    source: err,
                })?;
                Box::new(progress.wrap_read(file))
            }
        };
        let mut buffered = BufReader::with_capacity(READ_BUFFER_BYTES, raw);
        let head = buffered.fill_buf().map_err(|err| ReportError::Read {
            path: name.clone(),
            source: err,
        })?;
        let reader: Box<dyn BufRead> = if head.starts_with(&GZIP_MAGIC) {
            Box::new(BufReader::with_capacity(
                READ_BUFFER_BYTES,
                MultiGzDecoder::new(buffered),
            ))
        } else {
            Box::new(buffered)
        };
        Ok(Self {
            reader,
            line: Vec::new(),
            name,
        })
    }

    /// The next line without its `\n` (or `\r\n`), or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<Next<'_>>, ReportError> {
        self.line.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(bytes) => bytes,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return Err(ReportError::Read {
                        path: self.name.clone(),
                        source: err,
                    });
                }
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (&available[..end], end + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long && self.line.len() + chunk.len() <= MAX_LINE_BYTES {
                self.line.extend_from_slice(chunk);
            } else {
                too_long = true;
                self.line.clear();
            }
            self.reader.consume(used);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        if too_long {
            return Ok(Some(Next::TooLong));
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(Some(Next::Line(&self.line)))
    }
}

/// A bar over the files' total size, drawn only when stderr is a terminal
/// and the input is files: piped, or on stdin, nothing is drawn.
pub fn progress(sources: &[Source]) -> ProgressBar {
    let files: Vec<&PathBuf> = sources
        .iter()
        .filter_map(|s| match s {
            Source::File(path) => Some(path),
            Source::Stdin => None,
        })
        .collect();
    if files.len() != sources.len() || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total = files
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|m| m.len())
        .sum();
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(bytes: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut lines = Lines {
            reader: Box::new(io::Cursor::new(bytes.to_vec())),
            line: Vec::new(),
            name: "test".into(),
        };
        let mut out = Vec::new();
        while let Some(next) = lines.next_line().expect("reads") {
            out.push(match next {
                Next::Line(line) => Some(line.to_vec()),
                Next::TooLong => None,
            });
        }
        out
    }

    #[test]
    fn lines_end_at_newlines_crlf_or_the_end_and_long_ones_are_skipped_whole() {
        assert_eq!(
            lines_of(b"a\r\nbb\n\nc"),
            vec![
                Some(b"a".to_vec()),
                Some(b"bb".to_vec()),
                Some(Vec::new()),
                Some(b"c".to_vec())
            ]
        );
        let mut long = vec![b'x'; MAX_LINE_BYTES + 1];
        long.extend_from_slice(b"\nafter\n");
        assert_eq!(lines_of(&long), vec![None, Some(b"after".to_vec())]);
        let mut exact = vec![b'y'; MAX_LINE_BYTES];
        exact.push(b'\n');
        assert_eq!(lines_of(&exact), vec![Some(vec![b'y'; MAX_LINE_BYTES])]);
        assert!(lines_of(b"").is_empty());
    }
}
