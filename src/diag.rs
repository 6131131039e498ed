//! Source-located diagnostics shared by the manifest and validate stages.
//!
//! A [`Problem`] is one error (or warning) with a code, a message, a labelled
//! span in the manifest and a hint. [`Problems`] collects every problem of a
//! file so they are reported at once; at the edge (`cli`) miette renders them
//! with file:line:col and the offending snippet.

use miette::{Diagnostic, LabeledSpan, NamedSource, Severity, SourceCode};
use std::fmt;
use std::sync::Arc;

/// A byte range in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        (s.offset, s.len).into()
    }
}

/// The manifest text with its file name.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: Arc<str>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    fn named(&self) -> NamedSource<String> {
        NamedSource::new(self.name.clone(), self.text.to_string())
    }
}

/// One diagnostic.
#[derive(Debug, Clone)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
    pub span: Span,
    pub label: String,
    pub help: Option<String>,
    pub warning: bool,
    /// Other places worth pointing at (e.g. the first of two duplicates).
    pub related: Vec<(Span, String)>,
    /// False for problems that have no place in the file (a bad `--set`).
    pub located: bool,
}

impl Problem {
    pub fn new(code: &'static str, message: impl Into<String>, span: Span) -> Self {
        Self {
            code,
            message: message.into(),
            span,
            label: String::from("here"),
            help: None,
            warning: false,
            related: Vec::new(),
            located: true,
        }
    }

    /// A problem with no position in the manifest.
    pub fn unlocated(mut self) -> Self {
        self.located = false;
        self
    }

    pub fn label(mut self, l: impl Into<String>) -> Self {
        self.label = l.into();
        self
    }

    pub fn help(mut self, h: impl Into<String>) -> Self {
        self.help = Some(h.into());
        self
    }

    pub fn maybe_help(mut self, h: Option<String>) -> Self {
        if h.is_some() {
            self.help = h;
        }
        self
    }

    pub fn also(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    pub fn warning(mut self) -> Self {
        self.warning = true;
        self
    }
}

/// Every problem found in one manifest.
#[derive(Debug, Clone)]
pub struct Problems {
    pub source: Source,
    pub items: Vec<Problem>,
}

impl Problems {
    pub fn new(source: Source) -> Self {
        Self {
            source,
            items: Vec::new(),
        }
    }

    pub fn push(&mut self, p: Problem) {
        self.items.push(p);
    }

    pub fn errors(&self) -> usize {
        self.items.iter().filter(|p| !p.warning).count()
    }

    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }

    /// Sort by position so reports read top to bottom; stable for equal spans.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|p| (p.span.offset, p.warning));
    }

    /// Render every problem as miette does on a terminal, with or without colour.
    pub fn render(&self, color: bool, width: usize) -> String {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme)
            .with_width(width)
            .with_links(false);
        let mut out = String::new();
        for p in &self.items {
            if self.too_wide(p) {
                out.push_str(&self.short_line(p));
                continue;
            }
            let d = Rendered {
                problem: p,
                source: self.source.named(),
            };
            let _ = handler.render_report(&mut out, &d);
        }
        let errors = self.errors();
        let warnings = self.items.len() - errors;
        out.push_str(&format!(
            "{}: {} error{}{}\n",
            self.source.name,
            errors,
            if errors == 1 { "" } else { "s" },
            if warnings > 0 {
                format!(
                    ", {warnings} warning{}",
                    if warnings == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        ));
        out
    }

    /// One line per problem: `file:line:col: error[code]: message (hint)`,
    /// for logs and editors.
    pub fn render_short(&self) -> String {
        self.items.iter().map(|p| self.short_line(p)).collect()
    }

    /// `file:line:col: error[code]: message (help: ...)`.
    fn short_line(&self, p: &Problem) -> String {
        let (l, c) = self.source.line_col(p.span.offset);
        let at = if p.located {
            format!(":{l}:{c}")
        } else {
            String::new()
        };
        format!(
            "{}{at}: {}[{}]: {}{}\n",
            self.source.name,
            if p.warning { "warning" } else { "error" },
            p.code,
            p.message.replace('\n', " "),
            p.help
                .as_ref()
                .map(|h| format!(" (help: {h})"))
                .unwrap_or_default()
        )
    }

    /// Whether a place of `p` sits on a line too long to draw (miette's
    /// padding overflows past 65,535 columns, and such a snippet helps no
    /// one): such a problem is rendered in the short form.
    fn too_wide(&self, p: &Problem) -> bool {
        let text = &*self.source.text;
        let spans = std::iter::once(&p.span).chain(p.related.iter().map(|(s, _)| s));
        spans.into_iter().any(|s| {
            let at = floor_char_boundary(text, s.offset);
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            end - start > MAX_DRAWN_LINE
        })
    }
}

/// The largest char boundary of `s` at or below `i` (`str::floor_char_boundary`
/// is newer than this crate's MSRV).
pub(crate) fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The longest line (in bytes) drawn in a graphical snippet.
const MAX_DRAWN_LINE: usize = 4096;

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error(s) in {}", self.errors(), self.source.name)
    }
}

impl std::error::Error for Problems {}

struct Rendered<'a> {
    problem: &'a Problem,
    source: NamedSource<String>,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for Rendered<'_> {}

impl Diagnostic for Rendered<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!("mastflow::{}", self.problem.code)))
    }

    fn severity(&self) -> Option<Severity> {
        Some(if self.problem.warning {
            Severity::Warning
        } else {
            Severity::Error
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.problem
            .help
            .as_ref()
            .map(|h| Box::new(h.clone()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.problem
            .located
            .then_some(&self.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if !self.problem.located {
            return None;
        }
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(self.problem.label.clone()),
            self.problem.span,
        )];
        for (span, label) in &self.problem.related {
            labels.push(LabeledSpan::new_with_span(Some(label.clone()), *span));
        }
        Some(Box::new(labels.into_iter()))
    }
}

/// Render a plain message (no source) through miette's handler, for errors
/// raised at run time that have a step span.
pub fn render_at(source: &Source, problem: &Problem, color: bool) -> String {
    let p = Problems {
        source: source.clone(),
        items: vec![problem.clone()],
    };
    let s = p.render(color, 100);
    // Drop the trailing summary line.
    s.rsplit_once('\n')
        .map(|(a, _)| a)
        .unwrap_or(&s)
        .rsplit_once('\n')
        .map_or(s.clone(), |(a, _)| format!("{a}\n"))
}
