//! Sentence embeddings in process: a multilingual model run through ONNX Runtime (`ort`,
//! with the runtime library loaded at start-up from a path, never downloaded) and its
//! tokenizer (HuggingFace `tokenizers`).
//!
//! The model files come from `ops/setup.sh`, which prepares two models from registry
//! packages; `model.json` beside each names its inputs, its id and the instructions put
//! before texts:
//!
//! - [`E5_MODEL`], the default: multilingual E5-small (4-bit weights, MIT), which takes the
//!   ids of one text and returns a 384-dimensional vector. Questions are embedded with
//!   `"query: "`; FAQ texts with `"query: "` and with `"passage: "`, the two averaged into
//!   one vector.
//! - [`USE_MODEL`]: Universal Sentence Encoder Multilingual v3 (int8, Apache-2.0), faster
//!   and less accurate. `model.onnx` takes the token ids of a batch concatenated
//!   (`int32[n_tokens]`) and the row offsets (`int64[batch + 1]`) and returns one
//!   L2-normalised 512-dimensional vector per text. It quantises activations per batch, so a
//!   text embedded in different batches differs slightly.
//!
//! [`OrtEmbedder`] embeds one text per run, which makes every vector reproducible (and the
//! same whatever number of threads runs it).

mod cache;

pub use cache::CachedEmbedder;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;
use switchboard_engine::ports::{EmbedError, Embedder};
use tokenizers::Tokenizer;

/// What `ops/prepare_model.py` or `ops/prepare_e5.py` writes beside the model.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// The model's id (recorded with matches).
    pub id: String,
    /// Length of the vector one run of the model gives.
    pub dimensions: usize,
    /// Input names.
    pub inputs: ManifestInputs,
    /// Output name.
    pub output: String,
    /// Put before every question before it is tokenized (models trained with
    /// instructions, such as E5's `"query: "`, embed well only with them).
    #[serde(default)]
    pub query_prefix: String,
    /// Put before every text questions are matched against, one embedding per prefix
    /// (E5: `"passage: "`, or both `"query: "` and `"passage: "`); the query prefix when
    /// empty. With several, a text's vector is the mean of its views, so a similarity is the
    /// mean of the views' similarities.
    #[serde(default)]
    pub passage_prefixes: Vec<String>,
}

/// The model's input names.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestInputs {
    /// Token ids of the batch, concatenated.
    pub tokens: String,
    /// Row offsets into the tokens, for models that take a batch as one ragged tensor;
    /// absent when the model takes the ids of one text alone.
    #[serde(default)]
    pub offsets: Option<String>,
}

/// Where the model and the runtime library are.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    /// The folder with `model.onnx`, `tokenizer.json` and `model.json`.
    pub model_dir: PathBuf,
    /// The ONNX Runtime shared library (`libonnxruntime.so.*`).
    pub runtime_library: PathBuf,
}

/// Why the model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file is missing.
    #[error("{0} is missing: run ops/setup.sh (it installs the model), or point model_dir / ORT_DYLIB_PATH at it")]
    Missing(PathBuf),
    /// A file cannot be read or parsed.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// ONNX Runtime refused the library or the model.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
}

/// The embedder over two ONNX Runtime sessions of the model: one for questions, which a
/// person waits for, and one for FAQ texts, so embedding a catalog never holds a question up.
pub struct OrtEmbedder {
    questions: Mutex<Session>,
    documents: Mutex<Session>,
    tokenizer: Tokenizer,
    manifest: Manifest,
}

impl std::fmt::Debug for OrtEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtEmbedder").field("model", &self.manifest.id).finish_non_exhaustive()
    }
}

fn runtime(e: impl std::fmt::Display) -> LoadError {
    LoadError::Runtime(e.to_string())
}

/// ONNX Runtime allows one environment per process: the first embedder loads the library
/// and makes it, later ones share it.
fn environment(library: &Path) -> Result<&'static Environment, LoadError> {
    static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
    static LOADING: Mutex<()> = Mutex::new(());
    let _guard = LOADING.lock().map_err(|_| LoadError::Runtime("environment lock poisoned".into()))?;
    if let Some(environment) = ENVIRONMENT.get() {
        return Ok(environment);
    }
    let environment = ort::init_from(library).map_err(runtime)?.build().map_err(runtime)?;
    Ok(ENVIRONMENT.get_or_init(|| environment))
}

fn existing(path: PathBuf) -> Result<PathBuf, LoadError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(LoadError::Missing(path))
    }
}

impl OrtEmbedder {
    /// Loads the runtime library (once per process), the model and the tokenizer.
    pub fn open(paths: &ModelPaths) -> Result<Self, LoadError> {
        let library = existing(paths.runtime_library.clone())?;
        let model = existing(paths.model_dir.join("model.onnx"))?;
        let tokenizer_path = existing(paths.model_dir.join("tokenizer.json"))?;
        let manifest_path = existing(paths.model_dir.join("model.json"))?;
        let unreadable = |path: &Path, reason: String| LoadError::Unreadable { path: path.to_owned(), reason };
        let manifest: Manifest = serde_json::from_slice(
            &std::fs::read(&manifest_path).map_err(|e| unreadable(&manifest_path, e.to_string()))?,
        )
        .map_err(|e| unreadable(&manifest_path, e.to_string()))?;
        let tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| unreadable(&tokenizer_path, e.to_string()))?;
        let environment = environment(&library)?;
        // A question runs on every core (up to four; its vector is bitwise the same as on
        // one), an FAQ text on one, leaving the others to questions and the engine. Threads
        // do not spin between runs: on a small machine that would take the engine's cores.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let session = |threads: usize| -> Result<Session, LoadError> {
            Session::builder(environment)
                .map_err(runtime)?
                .with_intra_threads(threads)
                .map_err(runtime)?
                .with_intra_op_spinning(false)
                .map_err(runtime)?
                .commit_from_file(&model)
                .map_err(runtime)
        };
        let (questions, documents) = (session(cores)?, session(1)?);
        tracing::info!(model = %manifest.id, question_threads = cores, "semantic model loaded");
        Ok(Self { questions: Mutex::new(questions), documents: Mutex::new(documents), tokenizer, manifest })
    }

    /// The manifest (model id, dimensions).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn embed_one(&self, session: &Mutex<Session>, prefix: &str, text: &str) -> Result<Vec<f32>, EmbedError> {
        let encoding = match prefix {
            "" => self.tokenizer.encode(text, true),
            prefix => self.tokenizer.encode(format!("{prefix}{text}"), true),
        }
        .map_err(|e| EmbedError(e.to_string()))?;
        let ids: Vec<i32> = encoding.get_ids().iter().map(|&id| i32::try_from(id).unwrap_or(0)).collect();
        let count = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let error = |e: ort::Error| EmbedError(e.to_string());
        let mut inputs = vec![(
            self.manifest.inputs.tokens.as_str(),
            Tensor::from_array(([ids.len()], ids)).map_err(error)?.into_dyn(),
        )];
        if let Some(name) = &self.manifest.inputs.offsets {
            inputs.push((name.as_str(), Tensor::from_array(([2usize], vec![0, count])).map_err(error)?.into_dyn()));
        }
        let mut session = session.lock().map_err(|_| EmbedError("the model session is poisoned".into()))?;
        let outputs = session.run(inputs).map_err(error)?;
        let (_, values) = outputs[self.manifest.output.as_str()].try_extract_tensor::<f32>().map_err(error)?;
        if values.len() != self.manifest.dimensions {
            return Err(EmbedError(format!(
                "the model returned {} values, not {}",
                values.len(),
                self.manifest.dimensions
            )));
        }
        Ok(values.to_vec())
    }
}

impl Embedder for OrtEmbedder {
    fn model_id(&self) -> &str {
        &self.manifest.id
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        texts.iter().map(|text| self.embed_one(&self.questions, &self.manifest.query_prefix, text)).collect()
    }

    fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let query_prefix = std::slice::from_ref(&self.manifest.query_prefix);
        let prefixes = match self.manifest.passage_prefixes.as_slice() {
            [] => query_prefix,
            prefixes => prefixes,
        };
        texts
            .iter()
            .map(|text| {
                let views = prefixes.iter().map(|prefix| self.embed_one(&self.documents, prefix, text));
                Ok(averaged(views.collect::<Result<Vec<_>, _>>()?))
            })
            .collect()
    }
}

/// The mean of a text's views: its dot product with a question's vector is the mean of the
/// views' similarities, in one vector as long as a view (half the scan of keeping both).
fn averaged(views: Vec<Vec<f32>>) -> Vec<f32> {
    let scale = 1.0 / views.len().max(1) as f32;
    let mut views = views.into_iter();
    let mut mean = views.next().unwrap_or_default();
    for view in views {
        for (m, x) in mean.iter_mut().zip(view) {
            *m += x;
        }
    }
    mean.iter_mut().for_each(|m| *m *= scale);
    mean
}

/// Cosine similarity of two unit vectors (their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl ModelPaths {
    /// Where `ops/setup.sh` installs the default model and the runtime, unless
    /// `SWITCHBOARD_MODEL_DIR` and `ORT_DYLIB_PATH` say otherwise (the binary reads its
    /// configuration instead).
    pub fn installed() -> Self {
        let model_dir = std::env::var_os("SWITCHBOARD_MODEL_DIR")
            .map_or_else(|| setup_cache().join("model").join(DEFAULT_MODEL), PathBuf::from);
        let runtime_library = std::env::var_os("ORT_DYLIB_PATH")
            .map_or_else(|| setup_cache().join("onnxruntime").join(RUNTIME_LIBRARY), PathBuf::from);
        Self { model_dir, runtime_library }
    }

    /// One of the models `ops/setup.sh` installs, by its folder name ([`E5_MODEL`],
    /// [`USE_MODEL`]), with the installed runtime.
    pub fn setup_model(folder: &str) -> Self {
        Self { model_dir: setup_cache().join("model").join(folder), ..Self::installed() }
    }
}

/// Where `ops/setup.sh` puts what it installs.
fn setup_cache() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".cache/switchboard")
}

/// The folder name of the model Switchboard uses unless `matching.model_dir` says otherwise.
pub const DEFAULT_MODEL: &str = E5_MODEL;
/// The folder name of multilingual E5-small as `ops/setup.sh` installs it: the default, for
/// its matches (lcqmc end-to-end accuracy 0.80, stackfaq P@1 0.87 on the dev sets).
pub const E5_MODEL: &str = "e5-small";
/// The folder name of Universal Sentence Encoder Multilingual v3 as `ops/setup.sh`
/// installs it: the fast alternative (a question in a little over half of E5's time, FAQ
/// texts indexed about thirty times as fast), with weaker matches.
pub const USE_MODEL: &str = "use-m3";
/// The ONNX Runtime library file `ops/setup.sh` installs.
pub const RUNTIME_LIBRARY: &str = "libonnxruntime.so.1.31.1";
