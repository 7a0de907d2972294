#![allow(clippy::unwrap_used)]
//! The matcher contract against the keyword index and the hybrid matcher (with the model
//! ops/setup.sh installs; it fails without it).

mod keyword {
    use std::sync::Arc;

    use switchboard_engine::ports::Matcher;
    use switchboard_search::KeywordMatcher;

    async fn fresh() -> Arc<dyn Matcher> {
        Arc::new(KeywordMatcher::new())
    }

    switchboard_testkit::matcher_contract!(fresh());
}

mod hybrid {
    use std::sync::Arc;

    use switchboard_embed::{ModelPaths, OrtEmbedder};
    use switchboard_engine::ports::Matcher;
    use switchboard_search::{Fusion, HybridMatcher, SemanticMatcher};

    async fn fresh() -> Arc<dyn Matcher> {
        let embedder = OrtEmbedder::open(&ModelPaths::installed()).unwrap_or_else(|e| panic!("model required: {e}"));
        Arc::new(HybridMatcher::new(SemanticMatcher::new(Arc::new(embedder)), Fusion::default()))
    }

    switchboard_testkit::matcher_contract!(fresh());
}

/// Meilisearch cannot be installed on the development machine: its contract runs when
/// `MEILI_URL` (and `MEILI_API_KEY` if the server needs one) points at a server, and says
/// so when it does not.
mod meilisearch {
    use std::sync::Arc;

    use switchboard_engine::ports::Matcher;
    use switchboard_search::MeiliMatcher;

    async fn fresh() -> Option<Arc<dyn Matcher>> {
        let Ok(url) = std::env::var("MEILI_URL") else {
            eprintln!("MEILI_URL is not set: the Meilisearch matcher contract is not run (see docs/answering.md)");
            return None;
        };
        let key = std::env::var("MEILI_API_KEY").ok();
        Some(Arc::new(MeiliMatcher::new(&url, key.as_deref(), "switchboard_test").unwrap()))
    }

    switchboard_testkit::matcher_contract!(fresh());
}
