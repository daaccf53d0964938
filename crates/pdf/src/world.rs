//! The smallest typst world: one main source (the template), one JSON data file, the
//! fonts embedded in typst-assets, and a fixed date.

use crate::PdfError;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;
use std::sync::LazyLock;
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Duration, Smart};
use typst::layout::{Frame, FrameItem};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, Timestamp};

const TEMPLATE: &str = include_str!("document.typ");

struct Shared {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    main: FileId,
    data: FileId,
    source: Source,
}

/// Built once per process: parsing the fonts and the template is the slow part.
static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let fonts: Vec<Font> = typst_assets::fonts()
        .flat_map(|data| Font::iter(Bytes::new(data)))
        .collect();
    let book = FontBook::from_fonts(&fonts);
    let id = |p: &str| {
        RootedPath::new(
            VirtualRoot::Project,
            VirtualPath::new(p).expect("a valid virtual path"),
        )
        .intern()
    };
    let main = id("/document.typ");
    Shared {
        library: LazyHash::new(Library::default()),
        book: LazyHash::new(book),
        fonts,
        main,
        data: id("/data.json"),
        source: Source::new(main, TEMPLATE.to_string()),
    }
});

struct DocWorld {
    shared: &'static Shared,
    data: Bytes,
    today: Datetime,
}

impl World for DocWorld {
    fn library(&self) -> &LazyHash<Library> {
        &self.shared.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.shared.book
    }

    fn main(&self) -> FileId {
        self.shared.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.shared.main {
            Ok(self.shared.source.clone())
        } else {
            Err(FileError::NotSource)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.shared.data {
            Ok(self.data.clone())
        } else if id == self.shared.main {
            Ok(Bytes::from_string(self.shared.source.clone()))
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.shared.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        Some(self.today)
    }
}

fn datetime(at: DateTime<Utc>) -> Result<Datetime, PdfError> {
    Datetime::from_ymd_hms(
        at.year(),
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        at.second() as u8,
    )
    .ok_or_else(|| PdfError::Invalid {
        field: "date",
        message: format!("{at} cannot be a PDF date"),
    })
}

fn messages(diags: &[SourceDiagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn compile<T: Serialize>(view: &T, at: DateTime<Utc>) -> Result<PagedDocument, PdfError> {
    let data = serde_json::to_vec(view).map_err(|e| PdfError::Typst(e.to_string()))?;
    let world = DocWorld {
        shared: &SHARED,
        data: Bytes::new(data),
        today: datetime(at)?,
    };
    let warned = typst::compile::<PagedDocument>(&world);
    let out = warned.output.map_err(|e| PdfError::Typst(messages(&e)));
    // Memoized results of other documents are of no use to the next one: keep the cache
    // small instead of growing with every document rendered.
    typst::comemo::evict(10);
    let doc = out?;
    if !warned.warnings.is_empty() {
        return Err(PdfError::Typst(format!(
            "warnings: {}",
            messages(&warned.warnings)
        )));
    }
    Ok(doc)
}

pub fn render<T: Serialize>(view: &T, at: DateTime<Utc>, ident: &str) -> Result<Vec<u8>, PdfError> {
    let doc = compile(view, at)?;
    let options = PdfOptions {
        ident: Smart::Custom(ident.to_string()),
        creator: Smart::Custom(Some("Ledgerdesk".to_string())),
        timestamp: Some(Timestamp::new_utc(datetime(at)?)),
        ..PdfOptions::default()
    };
    typst_pdf::pdf(&doc, &options).map_err(|e| PdfError::Typst(messages(&e)))
}

fn walk(frame: &Frame, out: &mut String, complete: &mut bool) {
    for (_, item) in frame.items() {
        match item {
            FrameItem::Group(g) => walk(&g.frame, out, complete),
            FrameItem::Text(t) => {
                if t.glyphs.iter().any(|g| g.id == 0) {
                    *complete = false;
                }
                out.push_str(&t.text);
                out.push(' ');
            }
            _ => {}
        }
    }
}

pub fn text<T: Serialize>(view: &T, at: DateTime<Utc>) -> Result<(String, bool), PdfError> {
    let doc = compile(view, at)?;
    let mut out = String::new();
    let mut complete = true;
    for page in doc.pages() {
        walk(&page.frame, &mut out, &mut complete);
        out.push('\n');
    }
    Ok((out, complete))
}
