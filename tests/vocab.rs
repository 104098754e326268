//! Vocabulary file: parsing every form and every error, resolving against real GloVe packs.

use hark::vocab::glove::{pack_text, GloveStore, PackOptions, RowFormat};
use hark::vocab::{check, VocabErrorKind, VocabErrors, VocabFile};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_store() -> GloveStore {
    GloveStore::open(root().join("models/glove/glove-6b-50d.hgv")).unwrap()
}

fn tiny_store() -> (tempfile::TempDir, GloveStore) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.hgv");
    let options = PackOptions {
        format: RowFormat::F16,
        identity: None,
    };
    pack_text(
        &root().join("tests/fixtures/glove/tiny.txt"),
        &out,
        &options,
    )
    .unwrap();
    let store = GloveStore::open(&out).unwrap();
    (dir, store)
}

fn parse(text: &str) -> Result<VocabFile, VocabErrors> {
    VocabFile::parse(text, Path::new("vocab.txt"))
}

fn errors(text: &str) -> VocabErrors {
    parse(text).unwrap_err()
}

fn lines_of(errs: &VocabErrors) -> Vec<Option<usize>> {
    errs.errors().iter().map(|e| e.line).collect()
}

#[test]
fn design_example_parses() {
    let text = "jazz\nhip hop\nchill = chillout mellow relaxing\nmetal @0.45\n";
    let file = parse(text).unwrap();
    let tags = file.tags();
    assert_eq!(tags.len(), 4);
    assert_eq!((tags[0].line, tags[0].label.as_str()), (1, "jazz"));
    assert_eq!(tags[0].words, vec!["jazz"]);
    assert_eq!(tags[1].label, "hip hop");
    assert_eq!(tags[1].words, vec!["hip", "hop"]);
    assert_eq!(tags[2].label, "chill");
    assert_eq!(tags[2].words, vec!["chillout", "mellow", "relaxing"]);
    assert_eq!(tags[2].threshold, None);
    assert_eq!(tags[3].threshold, Some(0.45));
    assert_eq!(tags[3].words, vec!["metal"]);
    assert_eq!(file.identity().len(), 12);
}

#[test]
fn forgiving_forms() {
    let text = "\u{feff}# header comment\r\n\
                \r\n\
                   Jazz   Fusion  # trailing comment\r\n\
                chill=Chillout,mellow , relaxing\n\
                metal @ 0.3\n\
                Easy Listening = easy listening @-0.1\n";
    let file = parse(text).unwrap();
    let tags = file.tags();
    assert_eq!(tags.len(), 4);
    assert_eq!((tags[0].line, tags[0].label.as_str()), (3, "Jazz Fusion"));
    assert_eq!(tags[0].words, vec!["jazz", "fusion"]);
    assert_eq!(tags[1].words, vec!["chillout", "mellow", "relaxing"]);
    assert_eq!(tags[2].threshold, Some(0.3));
    assert_eq!(tags[3].label, "Easy Listening");
    assert_eq!(tags[3].threshold, Some(-0.1));
}

#[test]
fn every_parse_error_names_its_line_and_all_are_reported() {
    let long = format!("{}\n", "x".repeat(1200));
    let text = format!(
        "jazz\n\
         chill =\n\
         metal @abc\n\
         rock @1.5\n\
         jazz\n\
         Jazz\n\
         pop = a = b\n\
         = mellow\n\
         funk @0.3 extra\n\
         soul @0.1 @0.2\n\
         @0.4\n\
         {long}\
         blues\n"
    );
    let errs = errors(&text);
    assert_eq!(
        lines_of(&errs),
        (2..=12).map(Some).collect::<Vec<_>>(),
        "{errs}"
    );
    let kinds: Vec<&VocabErrorKind> = errs.errors().iter().map(|e| &e.kind).collect();
    assert!(matches!(kinds[0], VocabErrorKind::EmptyDefinition { label } if label == "chill"));
    assert!(matches!(kinds[1], VocabErrorKind::BadThreshold { text } if text == "@abc"));
    assert!(matches!(kinds[2], VocabErrorKind::ThresholdOutOfRange { value } if *value == 1.5));
    assert!(matches!(
        kinds[3],
        VocabErrorKind::DuplicateLabel { first_line: 1, .. }
    ));
    assert!(matches!(
        kinds[4],
        VocabErrorKind::CaseConflict { label, other, first_line: 1 } if label == "Jazz" && other == "jazz"
    ));
    assert!(matches!(kinds[5], VocabErrorKind::MultipleEquals));
    assert!(matches!(kinds[6], VocabErrorKind::EmptyLabel { .. }));
    assert!(matches!(kinds[7], VocabErrorKind::MisplacedThreshold));
    assert!(matches!(kinds[8], VocabErrorKind::MultipleThresholds));
    assert!(matches!(kinds[9], VocabErrorKind::EmptyLabel { .. }));
    assert!(matches!(
        kinds[10],
        VocabErrorKind::LineTooLong { len: 1200, .. }
    ));
    let shown = errs.to_string();
    let first_lines: Vec<&str> = shown.lines().collect();
    assert_eq!(first_lines.len(), 11);
    assert_eq!(
        first_lines[0],
        "vocab.txt:2: \"chill =\" defines the tag with no words; list words after '=' or drop the '='"
    );
    assert_eq!(
        first_lines[3],
        "vocab.txt:5: tag \"jazz\" is already defined on line 1"
    );
}

#[test]
fn non_finite_thresholds_are_refused_naming_the_line() {
    let errs = errors("jazz\nrock @nan\nfunk @inf\nsoul @-inf\npop @1e40\n");
    assert_eq!(
        lines_of(&errs),
        vec![Some(2), Some(3), Some(4), Some(5)],
        "{errs}"
    );
    for e in errs.errors() {
        assert!(
            matches!(e.kind, VocabErrorKind::BadThreshold { .. }),
            "{e}: {:?}",
            e.kind
        );
    }
    let shown = errs.to_string();
    assert!(
        shown.starts_with("vocab.txt:2: threshold \"@nan\""),
        "{shown}"
    );
}

#[test]
fn non_utf8_lines_are_errors_of_their_own() {
    let bytes = b"jazz\nro\xffck\nblues\n\xfe\n";
    let errs = VocabFile::parse_bytes(bytes, Path::new("v.txt")).unwrap_err();
    assert_eq!(lines_of(&errs), vec![Some(2), Some(4)]);
    assert!(errs
        .to_string()
        .starts_with("v.txt:2: the line is not valid UTF-8"));
    let (partial, _) = VocabFile::parse_partial(bytes, Path::new("v.txt"));
    assert_eq!(partial.tags().len(), 2);
}

#[test]
fn empty_file_is_an_error() {
    let errs = errors("# nothing here\n\n   \n");
    assert_eq!(lines_of(&errs), vec![None]);
    assert_eq!(
        errs.to_string(),
        "vocab.txt: no tags defined (only blank lines and comments)"
    );
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let errs = VocabFile::load(Path::new("/nonexistent/vocab.txt")).unwrap_err();
    assert!(errs
        .to_string()
        .starts_with("/nonexistent/vocab.txt: cannot read the file"));
}

#[test]
fn resolve_averages_words_and_names_unknown_ones() {
    let (_dir, store) = tiny_store();
    let file = parse("Jazz\nhip hop\nchill = chillout mellow relaxing @0.2\n").unwrap();
    let vocab = file.resolve(&store).unwrap();
    assert_eq!(vocab.len(), 3);
    assert_eq!(vocab.dim(), 8);
    assert_eq!(vocab.glove_identity(), "tiny");
    assert_eq!(vocab.identity(), file.identity());
    let tags = vocab.tags();
    assert_eq!(tags[0].vector, store.vector("jazz").unwrap());
    assert_eq!(tags[1].vector, store.phrase("hip hop").unwrap());
    let c = store.vector("chillout").unwrap();
    let m = store.vector("mellow").unwrap();
    let r = store.vector("relaxing").unwrap();
    for i in 0..8 {
        assert!((tags[2].vector[i] - (c[i] + m[i] + r[i]) / 3.0).abs() < 1e-6);
    }
    assert_eq!((tags[2].line, tags[2].threshold), (3, Some(0.2)));

    let file = parse("jazz\njazzz\nbebop = jazzz bebop jazzz\n").unwrap();
    let errs = file.resolve(&store).unwrap_err();
    let shown = errs.to_string();
    assert_eq!(
        shown.lines().collect::<Vec<_>>(),
        vec![
            "vocab.txt:2: \"jazzz\" is not in tiny; did you mean: jazz, jazzy, jaz?",
            "vocab.txt:3: \"jazzz\" is not in tiny; did you mean: jazz, jazzy, jaz?",
            "vocab.txt:3: \"bebop\" is not in tiny; no similar word found",
        ]
    );
}

#[test]
fn identity_changes_with_the_text() {
    let a = parse("jazz\n").unwrap();
    let b = parse("jazz\n").unwrap();
    let c = parse("jazz\nblues\n").unwrap();
    assert_eq!(a.identity(), b.identity());
    assert_ne!(a.identity(), c.identity());
    assert!(a.identity().chars().all(|ch| ch.is_ascii_hexdigit()));
}

#[test]
fn shipped_vocabulary_resolves_against_shipped_glove() {
    let store = shipped_store();
    let path: PathBuf = root().join("models/vocabulary.txt");
    let vocab = VocabFile::load(&path).unwrap().resolve(&store).unwrap();
    assert!(
        (90..=130).contains(&vocab.len()),
        "{} tags; the example should hold about 100",
        vocab.len()
    );
    for t in vocab.tags() {
        assert_eq!(t.vector.len(), 50);
        assert!(t.vector.iter().any(|v| *v != 0.0), "{}", t.label);
    }
    let labels: Vec<&str> = vocab.tags().iter().map(|t| t.label.as_str()).collect();
    for want in [
        "jazz", "shoegaze", "hip hop", "chill", "metal", "piano", "eighties",
    ] {
        assert!(labels.contains(&want), "{want} missing");
    }
}

#[test]
fn check_report_lists_tags_and_errors() {
    let store = shipped_store();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.txt");
    std::fs::write(
        &path,
        "jazz\nchill = chillout mellow @0.3\njazzz\nmetal @2\n",
    )
    .unwrap();
    let report = check(&path, &store);
    assert!(!report.is_ok());
    assert_eq!(report.vocab.len(), 2);
    let lines: Vec<Option<usize>> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![Some(3), Some(4)]);
    let shown = report.to_string();
    assert!(
        shown.contains("    2  chill  = chillout + mellow  @0.3"),
        "{shown}"
    );
    assert!(report.errors[0].to_string().contains("did you mean: jazz"));

    std::fs::write(&path, "jazz\nhip hop\n").unwrap();
    let report = check(&path, &store);
    assert!(report.is_ok());
    assert!(report
        .to_string()
        .contains("2 tags resolved against glove-6b-50d (50d)"));
}

#[test]
fn cli_vocab_check_exit_status_follows_errors() {
    let glove = root().join("models/glove/glove-6b-50d.hgv");
    let check = |file: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
            .args(["vocab", "check"])
            .arg(file)
            .arg("--glove")
            .arg(&glove)
            .output()
            .unwrap()
    };
    let good = check(&root().join("models/vocabulary.txt"));
    assert!(good.status.success(), "{good:?}");
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(stdout.contains("chill") && stdout.contains("= chillout + mellow + relaxing"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.txt");
    std::fs::write(&path, "jazz\nshoegazer wave\nchill =\n").unwrap();
    let bad = check(&path);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("bad.txt:2: \"shoegazer\" is not in glove-6b-50d; did you mean: shoegaze"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.txt:3: \"chill =\" defines the tag with no words"),
        "{stderr}"
    );
}
