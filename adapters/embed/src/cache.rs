//! Embeddings kept on disk, so a restart does not embed the whole catalog again: with
//! E5-small an FAQ text costs tens of milliseconds, and a catalog of thousands would keep a
//! restarted engine keyword-only for minutes.
//!
//! One file per model id holds a header (magic, model id, dimensions) and then records of
//! (side, SHA-256 of the text, vector), appended as texts are embedded. A file written for
//! another model is started afresh; a record cut short by a crash is dropped at the next
//! open. Writes are not synced: a lost tail is only embedded again.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use switchboard_engine::ports::{EmbedError, Embedder};

const MAGIC: &[u8; 8] = b"SBVECS01";
/// Side (1 byte), SHA-256 (32), dimensions (4); the values follow.
const RECORD_HEAD: usize = 37;

/// Which side of a match a text was embedded for (models such as E5 embed them differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Question = 0,
    Document = 1,
}

type Key = (Side, [u8; 32]);
type Vectors = HashMap<Key, Vec<f32>>;

/// An [`Embedder`] that remembers the vectors of the catalog (FAQ texts and learned
/// paraphrases), in memory and in a file; live questions are not kept.
pub struct CachedEmbedder<E> {
    inner: E,
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    vectors: Vectors,
    /// `None` when the file could not be used: the vectors then last as long as the process.
    file: Option<File>,
}

impl<E> std::fmt::Debug for CachedEmbedder<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedEmbedder").field("path", &self.path).finish_non_exhaustive()
    }
}

impl<E: Embedder> CachedEmbedder<E> {
    /// Opens (or creates) the cache for `inner`'s model in `dir`, loading what it holds.
    /// When the file cannot be used, says so and keeps vectors in memory only.
    pub fn open(inner: E, dir: &Path) -> Self {
        let path = dir.join(file_name(inner.model_id()));
        let (vectors, file) = match open_file(&path, &header(inner.model_id())) {
            Ok((vectors, file)) => {
                tracing::info!(path = %path.display(), vectors = vectors.len(), "vector cache opened");
                (vectors, Some(file))
            }
            Err(e) => {
                tracing::warn!(
                    path = %path.display(), error = %e,
                    "vector cache unusable: FAQ vectors are not kept across restarts (check the data directory)"
                );
                (HashMap::new(), None)
            }
        };
        Self { inner, path, state: Mutex::new(State { vectors, file }) }
    }

    /// Whether vectors outlive the process (the cache file could be opened).
    pub fn is_persistent(&self) -> bool {
        self.state.lock().is_ok_and(|s| s.file.is_some())
    }

    /// How many vectors the cache holds.
    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.vectors.len())
    }

    /// Whether the cache holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn cached(
        &self,
        side: Side,
        texts: &[&str],
        compute: impl FnOnce(&[&str]) -> Result<Vec<Vec<f32>>, EmbedError>,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let keys: Vec<Key> = texts.iter().map(|t| (side, Sha256::digest(t.as_bytes()).into())).collect();
        let poisoned = || EmbedError("the vector cache lock is poisoned".into());
        let mut found: Vec<Option<Vec<f32>>> = {
            let state = self.state.lock().map_err(|_| poisoned())?;
            keys.iter().map(|k| state.vectors.get(k).cloned()).collect()
        };
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| found[i].is_none()).collect();
        if !missing.is_empty() {
            // Embedding runs outside the lock; two threads racing on a text both embed it
            // and the second record is a harmless duplicate.
            let computed = compute(&missing.iter().map(|&i| texts[i]).collect::<Vec<_>>())?;
            if computed.len() != missing.len() {
                return Err(EmbedError(format!("{} vectors for {} texts", computed.len(), missing.len())));
            }
            let mut state = self.state.lock().map_err(|_| poisoned())?;
            let mut records = Vec::new();
            for (&i, vector) in missing.iter().zip(computed) {
                record(&mut records, &keys[i], &vector);
                state.vectors.insert(keys[i], vector.clone());
                found[i] = Some(vector);
            }
            if let Some(Err(e)) = state.file.as_mut().map(|f| f.write_all(&records)) {
                tracing::warn!(path = %self.path.display(), error = %e, "vector cache not written; vectors stay in memory");
            }
        }
        Ok(found.into_iter().flatten().collect())
    }
}

impl<E: Embedder> Embedder for CachedEmbedder<E> {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    /// Live questions pass straight through: each is asked once or twice, and keeping them
    /// all would grow the file without bound.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.inner.embed(texts)
    }

    fn embed_learned(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.cached(Side::Question, texts, |missing| self.inner.embed(missing))
    }

    fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.cached(Side::Document, texts, |missing| self.inner.embed_documents(missing))
    }
}

/// The cache file's name: the model id with anything but letters, digits, `-` and `.`
/// replaced, so every model has its own file.
fn file_name(model_id: &str) -> String {
    let safe: String =
        model_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    format!("{safe}.vectors")
}

fn header(model_id: &str) -> Vec<u8> {
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(&u32::try_from(model_id.len()).unwrap_or(u32::MAX).to_le_bytes());
    header.extend_from_slice(model_id.as_bytes());
    header
}

fn record(out: &mut Vec<u8>, (side, digest): &Key, vector: &[f32]) {
    out.push(*side as u8);
    out.extend_from_slice(digest);
    out.extend_from_slice(&u32::try_from(vector.len()).unwrap_or(u32::MAX).to_le_bytes());
    for x in vector {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// The file with its vectors loaded, its cut-short tail dropped, positioned to append; a
/// file written for another model is emptied and started with `header`.
fn open_file(path: &Path, header: &[u8]) -> std::io::Result<(Vectors, File)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    let vectors = match load(&mut file, header)? {
        Some((vectors, valid_len)) => {
            file.set_len(valid_len)?;
            vectors
        }
        None => {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(header)?;
            HashMap::new()
        }
    };
    file.seek(SeekFrom::End(0))?;
    Ok((vectors, file))
}

/// The vectors of a file written for this header and the length of its whole records;
/// `None` when the file is empty or was written for another model.
fn load(file: &mut File, header: &[u8]) -> std::io::Result<Option<(Vectors, u64)>> {
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    BufReader::new(&mut *file).read_to_end(&mut bytes)?;
    if !bytes.starts_with(header) {
        return Ok(None);
    }
    let mut vectors = HashMap::new();
    let mut at = header.len();
    while let Some(fixed) = bytes.get(at..at + RECORD_HEAD) {
        let side = match fixed[0] {
            0 => Side::Question,
            1 => Side::Document,
            _ => break,
        };
        let digest: [u8; 32] = fixed[1..33].try_into().unwrap_or([0; 32]);
        let dims = u32::from_le_bytes(fixed[33..RECORD_HEAD].try_into().unwrap_or([0; 4])) as usize;
        let Some(values) = bytes.get(at + RECORD_HEAD..at + RECORD_HEAD + dims * 4) else { break };
        let vector = values.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        vectors.insert((side, digest), vector);
        at += RECORD_HEAD + dims * 4;
    }
    Ok(Some((vectors, at as u64)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// Vectors from the text's bytes, a different one per side, counting every text embedded.
    struct Counting {
        id: &'static str,
        calls: Arc<AtomicUsize>,
    }

    impl Counting {
        fn vector(text: &str, side: f32) -> Vec<f32> {
            vec![text.len() as f32, side, f32::from(text.bytes().next().unwrap_or(0))]
        }
    }

    impl Embedder for Counting {
        fn model_id(&self) -> &str {
            self.id
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.calls.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts.iter().map(|t| Self::vector(t, 0.0)).collect())
        }
        fn embed_documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.calls.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts.iter().map(|t| Self::vector(t, 1.0)).collect())
        }
    }

    fn counting(id: &'static str) -> (Counting, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        (Counting { id, calls: calls.clone() }, calls)
    }

    #[test]
    fn a_reopened_cache_embeds_nothing_it_has_seen_and_keeps_the_sides_apart() {
        let dir = tempfile::tempdir().unwrap();
        let (model, calls) = counting("m1");
        let cache = CachedEmbedder::open(model, dir.path());
        let first = cache.embed_documents(&["活动开始时间", "stock"]).unwrap();
        assert_eq!(
            cache.embed_learned(&["stock"]).unwrap(),
            vec![Counting::vector("stock", 0.0)],
            "a learned question is its own side"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        drop(cache);

        let (model, calls) = counting("m1");
        let cache = CachedEmbedder::open(model, dir.path());
        assert_eq!(cache.len(), 3);
        let mixed = cache.embed_documents(&["stock", "new", "活动开始时间"]).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "only the new text is embedded");
        assert_eq!(mixed, vec![first[1].clone(), Counting::vector("new", 1.0), first[0].clone()], "in order");
    }

    #[test]
    fn another_model_gets_its_own_file_and_a_foreign_file_is_started_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let (model, _) = counting("m1");
        CachedEmbedder::open(model, dir.path()).embed_learned(&["a"]).unwrap();
        let (model, calls) = counting("m2/other");
        let other = CachedEmbedder::open(model, dir.path());
        assert!(other.is_empty());
        other.embed_learned(&["a"]).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(dir.path().join("m2_other.vectors").is_file());

        std::fs::write(dir.path().join("m1.vectors"), b"not a cache").unwrap();
        let (model, _) = counting("m1");
        assert!(CachedEmbedder::open(model, dir.path()).is_empty());
    }

    #[test]
    fn an_unusable_directory_keeps_vectors_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("a-file");
        std::fs::write(&blocked, b"").unwrap();
        let (model, calls) = counting("m1");
        let cache = CachedEmbedder::open(model, &blocked);
        assert!(!cache.is_persistent());
        cache.embed_learned(&["a"]).unwrap();
        cache.embed_learned(&["a"]).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_record_cut_short_is_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (model, _) = counting("m1");
        let cache = CachedEmbedder::open(model, dir.path());
        cache.embed_learned(&["one", "two"]).unwrap();
        drop(cache);
        let path = dir.path().join("m1.vectors");
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 5).unwrap();

        let (model, calls) = counting("m1");
        let cache = CachedEmbedder::open(model, dir.path());
        assert_eq!(cache.len(), 1);
        cache.embed_learned(&["one", "two", "three"]).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "the cut record and the new text");
        drop(cache);
        let (model, calls) = counting("m1");
        let cache = CachedEmbedder::open(model, dir.path());
        assert_eq!((cache.len(), calls.load(Ordering::SeqCst)), (3, 0), "records after the cut read back");
    }

    #[test]
    fn live_questions_pass_through_without_being_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (model, calls) = counting("m1");
        let cache = CachedEmbedder::open(model, dir.path());
        let learned = cache.embed_learned(&["how do I refund"]).unwrap();
        let file_len = || std::fs::metadata(dir.path().join("m1.vectors")).unwrap().len();
        let kept = file_len();
        assert_eq!(cache.embed(&["how do I refund", "a one-off question"]).unwrap()[0], learned[0]);
        cache.embed(&["a one-off question"]).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 4, "every live question is embedded afresh");
        assert_eq!((cache.len(), file_len()), (1, kept), "and none is kept");
    }
}
