//! The model contract end to end: export seeded weights with the pure-Rust exporter, load
//! them through tract, compare with the plain-Rust reference, and check that a model.toml
//! that disagrees with its ONNX files is refused with an error naming the file and field.

use hark::frontend::FrontendParams;
use hark::model::export::{
    self, export_model_dir, random_model_dir, same_padding, AudioWeights, Conv1dWeights,
    LinearWeights, AUDIO_HIDDEN,
};
use hark::model::reference::{audio_forward, word_forward};
use hark::model::{Model, ModelError, ModelFiles, ModelManifest, MANIFEST_FILE};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::Path;
use tract_onnx::pb;

const TOLERANCE: f32 = 1e-4;

fn manifest(d: usize, g: usize, frontend: FrontendParams) -> ModelManifest {
    ModelManifest {
        name: "test-model".into(),
        version: "1.2.3".into(),
        description: "UNTRAINED test model with seeded random weights".into(),
        embedding_dim: d,
        glove_dim: g,
        glove: "glove-6b-50d".into(),
        score_threshold: 0.4,
        frontend,
        calibration: None,
        files: ModelFiles::default(),
        training: BTreeMap::new(),
    }
}

/// He-uniform weights plus non-zero biases, so the bias path is exercised too.
fn seeded_weights(seed: u64, n_mels: usize, d: usize, g: usize) -> (AudioWeights, LinearWeights) {
    seeded_weights_wide(seed, n_mels, AUDIO_HIDDEN, d, g)
}

/// [`seeded_weights`] with `hidden` channels between the audio convolutions.
fn seeded_weights_wide(
    seed: u64,
    n_mels: usize,
    hidden: usize,
    d: usize,
    g: usize,
) -> (AudioWeights, LinearWeights) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xb1a5);
    let mut audio = AudioWeights::he_uniform(seed, n_mels, hidden, d);
    for conv in &mut audio.convs {
        conv.bias
            .iter_mut()
            .for_each(|b| *b = rng.random_range(-0.1..0.1));
    }
    let mut word = LinearWeights::he_uniform(seed + 1, g, d);
    word.bias
        .iter_mut()
        .for_each(|b| *b = rng.random_range(-0.1..0.1));
    (audio, word)
}

fn random_values(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-2.0..2.0)).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn export_seeded(
    dir: &Path,
    seed: u64,
    d: usize,
    g: usize,
) -> (ModelManifest, AudioWeights, LinearWeights) {
    let m = manifest(d, g, FrontendParams::default());
    let (audio, word) = seeded_weights(seed, m.frontend.n_mels, d, g);
    export_model_dir(dir, &m, &audio, &word).unwrap();
    (m, audio, word)
}

#[test]
fn audio_branch_matches_reference_for_batches_1_3_9_16_and_70() {
    let dir = tempfile::tempdir().unwrap();
    let (m, weights, _) = export_seeded(dir.path(), 7, 100, 50);
    let model = Model::load(dir.path()).unwrap();
    let (frames, mels, d) = (m.frontend.window_frames, m.frontend.n_mels, m.embedding_dim);
    assert_eq!(model.audio.dim(), d);
    assert_eq!(
        (model.audio.window_frames(), model.audio.n_mels()),
        (frames, mels)
    );
    // 9, 16 and 70 cross the internal chunk size (9 leaves a single-window chunk, which runs
    // on the batch-1 plan), so chunking is checked as well.
    for (i, &n) in [1usize, 3, 9, 16, 70].iter().enumerate() {
        let windows = random_values(100 + i as u64, n * frames * mels);
        let got = model.audio.embed(&windows, n).unwrap();
        assert_eq!(got.len(), n * d);
        let mut worst = 0.0f32;
        for w in 0..n {
            let want = audio_forward(
                &weights,
                &windows[w * frames * mels..(w + 1) * frames * mels],
                frames,
                mels,
            )
            .unwrap();
            assert!(
                want.iter().any(|v| v.abs() > 1e-3),
                "reference output is all zero"
            );
            worst = worst.max(max_abs_diff(&got[w * d..(w + 1) * d], &want));
        }
        println!("audio batch {n}: max |tract - reference| = {worst:e}");
        assert!(
            worst <= TOLERANCE,
            "batch {n}: max abs diff {worst} > {TOLERANCE}"
        );
    }
}

#[test]
fn word_branch_matches_reference_for_batches_1_3_16_and_300() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _, weights) = export_seeded(dir.path(), 11, 100, 300);
    let model = Model::load(dir.path()).unwrap();
    let (g, d) = (m.glove_dim, m.embedding_dim);
    assert_eq!((model.word.glove_dim(), model.word.dim()), (g, d));
    for (i, &n) in [1usize, 3, 16, 300].iter().enumerate() {
        let vectors = random_values(200 + i as u64, n * g);
        let got = model.word.embed(&vectors, n).unwrap();
        assert_eq!(got.len(), n * d);
        let mut worst = 0.0f32;
        for v in 0..n {
            let want = word_forward(&weights, &vectors[v * g..(v + 1) * g]).unwrap();
            worst = worst.max(max_abs_diff(&got[v * d..(v + 1) * d], &want));
        }
        println!("word batch {n}: max |tract - reference| = {worst:e}");
        assert!(
            worst <= TOLERANCE,
            "batch {n}: max abs diff {worst} > {TOLERANCE}"
        );
    }
}

/// tract's audio embeddings of `n` seeded random windows equal the plain-Rust reference's.
fn assert_audio_matches_reference(model: &Model, audio: &AudioWeights, seed: u64, n: usize) {
    let (frames, mels) = (model.audio.window_frames(), model.audio.n_mels());
    let windows = random_values(seed, n * frames * mels);
    let got = model.audio.embed(&windows, n).unwrap();
    let want: Vec<f32> = windows
        .chunks(frames * mels)
        .flat_map(|w| audio_forward(audio, w, frames, mels).unwrap())
        .collect();
    assert!(max_abs_diff(&got, &want) <= TOLERANCE);
}

#[test]
fn a_wider_encoder_loads_with_no_other_change() {
    // The daemon reads widths from the ONNX files: a 192-channel encoder needs no setting.
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(100, 50, FrontendParams::default());
    let (audio, word) = seeded_weights_wide(9, m.frontend.n_mels, 192, 100, 50);
    assert_eq!(audio.hidden_channels(), 192);
    export_model_dir(dir.path(), &m, &audio, &word).unwrap();
    let model = Model::load(dir.path()).unwrap();
    assert_audio_matches_reference(&model, &audio, 10, 3);
}

#[test]
fn other_sizes_work_too() {
    let dir = tempfile::tempdir().unwrap();
    let (m, audio, word) = export_seeded(dir.path(), 3, 32, 50);
    let model = Model::load(dir.path()).unwrap();
    assert_eq!(model.audio.dim(), m.embedding_dim);
    assert_audio_matches_reference(&model, &audio, 5, 2);
    let vectors = random_values(6, 50);
    let got = model.word.embed(&vectors, 1).unwrap();
    assert!(max_abs_diff(&got, &word_forward(&word, &vectors).unwrap()) <= TOLERANCE);
}

/// Hand-checkable weights: one channel everywhere, conv 1 a single tap, the rest identity.
/// An impulse at frame `p` survives to the output iff tap `j` of conv 1 (with the PyTorch /
/// Keras 'same' padding: one zero on the left for k = 4) moves it into the first 128 frames
/// (the floor max-pools drop frames 128 and 129 of 130).
#[test]
fn same_padding_and_floor_pooling_follow_pytorch_and_keras() {
    assert_eq!(same_padding(4), (1, 2));
    assert_eq!(same_padding(2), (0, 1));
    assert_eq!(same_padding(1), (0, 0));
    assert_eq!(export::pooled_frames(130), 1);

    let conv = |kernel: usize, tap: usize| Conv1dWeights {
        out_channels: 1,
        in_channels: 1,
        kernel,
        weight: (0..kernel)
            .map(|k| if k == tap { 1.0 } else { 0.0 })
            .collect(),
        bias: vec![0.0],
    };
    let frontend = FrontendParams {
        n_mels: 1,
        window_frames: 130,
        ..FrontendParams::default()
    };
    let m = manifest(1, 1, frontend);
    let word = LinearWeights {
        in_features: 1,
        out_features: 1,
        weight: vec![2.0],
        bias: vec![0.5],
    };
    for tap in 0..4 {
        let audio = AudioWeights {
            convs: vec![conv(4, tap), conv(4, 1), conv(4, 1), conv(2, 0), conv(1, 0)],
        };
        let dir = tempfile::tempdir().unwrap();
        export_model_dir(dir.path(), &m, &audio, &word).unwrap();
        let model = Model::load(dir.path()).unwrap();
        for p in [0usize, 1, 2, 125, 126, 127, 128, 129] {
            let mut window = vec![0.0f32; 130];
            window[p] = 1.0;
            let shifted = p as isize - tap as isize + 1;
            let expected = if (0..128).contains(&shifted) {
                1.0
            } else {
                0.0
            };
            let reference = audio_forward(&audio, &window, 130, 1).unwrap();
            let tract = model.audio.embed(&window, 1).unwrap();
            assert_eq!(
                reference,
                vec![expected],
                "reference, tap {tap}, impulse at {p}"
            );
            assert!(
                (tract[0] - expected).abs() < 1e-6,
                "tract, tap {tap}, impulse at {p}: {tract:?}"
            );
        }
        assert_eq!(model.word.embed(&[3.0], 1).unwrap(), vec![6.5]);
    }
}

#[test]
fn parameter_count_of_the_d100_model_matches_the_formula_and_the_onnx_files() {
    let dir = tempfile::tempdir().unwrap();
    let (m, audio, word) = export_seeded(dir.path(), 1, 100, 300);
    let (mels, h, d, g) = (128, 128, 100, 300);
    let audio_formula = (h * mels * 4 + h) + 2 * (h * h * 4 + h) + (h * h * 2 + h) + (d * h + d);
    let word_formula = g * d + d;
    assert_eq!(audio_formula, 242_788);
    assert_eq!(audio.parameter_count(), audio_formula);
    assert_eq!(word.parameter_count(), word_formula);
    let count_initializers = |file: &str| -> usize {
        let bytes = std::fs::read(dir.path().join(file)).unwrap();
        let proto = pb::ModelProto::decode(bytes.as_slice()).unwrap();
        proto
            .graph
            .unwrap()
            .initializer
            .iter()
            .map(|t| t.dims.iter().product::<i64>() as usize)
            .sum()
    };
    assert_eq!(count_initializers(&m.files.audio), audio_formula);
    assert_eq!(count_initializers(&m.files.word), word_formula);
    println!(
        "D=100 model: audio {audio_formula} parameters ({:.3} M), word (G=300) {word_formula}, total {}",
        audio_formula as f64 / 1e6,
        audio_formula + word_formula
    );
}

#[test]
fn identity_names_model_and_hashes_the_onnx_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    random_model_dir(a.path(), 1, "quick", "glove-6b-50d", 50, 100).unwrap();
    let m = random_model_dir(b.path(), 2, "quick", "glove-6b-50d", 50, 100).unwrap();
    assert!(m.description.contains("UNTRAINED"), "{}", m.description);
    let ida = Model::load(a.path()).unwrap().identity();
    let idb = Model::load(b.path()).unwrap().identity();
    let (prefix, hash) = ida.split_once('+').unwrap();
    assert_eq!(prefix, "quick@0.0.0-untrained");
    assert_eq!(hash.len(), 12);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(ida, idb, "different weights must give different identities");
    assert_eq!(
        Model::load(a.path()).unwrap().identity(),
        ida,
        "identity must be stable"
    );
}

#[test]
fn manifest_round_trips_through_toml() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = manifest(
        100,
        50,
        FrontendParams {
            mean: 0.25,
            std: 1.5,
            ..Default::default()
        },
    );
    m.training.insert("epochs".into(), toml::Value::Integer(40));
    m.training
        .insert("val_auc".into(), toml::Value::Float(0.81));
    let path = dir.path().join(MANIFEST_FILE);
    m.save(&path).unwrap();
    assert_eq!(ModelManifest::load(&path).unwrap(), m);
}

#[test]
fn embed_checks_lengths_and_accepts_empty_batches() {
    let dir = tempfile::tempdir().unwrap();
    random_model_dir(dir.path(), 4, "quick", "glove-6b-50d", 50, 100).unwrap();
    let model = Model::load(dir.path()).unwrap();
    assert!(model.audio.embed(&[], 0).unwrap().is_empty());
    assert!(model.word.embed(&[], 0).unwrap().is_empty());
    let err = model.word.embed(&[0.0; 49], 1).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::InputLength {
                found: 49,
                n: 1,
                per_item: 50,
                ..
            }
        ),
        "{err}"
    );
    let err = model.audio.embed(&[0.0; 130 * 128], 2).unwrap_err();
    assert!(matches!(err, ModelError::InputLength { .. }), "{err}");
    assert!(err.to_string().contains("33280 expected"), "{err}");
}

#[test]
fn model_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
}

/// Writes a model, lets `edit` change its manifest, and returns what `Model::load` says.
fn load_with_edited_manifest(
    edit: impl FnOnce(&mut ModelManifest),
) -> (tempfile::TempDir, ModelError) {
    let dir = tempfile::tempdir().unwrap();
    let mut m = random_model_dir(dir.path(), 9, "quick", "glove-6b-50d", 50, 100).unwrap();
    edit(&mut m);
    m.save(&dir.path().join(MANIFEST_FILE)).unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    (dir, err)
}

#[test]
fn wrong_embedding_dim_names_the_audio_file_and_field() {
    let (dir, err) = load_with_edited_manifest(|m| m.embedding_dim = 64);
    let text = err.to_string();
    println!("{text}");
    assert!(
        matches!(
            err,
            ModelError::ShapeMismatch {
                field: "embedding_dim",
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.starts_with(&dir.path().join("audio.onnx").display().to_string()),
        "{text}"
    );
    assert!(
        text.contains("output `embedding` has 100 columns but model.toml embedding_dim = 64"),
        "{text}"
    );
}

#[test]
fn wrong_glove_dim_names_the_word_file_and_field() {
    let (dir, err) = load_with_edited_manifest(|m| m.glove_dim = 300);
    let text = err.to_string();
    println!("{text}");
    assert!(
        matches!(
            err,
            ModelError::ShapeMismatch {
                field: "glove_dim",
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.starts_with(&dir.path().join("word.onnx").display().to_string()),
        "{text}"
    );
    assert!(
        text.contains("50 columns but model.toml glove_dim = 300"),
        "{text}"
    );
}

#[test]
fn wrong_window_frames_and_mels_name_the_frontend_fields() {
    let (_dir, err) = load_with_edited_manifest(|m| m.frontend.window_frames = 128);
    let text = err.to_string();
    println!("{text}");
    assert!(
        matches!(
            err,
            ModelError::ShapeMismatch {
                field: "frontend.window_frames",
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("audio.onnx") && text.contains("130 frames"),
        "{text}"
    );

    let (_dir, err) = load_with_edited_manifest(|m| m.frontend.n_mels = 96);
    let text = err.to_string();
    println!("{text}");
    assert!(
        matches!(
            err,
            ModelError::ShapeMismatch {
                field: "frontend.n_mels",
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("audio.onnx") && text.contains("128 mel bands"),
        "{text}"
    );
}

#[test]
fn missing_onnx_file_names_it_and_the_manifest_field() {
    let dir = tempfile::tempdir().unwrap();
    random_model_dir(dir.path(), 9, "quick", "glove-6b-50d", 50, 100).unwrap();
    std::fs::remove_file(dir.path().join("word.onnx")).unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    let text = err.to_string();
    println!("{text}");
    assert!(
        matches!(
            err,
            ModelError::MissingFile {
                field: "files.word",
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("word.onnx") && text.contains("files.word"),
        "{text}"
    );

    let (_dir, err) = load_with_edited_manifest(|m| m.files.audio = "encoder.onnx".into());
    assert!(
        matches!(
            err,
            ModelError::MissingFile {
                field: "files.audio",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("encoder.onnx"), "{err}");
}

#[test]
fn malformed_toml_names_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    random_model_dir(dir.path(), 9, "quick", "glove-6b-50d", 50, 100).unwrap();
    let path = dir.path().join(MANIFEST_FILE);
    let good = std::fs::read_to_string(&path).unwrap();

    let line = good
        .lines()
        .position(|l| l.starts_with("embedding_dim"))
        .unwrap()
        + 1;
    std::fs::write(
        &path,
        good.replace("embedding_dim = 100", "embedding_dim = \"a hundred\""),
    )
    .unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    let text = err.to_string();
    println!("{text}");
    assert!(
        matches!(err, ModelError::Toml { line: l, .. } if l == line),
        "{text}"
    );
    assert!(
        text.starts_with(&format!("{}:{line}:", path.display())),
        "{text}"
    );

    std::fs::write(&path, good.replace("glove_dim = 50\n", "")).unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    println!("{err}");
    assert!(matches!(err, ModelError::Toml { .. }), "{err}");
    assert!(err.to_string().contains("glove_dim"), "{err}");

    std::fs::write(
        &path,
        good.replace("glove_dim = 50", "glove_dim = 50\nembeding_size = 3"),
    )
    .unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    println!("{err}");
    assert!(err.to_string().contains("embeding_size"), "{err}");

    std::fs::write(&path, "name = [unclosed").unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    println!("{err}");
    assert!(matches!(err, ModelError::Toml { line: 1, .. }), "{err}");

    std::fs::write(
        &path,
        good.lines()
            .map(|l| {
                if l.starts_with("score_threshold") {
                    "score_threshold = 3.0"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    println!("{err}");
    assert!(
        matches!(
            err,
            ModelError::Manifest {
                field: "score_threshold",
                ..
            }
        ),
        "{err}"
    );

    // A calibration must fit the embedding and shift by a share in [0, 1].
    let with_calibration = |shift: &str, values: usize| {
        let mean = vec!["0.1"; values].join(", ");
        format!("{good}\n[calibration]\nword_shift = {shift}\ntrack_mean = [{mean}]\n")
    };
    let d = 100; // the embedding_dim of `good`
    for (text, field) in [
        (with_calibration("0.25", d - 1), "calibration.track_mean"),
        (with_calibration("1.5", d), "calibration.word_shift"),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = Model::load(dir.path()).unwrap_err();
        println!("{err}");
        assert!(
            matches!(err, ModelError::Manifest { field: f, .. } if f == field),
            "{err}"
        );
    }
    std::fs::write(&path, with_calibration("0.25", d)).unwrap();
    let model = Model::load(dir.path()).expect("a calibration that fits");
    assert_eq!(model.manifest.calibration.map(|c| c.word_shift), Some(0.25));
}

#[test]
fn garbage_onnx_bytes_give_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    random_model_dir(dir.path(), 9, "quick", "glove-6b-50d", 50, 100).unwrap();
    let audio = dir.path().join("audio.onnx");
    let good = std::fs::read(&audio).unwrap();
    let garbage: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("text", b"this is not an onnx file\n".to_vec()),
        (
            "random",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("tail", good[good.len() / 3..].to_vec()),
    ];
    for (what, bytes) in garbage {
        std::fs::write(&audio, &bytes).unwrap();
        let err = Model::load(dir.path()).unwrap_err();
        let text = err.to_string();
        println!("{what}: {text}");
        assert!(
            text.starts_with(&audio.display().to_string()),
            "{what}: {text}"
        );
        assert!(
            matches!(err, ModelError::Onnx { .. } | ModelError::Contract { .. }),
            "{what}: {text}"
        );
    }
}

/// Rewrites an exported ONNX file through `edit` on its protobuf.
fn edit_onnx(path: &Path, edit: impl FnOnce(&mut pb::GraphProto)) {
    let bytes = std::fs::read(path).unwrap();
    let mut proto = pb::ModelProto::decode(bytes.as_slice()).unwrap();
    edit(proto.graph.as_mut().unwrap());
    std::fs::write(path, proto.encode_to_vec()).unwrap();
}

#[test]
fn wrong_tensor_names_break_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    random_model_dir(dir.path(), 9, "quick", "glove-6b-50d", 50, 100).unwrap();
    let word = dir.path().join("word.onnx");
    edit_onnx(&word, |g| {
        g.input[0].name = "x".into();
        g.node[0].input[0] = "x".into();
    });
    let err = Model::load(dir.path()).unwrap_err();
    println!("{err}");
    assert!(matches!(err, ModelError::Contract { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("input is named `x`; the contract wants `word`"),
        "{err}"
    );
}

/// A file with a fixed batch of 4 still works for any n: chunks are zero-padded.
#[test]
fn fixed_batch_onnx_files_are_padded_to_their_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _, weights) = export_seeded(dir.path(), 13, 100, 50);
    let fix = |v: &mut pb::ValueInfoProto| {
        let Some(pb::type_proto::Value::TensorType(t)) = v.r#type.as_mut().unwrap().value.as_mut()
        else {
            panic!("not a tensor type")
        };
        t.shape.as_mut().unwrap().dim[0].value =
            Some(pb::tensor_shape_proto::dimension::Value::DimValue(4));
    };
    edit_onnx(&dir.path().join("word.onnx"), |g| {
        fix(&mut g.input[0]);
        fix(&mut g.output[0]);
    });
    let model = Model::load(dir.path()).unwrap();
    let g = m.glove_dim;
    for n in [1usize, 3, 4, 9] {
        let vectors = random_values(300 + n as u64, n * g);
        let got = model.word.embed(&vectors, n).unwrap();
        let want: Vec<f32> = vectors
            .chunks(g)
            .flat_map(|v| word_forward(&weights, v).unwrap())
            .collect();
        assert!(max_abs_diff(&got, &want) <= TOLERANCE, "n = {n}");
    }
}

#[test]
fn exporter_refuses_weights_that_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(100, 50, FrontendParams::default());
    let (audio, word) = seeded_weights(1, 128, 100, 50);

    let mut bad = audio.clone();
    bad.convs.pop();
    let err = export_model_dir(dir.path(), &m, &bad, &word).unwrap_err();
    assert!(
        err.to_string()
            .contains("4 conv layers given, the architecture has 5"),
        "{err}"
    );

    let mut bad = audio.clone();
    bad.convs[2].weight.pop();
    let err = export_model_dir(dir.path(), &m, &bad, &word).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("audio conv 3: weight has 65535 values"),
        "{err}"
    );

    let mut bad = audio.clone();
    bad.convs[1].bias[5] = f32::NAN;
    let err = export_model_dir(dir.path(), &m, &bad, &word).unwrap_err();
    assert!(err.to_string().contains("bias[5] is NaN"), "{err}");

    let err = export_model_dir(
        dir.path(),
        &manifest(64, 50, FrontendParams::default()),
        &audio,
        &word,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("model.toml embedding_dim = 64"),
        "{err}"
    );

    let err = export_model_dir(
        dir.path(),
        &manifest(100, 300, FrontendParams::default()),
        &audio,
        &word,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("model.toml glove_dim = 300"),
        "{err}"
    );

    let short = FrontendParams {
        window_frames: 100,
        ..FrontendParams::default()
    };
    let err = export_model_dir(dir.path(), &manifest(100, 50, short), &audio, &word).unwrap_err();
    assert!(err.to_string().contains("window_frames = 100"), "{err}");

    assert!(
        !dir.path().join(MANIFEST_FILE).exists(),
        "nothing may be written on error"
    );
}

/// Rewrites the `key = …` line of a saved model.toml and returns what `Model::load` says.
fn load_with_edited_line(key: &str, value: &str) -> (std::path::PathBuf, ModelError) {
    let dir = tempfile::tempdir().unwrap();
    random_model_dir(dir.path(), 9, "quick", "glove-6b-50d", 50, 100).unwrap();
    let path = dir.path().join(MANIFEST_FILE);
    let good = std::fs::read_to_string(&path).unwrap();
    let prefix = format!("{key} = ");
    assert!(good.lines().any(|l| l.starts_with(&prefix)), "{good}");
    let edited: String = good
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                format!("{prefix}{value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&path, edited).unwrap();
    let err = Model::load(dir.path()).unwrap_err();
    (path, err)
}

#[test]
fn impossible_frontend_is_refused_at_load_naming_the_file_and_key() {
    for (key, value, field) in [
        // Upper mel edge above Nyquist (22 050 Hz / 2).
        ("f_max", "20000.0", "frontend.f_max"),
        ("n_fft", "0", "frontend.n_fft"),
        ("std", "0.0", "frontend.std"),
        ("hop_length", "0", "frontend.hop_length"),
        ("sample_rate", "0", "frontend.sample_rate"),
        ("mean", "nan", "frontend.mean"),
    ] {
        let (path, err) = load_with_edited_line(key, value);
        let text = err.to_string();
        println!("{text}");
        assert!(
            matches!(err, ModelError::Manifest { field: f, .. } if f == field),
            "{key} = {value}: {text}"
        );
        assert!(
            text.starts_with(&format!("{}: field `{field}`", path.display())),
            "{text}"
        );
    }
}

/// One random edit of a good model.toml.
#[derive(Debug, Clone)]
enum TomlEdit {
    /// Replace the value of line `n` (modulo the line count) with this text.
    Value(usize, String),
    /// Insert this text at byte `n` (moved back to a character boundary).
    Insert(usize, String),
    /// Delete line `n`.
    DeleteLine(usize),
    /// Cut the text at byte `n`.
    Truncate(usize),
}

fn toml_edit() -> impl proptest::strategy::Strategy<Value = TomlEdit> {
    use proptest::prelude::*;
    let value = prop_oneof![
        prop::sample::select(vec![
            "0",
            "-1",
            "1",
            "2",
            "nan",
            "-nan",
            "inf",
            "-inf",
            "1e39",
            "-0.0",
            "1e-45",
            "18446744073709551616",
            "4294967296",
            "9223372036854775807",
            "\"x\"",
            "[]",
            "{}",
            "true",
            "11025.0",
            "11025.5",
            "22050",
            "1024000",
            "\"audio.onnx\"",
            "\"../x\"",
            "\"/etc/passwd\"",
            "\"\"",
        ])
        .prop_map(str::to_string),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        "(?s).{0,8}",
    ];
    prop_oneof![
        (any::<usize>(), value).prop_map(|(n, v)| TomlEdit::Value(n, v)),
        (any::<usize>(), "(?s).{0,8}").prop_map(|(n, v)| TomlEdit::Insert(n, v)),
        any::<usize>().prop_map(TomlEdit::DeleteLine),
        any::<usize>().prop_map(TomlEdit::Truncate),
    ]
}

fn apply_edit(text: &str, edit: &TomlEdit) -> String {
    let boundary = |n: usize| {
        let mut at = n % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let lines: Vec<&str> = text.lines().collect();
    match edit {
        TomlEdit::Value(n, value) if !lines.is_empty() => {
            let i = n % lines.len();
            lines
                .iter()
                .enumerate()
                .map(|(j, l)| match l.split_once('=') {
                    Some((key, _)) if j == i => format!("{key}= {value}\n"),
                    _ => format!("{l}\n"),
                })
                .collect()
        }
        TomlEdit::DeleteLine(n) if !lines.is_empty() => {
            let i = n % lines.len();
            lines
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, l)| format!("{l}\n"))
                .collect()
        }
        TomlEdit::Insert(n, insert) => {
            let at = boundary(*n);
            format!("{}{insert}{}", &text[..at], &text[at..])
        }
        TomlEdit::Truncate(n) => text[..boundary(*n)].to_string(),
        _ => text.to_string(),
    }
}

/// What must hold for any model.toml text: loading returns (never panics), and a manifest
/// that loads has a front-end that builds and runs on audio.
fn check_manifest_text(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    if let Ok(m) = ModelManifest::load(path) {
        m.validate(path).unwrap();
        let mut mel = hark::frontend::MelFrontend::new(&m.frontend).unwrap();
        let mut frames = Vec::new();
        mel.push(
            &vec![0.25; m.frontend.n_fft + m.frontend.hop_length],
            &mut frames,
        );
        assert!(frames.len() >= m.frontend.n_mels, "{text}");
        assert!(frames.iter().all(|v| v.is_finite()), "{text}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: 512,
        failure_persistence: None,
        ..Default::default()
    })]

    #[test]
    fn mutated_model_toml_never_panics(edits in proptest::collection::vec(toml_edit(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let good = toml::to_string_pretty(&manifest(100, 50, FrontendParams::default())).unwrap();
        let text = edits.iter().fold(good, |t, e| apply_edit(&t, e));
        check_manifest_text(&path, &text);
    }

    #[test]
    fn arbitrary_text_as_model_toml_never_panics(text in "(?s).{0,200}") {
        let dir = tempfile::tempdir().unwrap();
        check_manifest_text(&dir.path().join(MANIFEST_FILE), &text);
    }
}

fn hidden_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn a_staged_export_changes_nothing_until_committed() {
    let root = tempfile::tempdir().unwrap();
    let m = manifest(100, 50, FrontendParams::default());
    let (audio, word) = seeded_weights(1, 128, 100, 50);

    // Dropped (a check failed): no model where there was none, nothing left beside it.
    let fresh = root.path().join("fresh");
    let staged = export::stage_model_dir(&fresh, &m, &audio, &word).unwrap();
    assert!(
        Model::load(staged.path()).is_ok(),
        "the staged copy is complete"
    );
    assert!(!fresh.exists());
    drop(staged);
    assert!(!fresh.exists());
    assert!(Model::load(&fresh).is_err());
    assert!(hidden_entries(root.path()).is_empty());

    // Over an older model: dropped leaves it; committed replaces it and keeps its card.
    let dir = root.path().join("model");
    export_model_dir(&dir, &m, &audio, &word).unwrap();
    std::fs::write(dir.join("MODEL_CARD.md"), "# card").unwrap();
    let old = Model::load(&dir).unwrap().identity();
    let (audio2, word2) = seeded_weights(2, 128, 100, 50);
    drop(export::stage_model_dir(&dir, &m, &audio2, &word2).unwrap());
    assert_eq!(Model::load(&dir).unwrap().identity(), old);
    export::stage_model_dir(&dir, &m, &audio2, &word2)
        .unwrap()
        .commit()
        .unwrap();
    assert_ne!(Model::load(&dir).unwrap().identity(), old);
    assert_eq!(
        std::fs::read_to_string(dir.join("MODEL_CARD.md")).unwrap(),
        "# card"
    );
    assert!(hidden_entries(root.path()).is_empty());
    assert!(hidden_entries(&dir).is_empty(), "no temporary files inside");
}

#[test]
fn reference_parity_catches_files_that_are_not_these_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (_, audio, word) = export_seeded(dir.path(), 3, 100, 50);
    export::check_reference_parity(dir.path(), &audio, &word).unwrap();
    let (other_audio, other_word) = seeded_weights(4, 128, 100, 50);
    let err = export::check_reference_parity(dir.path(), &other_audio, &word).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::Parity {
                branch: "audio",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("audio.onnx"), "{err}");
    let err = export::check_reference_parity(dir.path(), &audio, &other_word).unwrap_err();
    assert!(
        matches!(err, ModelError::Parity { branch: "word", .. }),
        "{err}"
    );
}
